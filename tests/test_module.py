"""CifarClassifier settings: optimizers, validation of arguments, max_lr in checkpoints."""

from __future__ import annotations

import pytest
import torch

from litcifar.training.module import CifarClassifier


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arch": "vgg"}, "unknown arch 'vgg'"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"max_lr": 0.0}, "max_lr must be greater than 0"),
        ({"max_lr": -1.0}, "max_lr must be greater than 0"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"pct_start": 1.0}, "pct_start"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"width": 0.0}, "width"),
    ],
)
def test_invalid_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CifarClassifier(**kwargs)


@pytest.mark.parametrize(("name", "expected"), [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_optimizer_choice(name, expected):
    model = CifarClassifier(width=0.125, optimizer=name, max_lr=0.1)
    model.trainer = type("FakeTrainer", (), {"estimated_stepping_batches": 10})()
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], expected)
    assert config["lr_scheduler"]["interval"] == "step"
    if name == "sgd":
        assert config["optimizer"].param_groups[0]["nesterov"] is True


def test_missing_max_lr_explains_fix():
    model = CifarClassifier(width=0.125)
    model.trainer = type("FakeTrainer", (), {"estimated_stepping_batches": 10})()
    with pytest.raises(ValueError, match="--model.max_lr"):
        model.configure_optimizers()


def test_max_lr_survives_checkpoint():
    model = CifarClassifier(width=0.125)
    model.max_lr = 0.0123
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    restored = CifarClassifier(width=0.125)
    restored.on_load_checkpoint(checkpoint)
    assert restored.max_lr == 0.0123


def test_channels_last_forward_matches_contiguous():
    torch.manual_seed(0)
    a = CifarClassifier(width=0.25, channels_last=True).eval()
    b = CifarClassifier(width=0.25, channels_last=False).eval()
    b.load_state_dict(a.state_dict())
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(images), b(images), rtol=1e-4, atol=1e-4)
