"""DDP with two CPU processes (gloo): one run folder, and the same test metrics as one process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    env.pop("LITCIFAR_RUN_DIR", None)
    return subprocess.run([sys.executable, "-m", "litcifar", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_ddp_two_processes_match_one(cifar, tmp_path):
    result = _cli(
        "fit", "--runs_dir", str(tmp_path / "runs"),
        "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        "--model.width", "0.125", "--model.max_lr", "0.01",
        "--data.train_subset", "1000", "--data.batch_size", "50", "--data.num_workers", "0",
        "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "2",
        "--trainer.enable_progress_bar", "false", "--analysis.num_images", "3",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1, f"expected one run folder, got {folders}"
    run_dir = folders[0]
    assert result.stdout.count("run: ") == 1, result.stdout[-2000:]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == 10, "each of the 2 ranks trains on half of the 1000 images, 50 per batch"
    assert metrics["test_images"] == 10_000, "rank 0 should analyse the test predictions of both ranks"
    assert metrics["misclassified"] == round((1 - metrics["test_acc"]) * 10_000)

    single = _cli("test", "--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), "--data.num_workers", "0", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    printed = re.search(r"test_acc\W+([0-9.]+)", single.stdout)
    assert printed, single.stdout[-2000:]
    # Accuracy counts agree exactly; the mean loss is a mean of per-rank means, equal up to float rounding.
    assert float(printed.group(1)) == pytest.approx(metrics["test_acc"], abs=1e-7)
    printed_loss = re.search(r"test_loss\W+([0-9.]+)", single.stdout)
    assert float(printed_loss.group(1)) == pytest.approx(metrics["test_loss"], rel=1e-5)
