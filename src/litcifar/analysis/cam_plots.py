"""Figures of CAM heatmaps: predicted against true class, and their faithfulness against random removal."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from litcifar.analysis.faithfulness import BASELINES, FaithfulnessResult
from litcifar.analysis.plots import overlay_heatmaps
from litcifar.data.arrays import CLASSES


def plot_cam_predicted_vs_true(
    images: np.ndarray,
    predicted_maps: np.ndarray,
    true_maps: np.ndarray,
    targets: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    title: str,
    groups_per_row: int = 2,
    image_weight: float = 0.5,
) -> Figure:
    """Draw each image next to its heatmap for the predicted class and for the true class.

    Images are float RGB (N, H, W, 3) in [0, 1]; heatmaps (N, H, W) in [0, 1].
    """
    if len(images) == 0:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.text(0.5, 0.5, "no images to show", ha="center", va="center")
        axis.axis("off")
        return figure
    predicted_overlays = overlay_heatmaps(images, predicted_maps, image_weight)
    true_overlays = overlay_heatmaps(images, true_maps, image_weight)
    groups_per_row = max(1, min(groups_per_row, len(images)))
    rows = math.ceil(len(images) / groups_per_row)
    figure, axes = plt.subplots(rows, 3 * groups_per_row, figsize=(6.3 * groups_per_row, 2.3 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for index in range(len(images)):
        row, group = divmod(index, groups_per_row)
        cells = axes[row][3 * group : 3 * group + 3]
        panels = (
            (images[index], f"true {CLASSES[targets[index]]}\npred {CLASSES[predicted[index]]} {confidence[index]:.0%}"),
            (predicted_overlays[index], f"CAM for {CLASSES[predicted[index]]}\n(predicted)"),
            (true_overlays[index], f"CAM for {CLASSES[targets[index]]}\n(true)"),
        )
        for axis, (panel, label) in zip(cells, panels):
            axis.imshow(panel, interpolation="nearest")
            axis.set_title(label, fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.45 / figure.get_figheight()))  # room for the suptitle
    return figure


def plot_faithfulness(result: FaithfulnessResult) -> Figure:
    """Plot the mean confidence drop against the share of pixels removed, each CAM method against the random baselines."""
    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    for name, drops in result.mean_drop.items():
        errors = np.asarray(result.standard_error[name])
        if name == "random pixels":
            style = {"linestyle": "--", "color": "gray"}
        elif name in BASELINES:
            style = {"linestyle": "--", "color": "black"}
        else:
            style = {"marker": "o"}
        axis.errorbar(result.percents, drops, yerr=errors, label=name, capsize=3, **style)
    axis.set_xlabel("pixels replaced by the mean colour (% of the image, highest-ranked first)")
    axis.set_ylabel("mean drop in predicted-class probability")
    axis.set_title(f"CAM faithfulness on {result.num_images} test images ({result.layer}); higher is better")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
