"""Sample training images per class, and the same images through the training augmentation."""

from __future__ import annotations

import albumentations as A
import numpy as np

from litcifar.errors import InvalidSettingError


def class_samples(images: np.ndarray, labels: np.ndarray, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pick `per_class` random images of every class, grouped by class: (C * per_class, H, W, 3) and their labels."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise InvalidSettingError(
                f"class {label} has only {len(members)} training images, fewer than samples_per_class={per_class}: lower analysis.samples_per_class"
            )
        picked.append(np.sort(rng.choice(members, size=per_class, replace=False)))
    indices = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return images[indices], labels[indices]


def augmented_copies(images: np.ndarray, transform: A.Compose, copies: int, seed: int = 0) -> np.ndarray:
    """Return (N, copies, H, W, 3) uint8: each image drawn `copies` times through `transform`.

    `transform` must output uint8 HWC images, as `build_train_transform(normalize=False)` does.
    """
    transform.set_random_seed(seed)
    drawn = [[transform(image=image)["image"] for _ in range(copies)] for image in images]
    return np.asarray(drawn, dtype=np.uint8).reshape(len(images), copies, *images.shape[1:])
