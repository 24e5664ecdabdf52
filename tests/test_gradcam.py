"""Grad-CAM matrix: model x layer x batch size x method, and the state it leaves behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litcifar.analysis.gradcam import CAM_METHODS, check_cam_layer, compute_gradcam
from litcifar.models import MODELS, create_model

CASES = [(name, layer) for name in sorted(MODELS) for layer in MODELS[name].cam_layers]


@pytest.mark.parametrize(("name", "layer"), CASES)
@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("method", sorted(CAM_METHODS))
def test_heatmap_shape_and_range(name, layer, batch_size, method):
    torch.manual_seed(0)
    model = create_model(name, width=0.125)
    images = torch.randn(batch_size, 3, 32, 32)
    heatmaps = compute_gradcam(model, images, list(range(batch_size)), layer=layer, method=method)
    assert heatmaps.shape == (batch_size, 32, 32)
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0.0
    assert heatmaps.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("training", [True, False])
def test_model_state_restored(name, training):
    model = create_model(name, width=0.125).train(training)
    model.fc.weight.requires_grad_(False)  # a frozen layer must stay frozen
    compute_gradcam(model, torch.randn(2, 3, 32, 32), [0, 1], layer=model.default_cam_layer)
    assert model.training is training
    assert all(m.training is training for m in model.modules())
    assert model.fc.weight.requires_grad is False
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.requires_grad is True


def test_hooks_released():
    model = create_model("custom_resnet", width=0.125)
    layer = model.layer3
    compute_gradcam(model, torch.randn(2, 3, 32, 32), [0, 1], layer="layer3")
    assert len(layer._forward_hooks) == 0
    assert len(layer._backward_hooks) == 0
    assert len(getattr(layer, "_forward_pre_hooks", {})) == 0


def test_works_under_inference_mode():
    model = create_model("custom_resnet", width=0.125)
    with torch.inference_mode():
        images = torch.randn(3, 3, 32, 32)
        heatmaps = compute_gradcam(model, images, [1, 2, 3], layer="layer3")
    assert heatmaps.shape == (3, 32, 32)
    assert heatmaps.max() > 0


def test_target_class_changes_heatmap():
    torch.manual_seed(1)
    model = create_model("custom_resnet", width=0.25).eval()
    image = torch.randn(1, 3, 32, 32)
    maps = [compute_gradcam(model, image, [c], layer="layer2")[0] for c in range(3)]
    assert not np.allclose(maps[0], maps[1]) or not np.allclose(maps[1], maps[2])


def test_empty_batch_returns_empty():
    model = create_model("custom_resnet", width=0.125)
    assert compute_gradcam(model, torch.zeros(0, 3, 32, 32), [], layer="layer3").shape == (0, 32, 32)


def test_unknown_layer_lists_choices():
    model = create_model("custom_resnet", width=0.125)
    with pytest.raises(ValueError, match="layer9.*prep, layer1, layer2, layer3, or a dotted path"):
        compute_gradcam(model, torch.randn(1, 3, 32, 32), [0], layer="layer9")


def test_unknown_method_lists_choices():
    model = create_model("custom_resnet", width=0.125)
    with pytest.raises(ValueError, match="scorecam.*gradcam"):
        compute_gradcam(model, torch.randn(1, 3, 32, 32), [0], layer="layer3", method="scorecam")


@pytest.mark.parametrize(("name", "layer"), [("custom_resnet", "fc"), ("resnet18", "fc")])
def test_non_spatial_layer_rejected(name, layer):
    model = create_model(name, width=0.125).train()
    with pytest.raises(ValueError, match=f"layer '{layer}' outputs .* feature map"):
        check_cam_layer(model, layer)
    assert model.training is True


@pytest.mark.parametrize(("name", "layer"), CASES + [("custom_resnet", "layer3.residual"), ("resnet18", "layer4.1.conv2")])
def test_spatial_layers_accepted(name, layer):
    check_cam_layer(create_model(name, width=0.125), layer)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_grad_mode_restored(name):
    model = create_model(name, width=0.125).eval()
    with torch.no_grad():
        compute_gradcam(model, torch.randn(2, 3, 32, 32), [0, 1], layer=model.default_cam_layer)
        assert torch.is_grad_enabled() is False
    assert model.training is False
    assert all(p.requires_grad for p in model.parameters())


def tiny_network() -> torch.nn.Sequential:
    """A two-conv network, so 500 CAM calls take seconds; layer "2" is the second conv."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 10),
    )


def test_hooks_flat_over_500_calls():
    model = tiny_network()
    layer = model[2]
    images = torch.randn(1, 3, 32, 32)
    hooks_before = (len(layer._forward_hooks), len(layer._backward_hooks), len(model._forward_hooks))
    for _ in range(500):
        compute_gradcam(model, images, [3], layer="2")
    assert (len(layer._forward_hooks), len(layer._backward_hooks), len(model._forward_hooks)) == hooks_before


def test_memory_flat_over_500_calls():
    import gc
    import tracemalloc

    model = tiny_network()
    images = torch.randn(1, 3, 32, 32)
    for _ in range(20):  # warm-up: lazy imports and caches
        compute_gradcam(model, images, [3], layer="2")
    gc.collect()
    tensors_before = sum(isinstance(item, torch.Tensor) for item in gc.get_objects())
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    for _ in range(500):
        compute_gradcam(model, images, [3], layer="2")
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # tracemalloc does not see tensor storage, so count the live tensors too.
    tensors_after = sum(isinstance(item, torch.Tensor) for item in gc.get_objects())
    assert tensors_after <= tensors_before, f"{tensors_after - tensors_before} tensors still alive after 500 calls"
    # Estimate: a leaked CAM object per call (activations, gradients, hook closures) would add several kB each.
    assert end - start < 500 * 1024, f"Python-side memory grew by {(end - start) / 1024:.0f} kB over 500 calls"


def test_index_error_not_swallowed():
    model = create_model("custom_resnet", width=0.125)
    with pytest.raises(IndexError):
        compute_gradcam(model, torch.randn(1, 3, 32, 32), [50], layer="layer3")  # class 50 of 10
