"""The custom ResNet ("ResNet-9") of David Page's cifar10-fast, with a width multiplier."""

from __future__ import annotations

import torch
from torch import nn


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class ConvBlock(nn.Sequential):
    """Conv 3x3 (no bias) → optional max pool 2 → BatchNorm → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool = False) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)]
        if pool:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class ResidualStage(nn.Module):
    """A pooling conv block followed by an identity-skip residual block of two conv blocks.

    The stage's output is the sum, so a hook on the stage itself receives the features the
    next layer uses; Grad-CAM targets the stage for that reason.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBlock(in_channels, out_channels, pool=True)
        self.residual = nn.Sequential(ConvBlock(out_channels, out_channels), ConvBlock(out_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x + self.residual(x)


class CustomResNet(nn.Module):
    """prep 64 → layer1 128 (+res) → layer2 256 → layer3 512 (+res) → max pool 4 → linear.

    6,573,130 parameters at width 1 with 10 classes. `width` scales every channel count.
    """

    default_cam_layer = "layer3"
    cam_layers = ("prep", "layer1", "layer2", "layer3")

    def __init__(self, num_classes: int = 10, width: float = 1.0) -> None:
        super().__init__()
        c64, c128, c256, c512 = (_scaled(c, width) for c in (64, 128, 256, 512))
        self.prep = ConvBlock(3, c64)
        self.layer1 = ResidualStage(c64, c128)
        self.layer2 = ConvBlock(c128, c256, pool=True)
        self.layer3 = ResidualStage(c256, c512)
        self.pool = nn.AdaptiveMaxPool2d(1)  # 4x4 → 1x1 for 32x32 inputs, as MaxPool2d(4) would
        self.fc = nn.Linear(c512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.fc(torch.flatten(self.pool(x), 1))
