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


@pytest.mark.parametrize(("kwargs", "message"), [({"logit_scale": 0.0}, "logit_scale"), ({"tta": "rotate"}, "unknown tta 'rotate'")])
def test_invalid_evaluation_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CifarClassifier(**kwargs)


def test_logit_scale_multiplies_logits():
    torch.manual_seed(0)
    plain = CifarClassifier(width=0.125).eval()
    scaled = CifarClassifier(width=0.125, logit_scale=0.125).eval()
    scaled.load_state_dict(plain.state_dict())
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(scaled(images), 0.125 * plain(images))


@pytest.mark.parametrize("arch", ["custom_resnet", "resnet18"])
def test_flip_tta_is_mirror_invariant(arch):
    torch.manual_seed(0)
    model = CifarClassifier(arch=arch, width=0.125, tta="flip").eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        logits = model.evaluation_logits(images)
        mirrored = model.evaluation_logits(images.flip(-1))
        single = model(images)
    torch.testing.assert_close(logits, mirrored, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(logits, single, atol=1e-4)  # the mirror view changed the logits


def test_flip_shift_tta_averages_six_views():
    torch.manual_seed(0)
    model = CifarClassifier(width=0.125, tta="flip_shift").eval()
    images = torch.randn(2, 3, 32, 32)
    padded = torch.nn.functional.pad(images, (1, 1, 1, 1), mode="reflect")
    views = [images, padded[..., 2:, 2:], padded[..., :32, :32]]
    with torch.no_grad():
        per_view = [0.5 * (model(v) + model(v.flip(-1))) for v in views]
        expected = 0.5 * per_view[0] + 0.25 * (per_view[1] + per_view[2])
        torch.testing.assert_close(model.evaluation_logits(images), expected, rtol=1e-4, atol=1e-5)


def test_test_step_keeps_probabilities_with_tta():
    torch.manual_seed(0)
    model = CifarClassifier(width=0.125, tta="flip").eval()
    images, targets = torch.randn(5, 3, 32, 32), torch.arange(5)
    model.on_test_epoch_start()
    with torch.no_grad():
        model.test_step((images, targets), 0)
        expected = model.evaluation_logits(images).softmax(dim=1)
    probs, kept_targets = model.test_predictions()
    torch.testing.assert_close(probs, expected)
    assert torch.equal(kept_targets, targets)


@pytest.mark.slow
def test_compiled_network_keeps_names_and_outputs():
    torch.manual_seed(0)
    compiled = CifarClassifier(width=0.125, compile=True).eval()
    eager = CifarClassifier(width=0.125).eval()
    eager.load_state_dict(compiled.state_dict())
    compiled.configure_model()
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints stay loadable without compile
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(compiled(images), eager(images), rtol=1e-4, atol=1e-4)
