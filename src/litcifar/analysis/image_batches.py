"""Conversion of stored uint8 images into the normalised batches the models take."""

from __future__ import annotations

import numpy as np
import torch

from litcifar.transforms import build_eval_transform


def normalize_images(images: np.ndarray) -> torch.Tensor:
    """Turn uint8 RGB images (N, 32, 32, 3) into the normalised (N, 3, 32, 32) batch the model takes."""
    if len(images) == 0:
        return torch.zeros(0, 3, 32, 32)
    transform = build_eval_transform()
    return torch.stack([transform(image=image)["image"] for image in images])
