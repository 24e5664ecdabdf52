"""Every registered model: output shape, parameter counts, width scaling, Grad-CAM layers."""

from __future__ import annotations

import pytest
import torch

from litcifar.models import MODELS, count_parameters, create_model

PUBLISHED_PARAMETERS = {"custom_resnet": 6_573_130, "resnet18": 11_173_962}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_count_at_width_one(name):
    assert count_parameters(create_model(name)) == PUBLISHED_PARAMETERS[name]


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("batch_size", [1, 3])
def test_forward_shape(name, batch_size):
    model = create_model(name, num_classes=7, width=0.125).eval()
    with torch.no_grad():
        logits = model(torch.randn(batch_size, 3, 32, 32))
    assert logits.shape == (batch_size, 7)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_width_scales_parameters(name):
    quarter = count_parameters(create_model(name, width=0.25))
    full = PUBLISHED_PARAMETERS[name]
    assert full / 20 < quarter < full / 12  # convolutions scale with width squared


@pytest.mark.parametrize("name", sorted(MODELS))
def test_cam_layers_exist(name):
    model = create_model(name, width=0.125)
    assert model.default_cam_layer in model.cam_layers
    for layer in model.cam_layers:
        model.get_submodule(layer)


def test_custom_resnet_convolutions_have_no_bias():
    model = create_model("custom_resnet")
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convolutions) == 8
    assert all(conv.bias is None for conv in convolutions)


def test_custom_resnet_channels():
    model = create_model("custom_resnet")
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [64, 128, 128, 128, 256, 512, 512, 512]
    assert model.fc.in_features == 512


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"name": "vgg"}, "unknown model 'vgg'"), ({"name": "resnet18", "width": 0}, "width"), ({"name": "resnet18", "num_classes": 0}, "num_classes")],
)
def test_create_model_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_model(**kwargs)
