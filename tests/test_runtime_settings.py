"""`litcifar test --ckpt_path` keeps the runtime settings given on the command line.

Lightning's CLI replaces every --model.* value with the checkpoint's hyperparameters;
litcifar keeps tta, compile and channels_last when the user set them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest

from litcifar.data.datamodule import Cifar10DataModule
from litcifar.training.module import CifarClassifier


def make_checkpoints(cifar, folder: Path) -> dict[str, Path]:
    """Save one trained network twice: with tta none and with tta flip in its hyperparameters."""
    datamodule = Cifar10DataModule(num_workers=0, train_subset=100, batch_size=50)
    datamodule.arrays = cifar
    model = CifarClassifier(width=0.125, max_lr=0.01, pct_start=0.5)
    trainer = pl.Trainer(
        max_steps=4, limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=folder,
    )
    trainer.fit(model, datamodule=datamodule)
    paths = {}
    for tta in ("none", "flip"):
        model.hparams.tta = tta
        paths[tta] = folder / f"{tta}.ckpt"
        trainer.save_checkpoint(paths[tta])
    return paths


def measured_test_loss(checkpoint: Path, *args: str) -> float:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [
        sys.executable, "-m", "litcifar", "test", "--ckpt_path", str(checkpoint), "--model.width", "0.125",
        "--trainer.limit_test_batches", "2", "--data.batch_size", "100", "--trainer.enable_progress_bar", "false", *args,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return float(re.search(r"test_loss\s+([0-9.]+)", result.stdout).group(1))


@pytest.fixture(scope="module")
def checkpoints(cifar, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return make_checkpoints(cifar, folder)


@pytest.mark.slow
def test_command_line_tta_overrides_checkpoint(checkpoints):
    assert measured_test_loss(checkpoints["none"], "--model.tta", "flip") != measured_test_loss(checkpoints["none"])


@pytest.mark.slow
def test_command_line_default_tta_overrides_checkpoint(checkpoints):
    # "none" is also the default value: set explicitly, it must still win over the checkpoint's flip.
    assert measured_test_loss(checkpoints["flip"], "--model.tta", "none") == measured_test_loss(checkpoints["none"])


@pytest.mark.slow
def test_checkpoint_tta_used_when_not_given(checkpoints):
    assert measured_test_loss(checkpoints["flip"]) == measured_test_loss(checkpoints["none"], "--model.tta", "flip")


def test_file_predictions_use_the_model_tta(sample_images):
    import numpy as np
    import torch

    from litcifar.analysis.file_predictions import classify_images

    torch.manual_seed(0)
    model = CifarClassifier(width=0.125, tta="flip")
    images = sample_images[:8]
    mirrored = np.ascontiguousarray(images[:, :, ::-1])
    np.testing.assert_allclose(classify_images(model, images), classify_images(model, mirrored), rtol=1e-4, atol=1e-6)
