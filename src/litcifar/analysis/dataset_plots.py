"""Figures of the training data: sample images per class, and images through the training augmentation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from litcifar.data.arrays import CLASSES


def plot_class_samples(images: np.ndarray, labels: np.ndarray) -> Figure:
    """Draw one row per class of uint8 images grouped by class, as `class_samples` returns them."""
    classes = list(dict.fromkeys(int(label) for label in labels))
    if not classes:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.text(0.5, 0.5, "no images to show", ha="center", va="center")
        axis.axis("off")
        return figure
    per_class = len(images) // len(classes)
    figure, axes = plt.subplots(len(classes), per_class, figsize=(1.2 * per_class + 1.2, 1.2 * len(classes)), squeeze=False)
    for row, label in enumerate(classes):
        members = images[labels == label]
        for column, axis in enumerate(axes[row]):
            axis.imshow(members[column], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row][0].set_ylabel(CLASSES[label], rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle("Training images per class")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))  # room for the suptitle
    return figure


def plot_augmentations(originals: np.ndarray, copies: np.ndarray, description: str) -> Figure:
    """Draw one row per image: the original, then its augmented copies (N, K, H, W, 3)."""
    if len(originals) == 0:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.text(0.5, 0.5, "no images to show", ha="center", va="center")
        axis.axis("off")
        return figure
    count = copies.shape[1]
    figure, axes = plt.subplots(len(originals), count + 1, figsize=(1.5 * (count + 1), 1.6 * len(originals)), squeeze=False)
    for row, original in enumerate(originals):
        axes[row][0].imshow(original, interpolation="nearest")
        axes[row][0].set_title("original" if row == 0 else "", fontsize=8)
        for column in range(count):
            axes[row][column + 1].imshow(copies[row, column], interpolation="nearest")
            axes[row][column + 1].set_title(f"draw {column + 1}" if row == 0 else "", fontsize=8)
        for axis in axes[row]:
            axis.axis("off")
    figure.suptitle(f"Training augmentation: {description}")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))  # room for the suptitle
    return figure
