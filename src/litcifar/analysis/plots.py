"""Figures shared by the analysis: curves, image grids, heatmap overlays, saving."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from pytorch_grad_cam.utils.image import show_cam_on_image  # noqa: E402

from litcifar.data.arrays import CLASSES  # noqa: E402


def read_epoch_metrics(metrics_csv: Path) -> dict[str, dict[int, float]]:
    """Read a Lightning CSVLogger file into {metric: {epoch: value}}; step-only rows are skipped."""
    series: dict[str, dict[int, float]] = defaultdict(dict)
    with open(metrics_csv, newline="") as stream:
        for row in csv.DictReader(stream):
            epoch = row.get("epoch", "")
            if epoch == "":
                continue
            for key, value in row.items():
                if key in ("epoch", "step") or value in ("", None):
                    continue
                series[key][int(float(epoch)) + 1] = float(value)
    return dict(series)


def plot_curves(metrics: dict[str, dict[int, float]], val_label: str = "validation") -> Figure:
    """Loss and accuracy per epoch (1-based), train against validation."""
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, kind in ((loss_axis, "loss"), (acc_axis, "acc")):
        for split, label, style in (("train", "train", "o-"), ("val", val_label, "s-")):
            values = metrics.get(f"{split}_{kind}", {})
            if values:
                epochs = sorted(values)
                axis.plot(epochs, [values[e] for e in epochs], style, label=label, markersize=3)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel("cross-entropy loss" if kind == "loss" else "accuracy")
        axis.grid(alpha=0.3)
        if axis.get_lines():
            axis.legend()
        else:
            axis.text(0.5, 0.5, "no completed epoch", ha="center", va="center", transform=axis.transAxes)
    loss_axis.set_title("Loss")
    acc_axis.set_title("Accuracy")
    figure.tight_layout()
    return figure


def _grid_shape(count: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return math.ceil(count / columns), columns


def prediction_titles(targets: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> list[str]:
    return [f"true: {CLASSES[t]}\npred: {CLASSES[p]} ({c:.0%})" for t, p, c in zip(targets, predicted, confidence)]


def plot_image_grid(images: np.ndarray, titles: list[str], columns: int = 5, suptitle: str | None = None) -> Figure:
    """Show float RGB images (N, H, W, 3) in [0, 1] on a grid with one title each; empty cells hidden."""
    if len(images) == 0:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.text(0.5, 0.5, "no images to show", ha="center", va="center")
        axis.axis("off")
        return figure
    rows, columns = _grid_shape(len(images), columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.5 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index], interpolation="nearest")
            axis.set_title(titles[index], fontsize=8)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))  # room for the suptitle
    return figure


def plot_misclassified(
    images: np.ndarray, targets: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, columns: int = 5
) -> Figure:
    """Grid of wrong predictions titled true / predicted / confidence; images float RGB in [0, 1]."""
    return plot_image_grid(images, prediction_titles(targets, predicted, confidence), columns, "Misclassified test images, most confident first")


def overlay_heatmaps(images: np.ndarray, heatmaps: np.ndarray, image_weight: float = 0.5) -> np.ndarray:
    """Blend heatmaps (N, H, W) over float RGB images (N, H, W, 3); returns float RGB in [0, 1]."""
    blended = [show_cam_on_image(image, heatmap, use_rgb=True, image_weight=image_weight) for image, heatmap in zip(images, heatmaps)]
    return np.asarray(blended, dtype=np.float32).reshape(images.shape) / 255.0


def save_figure(figure: Figure, path: Path, dpi: int = 120) -> Path:
    """Write `figure` as PNG to `path` and close it, so figures do not pile up in memory."""
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return path
