"""Checkpoint files: atomic writes, loading that cannot run code, and checks that they fit the model.

`torch.load(weights_only=True)` unpickles only tensors, containers and primitive types,
so a checkpoint crafted to call a function on load raises instead of running it.
Every load in litcifar (Lightning's resume and test, `load_classifier`) goes through
`read_checkpoint`.
"""

from __future__ import annotations

import inspect
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from litcifar.errors import InvalidSettingError

logger = logging.getLogger(__name__)


class CheckpointError(InvalidSettingError):
    """Raised when a checkpoint file is unreadable, unsafe, or made for another model."""


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; raise CheckpointError naming the path on any failure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a file: give the path of a .ckpt file, such as <run>/checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error) and "GLOBAL" not in str(error):
            raise CheckpointError(
                f"checkpoint {str(path)!r} is not a PyTorch checkpoint (its bytes are not a pickle torch can read): "
                "give a .ckpt written by litcifar fit, such as <run>/checkpoints/last.ckpt"
            ) from None
        # torch raises this for a global outside its allow-list, which a file that runs code on load needs.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} was rejected: it contains objects other than tensors and plain data "
            f"({first_line}). It may have been crafted to run code; it was not loaded. Use a checkpoint "
            "written by litcifar fit, or re-save the weights as a plain state_dict from a trusted environment"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        # torch's loader fails with these on files that are not checkpoints (text, one byte, ...).
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a readable PyTorch checkpoint ({error}); it may be truncated. "
            "Use another checkpoint, such as the previous one in the same checkpoints/ folder"
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"checkpoint {str(path)!r} has no state_dict: it is not a Lightning checkpoint written by litcifar fit")
    return checkpoint


def describe_network(hparams: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> str:
    """Return e.g. "custom_resnet (width 0.25) with 10 classes" from saved hyperparameters and weights."""
    arch = hparams.get("arch", "unknown architecture")
    width = hparams.get("width")
    classes = count_classes(state_dict)
    width_text = f" (width {width:g})" if isinstance(width, (int, float)) else ""
    classes_text = f" with {classes} classes" if classes is not None else ""
    return f"{arch}{width_text}{classes_text}"


def count_classes(state_dict: dict[str, torch.Tensor]) -> int | None:
    """Return the output size of the last 2-D weight (the classifier layer), or None if there is none."""
    matrices = [tensor for name, tensor in state_dict.items() if name.endswith("weight") and tensor.ndim == 2]
    return int(matrices[-1].shape[0]) if matrices else None


def check_state_dict_fits(model: torch.nn.Module, checkpoint: dict[str, Any], path: str | Path, model_description: str) -> None:
    """Raise CheckpointError naming both networks unless every saved tensor matches the model's names and shapes."""
    saved = checkpoint["state_dict"]
    expected = model.state_dict()
    missing = [name for name in expected if name not in saved]
    unexpected = [name for name in saved if name not in expected]
    reshaped = [
        f"{name} {tuple(saved[name].shape)} vs {tuple(expected[name].shape)}"
        for name in expected
        if name in saved and tuple(saved[name].shape) != tuple(expected[name].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    details = []
    if reshaped:
        details.append(f"{len(reshaped)} tensors differ in shape, first {reshaped[0]}")
    if missing:
        details.append(f"{len(missing)} tensors missing, first {missing[0]}")
    if unexpected:
        details.append(f"{len(unexpected)} tensors not in the model, first {unexpected[0]}")
    saved_description = describe_network(checkpoint.get("hyper_parameters", {}), saved)
    raise CheckpointError(
        f"checkpoint {str(path)!r} contains {saved_description}, but the model is {model_description} "
        f"({'; '.join(details)}). Use a checkpoint of the same network, or set --model.arch and "
        "--model.width to the checkpoint's values"
    )


class SafeAtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO that writes through a temporary file and loads with weights_only=True.

    The checkpoint is written to a temporary file in the same folder, flushed to disk,
    then renamed over the final name, so a process killed mid-write leaves the previous
    checkpoint intact (plus at most a stray `.tmp` file).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(checkpoint, stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, 0o644)  # mkstemp creates 0600
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        if weights_only is False:
            logger.warning("weights_only=False was requested for %s; loading with weights_only=True anyway", path)
        return read_checkpoint(path, map_location=map_location if map_location is not None else "cpu")


def classifier_from_checkpoint(checkpoint: dict[str, Any], path: str | Path):
    """Build the CifarClassifier a loaded checkpoint was trained as and load its weights, in eval mode.

    The architecture and width come from the checkpoint's hyperparameters; a state_dict
    that does not fit them raises CheckpointError naming both.
    """
    from litcifar.training.module import CifarClassifier  # the module imports this file

    hparams = dict(checkpoint.get("hyper_parameters", {}))
    hparams.pop("_instantiator", None)
    hparams.pop("_class_path", None)
    accepted = inspect.signature(CifarClassifier.__init__).parameters
    unknown = sorted(key for key in hparams if key not in accepted)
    if unknown:
        # Settings of another litcifar version; the weights are still checked against the network below.
        logger.warning("checkpoint %s: ignoring settings this version does not have: %s", path, ", ".join(unknown))
        hparams = {key: value for key, value in hparams.items() if key in accepted}
    try:
        model = CifarClassifier(**hparams)
    except (TypeError, InvalidSettingError) as error:
        raise CheckpointError(f"checkpoint {str(path)!r} has hyperparameters litcifar cannot build a model from: {error}") from error
    check_state_dict_fits(model, checkpoint, path, model.describe_network())
    model.load_state_dict(checkpoint["state_dict"])
    model.max_lr = checkpoint.get("max_lr", model.max_lr)
    return model.eval()


def load_classifier(path: str | Path, map_location: Any = "cpu"):
    """Load a trained CifarClassifier (eval mode) from a checkpoint path; see `classifier_from_checkpoint`."""
    return classifier_from_checkpoint(read_checkpoint(path, map_location=map_location), path)


def datamodule_settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Return the Cifar10DataModule arguments saved in a checkpoint that this version accepts ({} if none)."""
    from litcifar.data.datamodule import Cifar10DataModule

    saved = checkpoint.get("datamodule_hyper_parameters") or {}
    accepted = inspect.signature(Cifar10DataModule.__init__).parameters
    return {key: value for key, value in saved.items() if key in accepted and key != "self"}


def check_requested_network(model_config: Any, checkpoint: dict[str, Any], path: str | Path) -> None:
    """Raise CheckpointError when the command line requests another network than the checkpoint contains.

    Lightning's CLI replaces the model settings with the checkpoint's, so without this
    check `--model.arch resnet18` would be ignored without a word. Only settings that
    differ from CifarClassifier's defaults count as requested.
    """
    import inspect

    from litcifar.training.module import CifarClassifier  # the module imports this file

    if model_config is None:
        return
    saved = checkpoint.get("hyper_parameters", {})
    defaults = inspect.signature(CifarClassifier.__init__).parameters
    for key in ("arch", "width"):
        requested = model_config.get(key) if hasattr(model_config, "get") else getattr(model_config, key, None)
        if key not in saved or requested is None or requested == defaults[key].default:
            continue
        if requested != saved[key]:
            raise CheckpointError(
                f"checkpoint {str(path)!r} contains {describe_network(saved, checkpoint['state_dict'])}, but "
                f"--model.{key} {requested} was requested: drop --model.{key} to use the checkpoint's network, "
                "or give a checkpoint of the requested one"
            )
