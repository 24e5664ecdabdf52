"""Model registry: `create_model(name, num_classes, width)` builds any listed network."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from litcifar.errors import InvalidSettingError
from litcifar.models.custom_resnet import CustomResNet
from litcifar.models.resnet18 import ResNet18

MODELS: dict[str, Callable[..., nn.Module]] = {
    "custom_resnet": CustomResNet,
    "resnet18": ResNet18,
}


def create_model(name: str, num_classes: int = 10, width: float = 1.0) -> nn.Module:
    """Build the network registered as `name`, with every channel count scaled by `width`."""
    if name not in MODELS:
        raise InvalidSettingError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    if num_classes < 1:
        raise InvalidSettingError(f"num_classes must be at least 1, got {num_classes}")
    if not width > 0:
        raise InvalidSettingError(f"width must be greater than 0 (1.0 is the published size), got {width}")
    return MODELS[name](num_classes=num_classes, width=width)


def count_parameters(model: nn.Module) -> int:
    """Count trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "create_model", "count_parameters", "CustomResNet", "ResNet18"]
