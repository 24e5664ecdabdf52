"""Figures of what the model confuses: per-class accuracy, confusion matrices, confused-pair galleries."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from litcifar.analysis.confusion import ConfusedPair
from litcifar.data.arrays import CLASSES


def plot_per_class_accuracy(accuracy: np.ndarray, overall: float) -> Figure:
    """Bar chart of each class's accuracy, with the overall accuracy as a dashed line."""
    figure, axis = plt.subplots(figsize=(8, 3.8))
    positions = np.arange(len(accuracy))
    bars = axis.bar(positions, accuracy, color="tab:blue")
    axis.bar_label(bars, labels=[f"{value:.1%}" for value in accuracy], fontsize=8)
    axis.axhline(overall, color="gray", linestyle="--", label=f"overall {overall:.2%}")
    axis.set_xticks(positions, CLASSES[: len(accuracy)], rotation=30)
    axis.set_ylim(0, 1.08)
    axis.set_ylabel("test accuracy")
    axis.set_title("Accuracy per class")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def plot_confusion_matrix(matrix: np.ndarray, normalized: bool) -> Figure:
    """Heatmap of a confusion matrix (rows true, columns predicted) with each cell's value written in."""
    figure, axis = plt.subplots(figsize=(7.5, 6.5))
    image = axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalized else None)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    names = CLASSES[: len(matrix)]
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    threshold = (1.0 if normalized else matrix.max()) / 2
    for row in range(len(matrix)):
        for column in range(len(matrix)):
            value = matrix[row, column]
            text = f"{value:.2f}" if normalized else f"{int(value)}"
            axis.text(column, row, text, ha="center", va="center", fontsize=7, color="white" if value > threshold else "black")
    axis.set_title("Confusion matrix, each row sums to 1" if normalized else "Confusion matrix (counts)")
    figure.tight_layout()
    return figure


def plot_confused_pairs(pairs: list[ConfusedPair], galleries: list[np.ndarray], confidences: list[np.ndarray]) -> Figure:
    """Draw one row per confused pair: its label, then its images (float RGB) titled with their confidence."""
    if not pairs:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.text(0.5, 0.5, "no confusions", ha="center", va="center")
        axis.axis("off")
        return figure
    columns = max(1, max(len(gallery) for gallery in galleries))
    figure, axes = plt.subplots(len(pairs), columns, figsize=(1.9 * columns + 1.5, 2.1 * len(pairs)), squeeze=False)
    for row, (pair, gallery, confidence) in enumerate(zip(pairs, galleries, confidences)):
        for column, axis in enumerate(axes[row]):
            axis.axis("off")
            if column < len(gallery):
                axis.imshow(gallery[column], interpolation="nearest")
                axis.set_title(f"{confidence[column]:.0%}", fontsize=8)
        label = f"{CLASSES[pair.true_class]} → {CLASSES[pair.predicted_class]}\n{pair.count} images ({pair.share:.1%})"
        axes[row][0].text(-0.15, 0.5, label, transform=axes[row][0].transAxes, ha="right", va="center", fontsize=9)
    figure.suptitle("Most frequent confusions (true → predicted), most confident first")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))  # room for the suptitle
    return figure
