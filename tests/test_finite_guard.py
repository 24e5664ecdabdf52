"""A NaN or infinite loss stops the fit with a message, and last.ckpt keeps the last finite weights."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from litcifar.training.finite_guard import FiniteTrainingGuard, NonFiniteTrainingError


class _Trainer:
    global_step = 7
    current_epoch = 1

    class fit_loop:  # noqa: N801 - mirrors trainer.fit_loop.epoch_loop.batch_idx
        class epoch_loop:  # noqa: N801
            batch_idx = 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_loss_raises(value):
    with pytest.raises(NonFiniteTrainingError, match=rf"training loss is {value} at step 7 \(epoch 1, batch 3\)"):
        FiniteTrainingGuard().on_before_backward(_Trainer(), None, torch.tensor(value))


def test_finite_loss_passes():
    FiniteTrainingGuard().on_before_backward(_Trainer(), None, torch.tensor(2.3))


def test_non_finite_weights_not_saved():
    checkpoint = {"state_dict": {"net.fc.weight": torch.tensor([1.0, float("nan")]), "net.steps": torch.tensor(3)}}
    with pytest.raises(NonFiniteTrainingError, match="weight net.fc.weight is not finite at step 7"):
        FiniteTrainingGuard().on_save_checkpoint(_Trainer(), None, checkpoint)


@pytest.mark.slow
def test_diverging_fit_stops_and_keeps_checkpoint(cifar, tmp_path):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    command = [
        sys.executable, "-m", "litcifar", "fit", "--runs_dir", str(tmp_path / "runs"),
        "--model.width", "0.125", "--model.optimizer", "sgd", "--model.max_lr", "1e12",
        "--data.train_subset", "400", "--data.batch_size", "40", "--data.num_workers", "0",
        "--trainer.max_epochs", "2", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--checkpoint_every_n_steps", "1",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "litcifar: error: training loss is nan" in result.stderr or "is not finite at step" in result.stderr
    assert "Lower --model.max_lr (now 1e+12)" in result.stderr
    assert "Traceback" not in result.stderr
    checkpoints = list((tmp_path / "runs").glob("*/checkpoints/*.ckpt"))
    assert [path.name for path in checkpoints] == ["last.ckpt"], "no other checkpoint should be written on the error"
    state = torch.load(checkpoints[0], weights_only=True)["state_dict"]
    for name, tensor in state.items():
        if tensor.is_floating_point():
            assert bool(torch.isfinite(tensor).all()), f"{name} in last.ckpt is not finite"
