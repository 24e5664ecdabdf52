"""Albumentations pipelines for CIFAR-10 training and evaluation.

Albumentations 2.x renamed the CoarseDropout and PadIfNeeded arguments. It only warns
about the 1.x names (`max_holes`, `max_height`, `fill_value`) and then ignores them, so
this module uses the 2.x names and the tests pin the resulting behaviour.
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks PyPI on import otherwise

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from albumentations.pytorch import ToTensorV2  # noqa: E402

from litcifar.errors import InvalidSettingError

# Per-channel statistics of the 50,000 training images on the 0-255 scale (RGB).
# tests/test_transforms.py recomputes them from the verified data.
CIFAR10_MEAN = (125.30692, 122.95039, 113.86538)
CIFAR10_STD = (62.9932, 62.0887, 66.7049)

# numpy.pad mode names (cifar10-fast pads with mode "reflect") → OpenCV border modes.
PAD_MODES = {
    "reflect": cv2.BORDER_REFLECT_101,  # d c b | a b c d | c b a: edge pixel not repeated
    "symmetric": cv2.BORDER_REFLECT,  # c b a | a b c d | d c b: edge pixel repeated
    "edge": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,  # zeros
    "wrap": cv2.BORDER_WRAP,
}


def _normalize() -> A.Normalize:
    return A.Normalize(mean=[m / 255 for m in CIFAR10_MEAN], std=[s / 255 for s in CIFAR10_STD], max_pixel_value=255.0)


def build_train_transform(
    pad: int = 4,
    pad_mode: str = "reflect",
    flip_p: float = 0.5,
    cutout_size: int = 8,
    normalize: bool = True,
) -> A.Compose:
    """Pad → random 32x32 crop → horizontal flip → one cutout hole of the mean colour → normalise.

    With `normalize=True` the hole is cut after normalisation and filled with 0, which is
    the training-set mean exactly, and the output is a float CHW tensor. With
    `normalize=False` (for showing augmented images) the output stays uint8 HWC and the
    hole contains the mean rounded to integers. `pad=0` or `cutout_size=0` drops that step.
    """
    if pad_mode not in PAD_MODES:
        raise InvalidSettingError(f"unknown pad_mode {pad_mode!r}: choose one of {', '.join(PAD_MODES)}")
    if pad < 0 or cutout_size < 0 or cutout_size > 32:
        raise InvalidSettingError(f"pad must be >= 0 and cutout_size in 0..32, got pad={pad}, cutout_size={cutout_size}")
    if not 0.0 <= flip_p <= 1.0:
        raise InvalidSettingError(f"flip_p is a probability in [0, 1], got {flip_p}")

    steps: list[A.BasicTransform] = []
    if pad > 0:
        steps += [
            A.PadIfNeeded(min_height=32 + 2 * pad, min_width=32 + 2 * pad, border_mode=PAD_MODES[pad_mode], fill=0),
            A.RandomCrop(height=32, width=32),
        ]
    steps.append(A.HorizontalFlip(p=flip_p))
    if normalize:
        steps.append(_normalize())
    if cutout_size > 0:
        fill = 0.0 if normalize else tuple(float(round(m)) for m in CIFAR10_MEAN)
        steps.append(
            A.CoarseDropout(
                num_holes_range=(1, 1),
                hole_height_range=(cutout_size, cutout_size),
                hole_width_range=(cutout_size, cutout_size),
                fill=fill,
                p=1.0,
            )
        )
    if normalize:
        steps.append(ToTensorV2())
    return A.Compose(steps)


def build_eval_transform() -> A.Compose:
    """Normalise with the training-set statistics; float CHW tensor out."""
    return A.Compose([_normalize(), ToTensorV2()])


def denormalize(images: np.ndarray) -> np.ndarray:
    """Map normalised images, (N, 3, H, W) or (3, H, W), back to float RGB in [0, 1], channels last."""
    images = np.asarray(images, dtype=np.float32)
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32) / 255
    std = np.asarray(CIFAR10_STD, dtype=np.float32) / 255
    channels_last = np.moveaxis(images, -3, -1)
    return np.clip(channels_last * std + mean, 0.0, 1.0)
