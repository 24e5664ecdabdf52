"""End to end: the `litcifar` command on the real CIFAR-10 with a tiny budget."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "litcifar", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def tiny_run(cifar, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    workdir = tmp_path_factory.mktemp("cli")
    result = _run_cli(
        "fit",
        "--config", str(REPO / "configs" / "cpu-quick.yaml"),
        "--trainer.max_epochs", "1",
        "--data.train_subset", "10000",
        "--data.batch_size", "128",
        "--lr_find.num_training", "40",
        "--analysis.num_images", "7",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith("run: "), result.stdout[-2000:]
    return Path(workdir, last_line.removeprefix("run: ")), result


@pytest.mark.slow
def test_run_folder_contents(tiny_run):
    run_dir, _ = tiny_run
    analysis_files = ("analysis.json", "report.html", "per_class_accuracy.png", "confusion_matrix.png", "confused_pairs.png", "faithfulness.png", "augmentation.png")
    for name in ("config.yaml", "checkpoints/last.ckpt", "metrics.csv", "lr_find.png", "lr_find.json", "curves.png", "misclassified.png", "gradcam.png", "metrics.json", *analysis_files):
        assert (run_dir / name).is_file(), f"{name} missing from the run folder"
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_metrics_json(tiny_run):
    run_dir, _ = tiny_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_acc"] > 0.25, "one epoch on 10,000 images should be well above chance (0.10)"
    assert metrics["test_acc"] <= 1.0
    assert metrics["test_loss"] > 0
    assert metrics["epochs"] == 1
    assert metrics["train_seconds"] > 0
    assert metrics["device"].startswith("cpu")
    assert metrics["model"] == "custom_resnet"
    assert metrics["num_parameters"] == 412_954
    assert metrics["max_lr"] > 0
    assert metrics["test_images"] == 10_000
    assert metrics["misclassified"] == round((1 - metrics["test_acc"]) * 10_000)
    assert metrics["shown"] == 7


@pytest.mark.slow
def test_resolved_config_saved(tiny_run):
    run_dir, _ = tiny_run
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["max_epochs"] == 1
    assert config["model"]["width"] == 0.25
    assert config["data"]["train_subset"] == 10000


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "lr_find.png", "curves.png", "misclassified.png", "gradcam.png", "per_class_accuracy.png", "confusion_matrix.png",
        "confusion_matrix_normalized.png", "confused_pairs.png", "faithfulness.png", "class_samples.png", "augmentation.png",
    ],
)
def test_figures_decode(tiny_run, name):
    run_dir, _ = tiny_run
    with Image.open(run_dir / name) as image:
        image.load()
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert 300 <= width <= 4000
    assert 200 <= height <= 4000
    assert pixels.std() > 10, f"{name} looks blank"


@pytest.mark.slow
def test_checkpoint_tests_from_cli(tiny_run):
    run_dir, _ = tiny_run
    result = _run_cli("test", "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), "--data.num_workers", "0", cwd=run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    printed = re.search(r"test_acc\W+([0-9.]+)", result.stdout)
    assert printed, result.stdout[-2000:]
    assert float(printed.group(1)) == pytest.approx(metrics["test_acc"], abs=1e-6)
    assert not (run_dir / "lightning_logs").exists()


@pytest.mark.slow
def test_progress_and_estimate_logged(tiny_run):
    _, result = tiny_run
    output = result.stdout + result.stderr
    assert "fit_eta=" in output
    assert "estimated training time" in output
    assert "device: cpu" in output
    assert "412,954 parameters" in output


@pytest.mark.slow
def test_second_fit_makes_new_folder(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    result = _run_cli(
        "fit", "--config", str(REPO / "configs" / "cpu-quick.yaml"),
        "--runs_dir", str(run_dir.parent),
        "--trainer.max_epochs", "1", "--data.train_subset", "1000", "--model.max_lr", "0.01",
        "--model.pct_start", "0.5", "--trainer.limit_val_batches", "2", "--analysis.num_images", "3",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    second = Path(result.stdout.strip().splitlines()[-1].removeprefix("run: "))
    assert second != run_dir
    assert (run_dir / "metrics.json").is_file()
    assert not (second / "lr_find.png").exists(), "the LR finder ran although max_lr was given"
    assert json.loads((second / "metrics.json").read_text())["max_lr"] == 0.01


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.width", "0"], "width must be greater than 0"),
        (["--trainer.max_epochs", "-1"], "trainer.max_epochs must be at least 1, got -1"),
        (["--data.batch_size", "0"], "batch_size must be at least 1, got 0"),
        (["--model.arch", "vgg"], "unknown arch 'vgg': choose one of custom_resnet, resnet18"),
        (["--analysis.method", "scorecam"], "unknown analysis.method 'scorecam'"),
        (["--analysis.layer", "fc"], "layer 'fc' outputs (1, 10), but Grad-CAM needs"),
        (["--ckpt_path", "missing.ckpt"], "ckpt_path 'missing.ckpt' is not a file"),
        (["--data.train_subset", "0"], "train_subset must be a multiple of 10 in 10..50000"),
        (["--data.train_subset", "1000", "--trainer.max_epochs", "1"], "One Cycle with pct_start=0.2 over 2 optimizer steps"),
        (["--data.train_subset", "1000", "--trainer.max_epochs", "4", "--model.pct_start", "0.5"], "the LR range test needs at least 20"),
    ],
)
def test_invalid_setting_fails_before_run(tmp_path, args, message):
    result = _run_cli("fit", "--runs_dir", str(tmp_path / "runs"), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert f"litcifar: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_default_config_file_matches_builtin_defaults(tmp_path):
    builtin = _run_cli("fit", "--print_config", cwd=tmp_path)
    from_file = _run_cli("fit", "--config", str(REPO / "configs" / "default.yaml"), "--print_config", cwd=tmp_path)
    assert builtin.returncode == 0, builtin.stderr[-2000:]
    assert from_file.returncode == 0, from_file.stderr[-2000:]
    builtin_config, file_config = yaml.safe_load(builtin.stdout), yaml.safe_load(from_file.stdout)
    for section in ("model", "data", "lr_find", "analysis"):
        assert file_config[section] == builtin_config[section], f"configs/default.yaml differs in {section}"
    assert file_config["trainer"]["max_epochs"] == builtin_config["trainer"]["max_epochs"] == 25
    assert builtin_config["data"]["batch_size"] == 512
    assert builtin_config["model"]["optimizer"] == "adam"


def test_unknown_cam_layer_fails_before_run(tmp_path):
    result = _run_cli("fit", "--runs_dir", str(tmp_path / "runs"), "--analysis.layer", "layer9", cwd=tmp_path)
    assert result.returncode == 2
    assert "model has no layer 'layer9'" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_interrupt_keeps_checkpoint_and_prints_run(cifar, tmp_path):
    import signal
    import time

    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [
        sys.executable, "-m", "litcifar", "fit", "--config", str(REPO / "configs" / "cpu-quick.yaml"),
        "--model.max_lr", "0.01", "--data.train_subset", "20000", "--trainer.max_epochs", "3",
        "--trainer.enable_progress_bar", "false",
    ]
    # A shell without job control starts background jobs with SIGINT ignored, and children
    # inherit that; restore the default so the fit receives Ctrl-C as from a terminal.
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    stderr_lines = []
    for line in process.stderr:  # the estimate is logged after 13 training steps
        stderr_lines.append(line)
        if "estimated training time" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=300)
    assert process.returncode != 0
    last_line = stdout.strip().splitlines()[-1]
    assert last_line.startswith("run: "), stdout[-2000:] + "".join(stderr_lines)[-2000:] + rest[-2000:]
    checkpoints = list(Path(tmp_path, last_line.removeprefix("run: "), "checkpoints").glob("*.ckpt"))
    assert checkpoints, "no checkpoint kept after Ctrl-C"
