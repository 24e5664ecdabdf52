"""Rebuild a CifarClassifier and its data settings from a Lightning checkpoint file."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from litcifar.data.datamodule import Cifar10DataModule
from litcifar.errors import InvalidSettingError
from litcifar.training.module import CifarClassifier


def read_checkpoint(ckpt_path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file as a dict of tensors and plain data.

    `weights_only=True` makes torch's unpickler build only tensors and plain containers, so
    a crafted file cannot run code. This is the one place litcifar's analysis reads a checkpoint.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise InvalidSettingError(f"checkpoint {str(path)!r} is not a file: give the path of a .ckpt file, such as <run>/checkpoints/last.ckpt")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise InvalidSettingError(f"{str(path)!r} is not a litcifar checkpoint (no state_dict or hyper_parameters): give a .ckpt written by `litcifar fit`")
    return checkpoint


def _init_arguments(saved: dict[str, Any], cls: type) -> dict[str, Any]:
    """Keep the saved hyperparameters that `cls.__init__` accepts (LightningCLI adds `_instantiator`)."""
    accepted = inspect.signature(cls.__init__).parameters
    return {key: value for key, value in saved.items() if key in accepted and key != "self"}


def classifier_from_checkpoint(checkpoint: dict[str, Any]) -> CifarClassifier:
    """Build the classifier from the checkpoint's hyperparameters and load its weights, in eval mode."""
    model = CifarClassifier(**_init_arguments(checkpoint["hyper_parameters"], CifarClassifier))
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)
    return model.eval()


def datamodule_settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Return the Cifar10DataModule arguments saved in the checkpoint, or {} when none were saved."""
    return _init_arguments(checkpoint.get("datamodule_hyper_parameters") or {}, Cifar10DataModule)


def load_classifier(ckpt_path: str | Path, map_location: str | torch.device = "cpu") -> CifarClassifier:
    """Load a trained CifarClassifier (eval mode) from a checkpoint path."""
    return classifier_from_checkpoint(read_checkpoint(ckpt_path, map_location))
