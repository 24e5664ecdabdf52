"""The shipped GPU recipes run end to end when shrunk to a CPU budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CPU_BUDGET = (
    "--trainer.precision", "32-true",
    "--trainer.max_epochs", "2",
    "--trainer.limit_val_batches", "2",
    "--model.width", "0.125",
    "--model.compile", "false",
    "--data.train_subset", "500",
    "--data.batch_size", "100",
    "--analysis.num_images", "3",
)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "litcifar", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["best.yaml", "fast.yaml"])
def test_recipe_runs_on_cpu_budget(cifar, tmp_path, recipe):
    result = run_cli("fit", "--config", str(REPO / "configs" / recipe), *CPU_BUDGET, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(tmp_path, result.stdout.strip().splitlines()[-1].removeprefix("run: "))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["optimizer"] == "sgd"
    assert metrics["tta"] == "flip"
    assert metrics["precision"] == "32-true"
    assert metrics["steps"] == 10
    assert metrics["test_images"] == 10_000
    assert "lr_find_seconds" in metrics
    assert not (run_dir / "lr_find.json").exists()  # max_lr is given, so no range test


@pytest.mark.slow
def test_bf16_on_cpu_warns(cifar, tmp_path):
    result = run_cli(
        "fit", "--config", str(REPO / "configs" / "cpu-quick.yaml"), *CPU_BUDGET,
        "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "2", "--model.max_lr", "0.01", "--model.pct_start", "0.6",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "precision bf16-mixed on a CPU trains about 20x slower" in result.stderr


@pytest.mark.slow
def test_ema_weights_saved_in_checkpoint(cifar, tmp_path):
    import torch

    early_ema = tmp_path / "ema.yaml"
    early_ema.write_text(
        "trainer:\n"
        "  callbacks:\n"
        "    - class_path: lightning.pytorch.callbacks.EMAWeightAveraging\n"
        "      init_args: {decay: 0.5, update_starting_at_step: 2}\n"
    )
    result = run_cli("fit", "--config", str(REPO / "configs" / "best.yaml"), "--config", str(early_ema), *CPU_BUDGET, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = Path(tmp_path, result.stdout.strip().splitlines()[-1].removeprefix("run: "))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # 10 optimizer steps (indices 0-9), averaged from index 2: 8 updates. At the end of the fit
    # Lightning copies the average into the model, so the checkpoint serves the averaged weights.
    assert int(checkpoint["averaging_state"]["n_averaged"]) == 8
    assert torch.equal(checkpoint["state_dict"]["net.fc.weight"], checkpoint["current_model_state"]["net.fc.weight"])
