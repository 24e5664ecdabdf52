"""Gallery and Grad-CAM of the first N wrong test predictions, written into a run folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from litcifar.analysis.gradcam import CAM_METHODS, compute_gradcam
from litcifar.analysis.plots import plot_gradcam, plot_misclassified, save_figure
from litcifar.analysis.predictions import Predictions
from litcifar.errors import InvalidSettingError
from litcifar.transforms import build_eval_transform, denormalize

logger = logging.getLogger(__name__)


@dataclass
class AnalysisOptions:
    """Settings of the end-of-fit analysis.

    Args:
        num_images: wrong predictions shown, the first N in test-set order.
        layer: layer whose activations Grad-CAM explains; default the model's last block
            (layer3 for custom_resnet, layer4 for resnet18). Dotted paths reach deeper.
        method: CAM method: gradcam, gradcam++, layercam or eigencam.
        columns: images per row of the grids.
        image_weight: weight of the image under the heatmap, in [0, 1].
    """

    num_images: int = 20
    layer: str | None = None
    method: str = "gradcam"
    columns: int = 5
    image_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.num_images < 0:
            raise InvalidSettingError(f"analysis.num_images must be >= 0, got {self.num_images}")
        if self.columns < 1:
            raise InvalidSettingError(f"analysis.columns must be >= 1, got {self.columns}")
        if self.method not in CAM_METHODS:
            raise InvalidSettingError(f"unknown analysis.method {self.method!r}: choose one of {', '.join(CAM_METHODS)}")
        if not 0.0 <= self.image_weight <= 1.0:
            raise InvalidSettingError(f"analysis.image_weight must be in [0, 1], got {self.image_weight}")


def normalize_images(images: np.ndarray) -> torch.Tensor:
    """Turn uint8 RGB images (N, 32, 32, 3) into the normalised (N, 3, 32, 32) batch the model takes."""
    transform = build_eval_transform()
    return torch.stack([transform(image=image)["image"] for image in images])


def draw_wrong_predictions(
    network: torch.nn.Module,
    predictions: Predictions,
    test_images: np.ndarray,
    options: AnalysisOptions,
    out_dir: Path,
) -> dict:
    """Write misclassified.png and gradcam.png for the first `options.num_images` mistakes.

    `network` is the bare model (not the LightningModule), `test_images` the uint8 test
    images in the same order as `predictions`. Returns the figures' settings for metrics.json.
    """
    wrong = predictions.misclassified_indices()
    shown_indices = wrong[: options.num_images]
    layer = options.layer or network.default_cam_layer
    inputs = normalize_images(test_images[shown_indices]) if len(shown_indices) else torch.zeros(0, 3, 32, 32)
    display = denormalize(inputs.numpy())
    targets = predictions.targets[shown_indices]
    predicted = predictions.predicted[shown_indices]
    confidence = predictions.confidence[shown_indices]

    figure = plot_misclassified(display, targets, predicted, confidence, columns=options.columns)
    save_figure(figure, out_dir / "misclassified.png")

    heatmaps = compute_gradcam(network, inputs, predicted, layer=layer, method=options.method)
    figure = plot_gradcam(
        display, heatmaps, targets, predicted, confidence, layer=layer, columns=options.columns, image_weight=options.image_weight
    )
    save_figure(figure, out_dir / "gradcam.png")
    logger.info("drew %d of %d wrong predictions with %s on %s", len(shown_indices), len(wrong), options.method, layer)
    return {"shown": int(len(shown_indices)), "cam_layer": layer, "cam_method": options.method}
