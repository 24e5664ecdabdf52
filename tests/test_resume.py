"""Resume after a crash: a fit killed with SIGKILL and resumed ends where an uninterrupted fit ends."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# Tiny deterministic fit on real data: 400 images, batch 40, 2 epochs of 10 steps,
# a checkpoint every 3 steps, the LR finder over 20 steps, and 2 test batches.
FIT_ARGS = [
    "fit",
    "--model.width", "0.125",
    "--data.train_subset", "400",
    "--data.batch_size", "40",
    "--data.num_workers", "0",
    "--trainer.max_epochs", "2",
    "--trainer.deterministic", "true",
    "--trainer.limit_val_batches", "2",
    "--trainer.limit_test_batches", "2",
    "--trainer.enable_progress_bar", "false",
    "--checkpoint_every_n_steps", "3",
    "--lr_find.num_training", "20",
    "--lr_find.skip_begin", "5",
    "--analysis.num_images", "2",
]


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    env.pop("LITCIFAR_RUN_DIR", None)
    return env


def _fit(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "litcifar", *FIT_ARGS, *extra],
        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600, check=False,
    )


def _only_run_folder(runs_dir: Path) -> Path:
    folders = [path for path in runs_dir.iterdir() if path.is_dir()]
    assert len(folders) == 1, f"expected one run folder in {runs_dir}, found {folders}"
    return folders[0]


def _kill_during_fit(cwd: Path, runs_dir: Path, delay_s: float, *extra: str) -> int:
    """Start a fit, SIGKILL it `delay_s` seconds after its first checkpoint appears; return the checkpoint's step."""
    process = subprocess.Popen(
        [sys.executable, "-m", "litcifar", *FIT_ARGS, "--runs_dir", str(runs_dir), *extra],
        cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list(runs_dir.glob("*/checkpoints/last.ckpt")):
        assert process.poll() is None, "the fit ended before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.05)
    time.sleep(delay_s)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    checkpoint = torch.load(next(runs_dir.glob("*/checkpoints/last.ckpt")), weights_only=True)
    return int(checkpoint["global_step"])


@pytest.fixture(scope="module")
def uninterrupted(cifar, tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    result = _fit(cwd, "--runs_dir", str(cwd / "runs"))
    assert result.returncode == 0, result.stderr[-3000:]
    return _only_run_folder(cwd / "runs")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("every_n_steps", "delay_s"),
    [
        ("3", random.uniform(0.0, 6.0)),  # lands on a random step, or after training
        ("0", 0.0),  # epoch-end checkpoints only: resumes from the end of epoch 0
    ],
)
def test_killed_fit_resumes_identically(uninterrupted, tmp_path, every_n_steps, delay_s):
    killed_step = _kill_during_fit(tmp_path, tmp_path / "runs", delay_s, "--checkpoint_every_n_steps", every_n_steps)
    context = f"killed {delay_s:.2f} s after the first checkpoint; last checkpoint at step {killed_step}"
    if every_n_steps == "0":
        assert killed_step == 10, context

    result = _fit(tmp_path, "--runs_dir", str(tmp_path / "runs"), "--ckpt_path", "last", "--checkpoint_every_n_steps", every_n_steps)
    assert result.returncode == 0, context + result.stderr[-3000:]
    resumed = _only_run_folder(tmp_path / "runs")
    assert result.stdout.strip().splitlines()[-1] == f"run: {resumed.resolve()}"

    expected = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["global_step"] == expected["global_step"] == 20, context
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(actual["state_dict"][name], tensor), f"{name} differs; {context}"
    assert repr(actual["optimizer_states"]) == repr(expected["optimizer_states"]), context
    assert actual["lr_schedulers"] == expected["lr_schedulers"], context
    assert actual["max_lr"] == expected["max_lr"], context

    expected_metrics = json.loads((uninterrupted / "metrics.json").read_text())
    actual_metrics = json.loads((resumed / "metrics.json").read_text())
    for key in ("test_acc", "test_loss", "epochs", "steps", "max_lr"):
        assert actual_metrics[key] == expected_metrics[key], f"{key}; {context}"
    assert actual_metrics["resumed_from_step"] == killed_step, context
    assert (resumed / "metrics.csv").read_text() == (uninterrupted / "metrics.csv").read_text(), context


@pytest.mark.slow
def test_resume_skips_lr_finder(uninterrupted, tmp_path):
    runs_dir = tmp_path / "runs"
    _kill_during_fit(tmp_path, runs_dir, delay_s=0.0)
    run_dir = _only_run_folder(runs_dir)
    finder_record = (run_dir / "lr_find.json").read_text()

    result = _fit(tmp_path, "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LR finder suggests" not in result.stderr
    assert (run_dir / "lr_find.json").read_text() == finder_record
    assert (run_dir / "config-resume-1.yaml").is_file()
    assert [path.name for path in runs_dir.iterdir()] == [run_dir.name]
