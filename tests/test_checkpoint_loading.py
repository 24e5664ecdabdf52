"""Loading a CifarClassifier from a checkpoint file, and rejecting files that are not one."""

from __future__ import annotations

import pytest
import torch

from litcifar.errors import InvalidSettingError
from litcifar.training.checkpoint import (
    datamodule_settings,
    load_classifier,
    read_checkpoint,
)
from litcifar.training.module import CifarClassifier


def _save_checkpoint(path, model: CifarClassifier) -> None:
    hyper_parameters = {**model.hparams, "_instantiator": "lightning.pytorch.cli.instantiate_module"}
    datamodule = {"batch_size": 64, "train_subset": 1000, "_instantiator": "x", "unknown_key": 1}
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": hyper_parameters, "datamodule_hyper_parameters": datamodule, "max_lr": 0.02},
        path,
    )


def test_weights_and_settings_restored(tmp_path):
    torch.manual_seed(0)
    model = CifarClassifier(arch="resnet18", width=0.125, max_lr=0.02)
    path = tmp_path / "model.ckpt"
    _save_checkpoint(path, model)
    loaded = load_classifier(path)
    assert loaded.hparams.arch == "resnet18"
    assert loaded.hparams.width == 0.125
    assert loaded.max_lr == 0.02
    assert loaded.training is False
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=f"{name} differs after loading")


def test_datamodule_settings_keep_known_arguments(tmp_path):
    path = tmp_path / "model.ckpt"
    _save_checkpoint(path, CifarClassifier(width=0.125))
    assert datamodule_settings(read_checkpoint(path)) == {"batch_size": 64, "train_subset": 1000}


def test_missing_file_rejected(tmp_path):
    with pytest.raises(InvalidSettingError, match="is not a file"):
        load_classifier(tmp_path / "absent.ckpt")


def test_other_file_rejected(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(InvalidSettingError, match="has no state_dict"):
        load_classifier(path)


class Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_arbitrary_objects_not_unpickled(tmp_path):
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Payload()}, path)
    with pytest.raises(InvalidSettingError, match="was rejected"):
        load_classifier(path)


@pytest.mark.parametrize("content", [b"hello not an image", b"q", b"not a checkpoint"], ids=["text", "one-byte", "text-2"])
def test_non_checkpoint_bytes_rejected(tmp_path, content):
    path = tmp_path / "notes.ckpt"
    path.write_bytes(content)
    with pytest.raises(InvalidSettingError, match="notes.ckpt"):
        load_classifier(path)


def test_unknown_settings_ignored(tmp_path):
    model = CifarClassifier(width=0.125)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {**model.hparams, "num_classes": 10}}, path)
    assert load_classifier(path).hparams.width == 0.125
