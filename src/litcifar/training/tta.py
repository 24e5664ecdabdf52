"""Test-time augmentation: average the logits of a batch over flipped and shifted views.

Only evaluation uses it (validation, test, predict); it has no weights, so any
checkpoint can be evaluated with or without it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

TTA_MODES = ("none", "flip", "flip_shift")


def shift_views(images: torch.Tensor, pixels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the batch translated by `pixels` up-left and down-right, edges reflected."""
    padded = F.pad(images, (pixels,) * 4, mode="reflect")
    size_h, size_w = images.shape[-2:]
    up_left = padded[..., 2 * pixels :, 2 * pixels :]
    down_right = padded[..., : size_h, : size_w]
    return up_left.contiguous(memory_format=torch.channels_last), down_right.contiguous(memory_format=torch.channels_last)


def tta_logits(forward: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, mode: str) -> torch.Tensor:
    """Logits of `images` under the TTA `mode`.

    none: one pass. flip: mean of the image and its mirror (2 passes). flip_shift: half
    weight on those two, half on the mean of four more views (6 passes). Those are the
    image shifted by 1 pixel up-left and down-right, each also mirrored. Training crops
    move the image by up to 4 pixels, so the model has seen such shifts.
    """
    if mode == "none":
        return forward(images)
    if mode not in TTA_MODES:
        raise ValueError(f"unknown TTA mode {mode!r}: choose one of {', '.join(TTA_MODES)}")
    plain = 0.5 * (forward(images) + forward(images.flip(-1)))
    if mode == "flip":
        return plain
    shifted = sum(forward(view) + forward(view.flip(-1)) for view in shift_views(images)) / 4
    return 0.5 * plain + 0.5 * shifted
