"""Grad-CAM heatmaps with pytorch-grad-cam, safe to call from inside Lightning's test loop."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from litcifar.errors import InvalidSettingError

CAM_METHODS = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "xgradcam": XGradCAM,
    "hirescam": HiResCAM,
}


def _layer_choices(model: nn.Module) -> str:
    blocks = getattr(model, "cam_layers", None) or [child for child, _ in model.named_children()]
    example = next((child for child, _ in model.named_modules() if child.count(".") == 1), "layer3.residual")
    return f"{', '.join(blocks)}, or a dotted path inside one of them such as {example}"


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the submodule named `name` (dotted paths such as "layer3.residual" work)."""
    try:
        return model.get_submodule(name)
    except AttributeError as error:
        raise InvalidSettingError(f"model has no layer {name!r}: choose {_layer_choices(model)}") from error


def check_cam_layer(model: nn.Module, name: str) -> tuple[int, int]:
    """Return the (H, W) of layer `name`'s feature map for a 32x32 image.

    Raises InvalidSettingError unless the layer outputs a (N, C, H, W) feature map, as CAM
    methods need. Runs one forward pass of a blank 32x32 image in eval mode, so batch-norm
    statistics stay as they were, and restores the training flag.
    """
    layer = resolve_layer(model, name)
    shapes: list[tuple[int, ...] | None] = []

    def record(module: nn.Module, inputs: tuple, output: object) -> None:
        shapes.append(tuple(output.shape) if isinstance(output, torch.Tensor) else None)

    handle = layer.register_forward_hook(record)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, 32, 32, device=next(model.parameters()).device))
    finally:
        handle.remove()
        model.train(was_training)
    if not shapes or shapes[0] is None or len(shapes[0]) != 4:
        raise InvalidSettingError(
            f"layer {name!r} outputs {shapes[0] if shapes else 'nothing'}, but Grad-CAM needs a convolutional "
            f"feature map (N, C, H, W): choose {_layer_choices(model)}"
        )
    return shapes[0][2], shapes[0][3]


def compute_gradcam(
    model: nn.Module,
    images: torch.Tensor,
    target_classes: list[int] | np.ndarray,
    layer: str,
    method: str = "gradcam",
    batch_size: int = 64,
) -> np.ndarray:
    """Return heatmaps (N, H, W) in [0, 1] of `method` on `layer` for each image's target class.

    `images` are normalised (N, 3, H, W) tensors; they are moved to the model's device (CPU,
    CUDA or MPS). One CAM object serves all chunks of `batch_size` images of one call.

    Gradients are switched on even under `torch.inference_mode` (Lightning's test loop), the
    CAM object's hooks are released on exit, and the model's training flag and each
    parameter's requires_grad are restored, since pytorch-grad-cam puts the model in eval mode.
    """
    if method not in CAM_METHODS:
        raise InvalidSettingError(f"unknown CAM method {method!r}: choose one of {', '.join(CAM_METHODS)}")
    if len(images) != len(target_classes):
        raise InvalidSettingError(f"got {len(images)} images but {len(target_classes)} target classes")
    if len(images) == 0:
        return np.zeros((0, *images.shape[-2:]), dtype=np.float32)
    target_layer = resolve_layer(model, layer)
    was_training = model.training
    requires_grad = [p.requires_grad for p in model.parameters()]
    device = next(model.parameters()).device
    heatmaps = []
    try:
        with torch.inference_mode(False), torch.enable_grad():
            # Tensors made under inference mode cannot enter autograd: clone outside it.
            images = images.detach().clone().to(device)
            # try/finally instead of `with`: BaseCAM.__exit__ (1.5.7) swallows IndexError.
            cam = CAM_METHODS[method](model=model, target_layers=[target_layer])
            try:
                for start in range(0, len(images), batch_size):
                    chunk = images[start : start + batch_size]
                    targets = [ClassifierOutputTarget(int(c)) for c in target_classes[start : start + batch_size]]
                    heatmaps.append(cam(input_tensor=chunk, targets=targets))
            finally:
                cam.activations_and_grads.release()
    finally:
        model.train(was_training)
        for parameter, flag in zip(model.parameters(), requires_grad):
            parameter.requires_grad_(flag)
    return np.concatenate(heatmaps).astype(np.float32)
