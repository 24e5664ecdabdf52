"""Faithfulness of CAM heatmaps: does removing the pixels a CAM ranks highest hurt the prediction
more than removing as many random pixels?

For each percentage k, the top-k % pixels of each heatmap are replaced by the training-set
mean colour (0 after normalisation) and the drop in the softmax probability of the
predicted class is measured. Two baselines remove as many pixels at random: scattered
single pixels, and random blobs (uniform noise at the layer's feature-map resolution,
upsampled bilinearly like a CAM). Scattered holes hurt a CNN more than one region of the
same area, so the blob baseline is the fair one: a CAM whose curve lies on it explains
nothing.

pytorch-grad-cam 1.5.7's `PerturbationConfidenceMetric` with `RemoveMostRelevantFirst`
does the masking and scoring. Its ROAD metrics fill the removed pixels by neighbour
interpolation, not the mean colour, so they are not used here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import PerturbationConfidenceMetric, RemoveMostRelevantFirst
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from litcifar.analysis.gradcam import check_cam_layer, compute_gradcam
from litcifar.errors import InvalidSettingError

# Added to heatmaps before ranking: Grad-CAM maps are often 0 on large areas (ReLU), and
# np.percentile on tied values would remove far more or fewer pixels than k %.
TIE_BREAK_SCALE = 1e-6


def replace_with_mean(image: torch.Tensor, keep_mask: torch.Tensor) -> torch.Tensor:
    """Set the pixels where `keep_mask` is 0 to the normalised mean colour, 0 in every channel."""
    return image * keep_mask.to(image.dtype)


def class_probabilities(model: nn.Module, images: torch.Tensor, classes: np.ndarray) -> np.ndarray:
    """Return the softmax probability of `classes` for each image, with the model in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probabilities = model(images).float().softmax(dim=1)
    finally:
        model.train(was_training)
    rows = torch.arange(len(images), device=probabilities.device)
    return probabilities[rows, torch.as_tensor(classes, device=probabilities.device)].cpu().numpy().astype(np.float64)


def confidence_drop(
    model: nn.Module,
    images: torch.Tensor,
    heatmaps: np.ndarray,
    classes: np.ndarray,
    percent: float,
    seed: int = 0,
    before: np.ndarray | None = None,
) -> np.ndarray:
    """Return, per image, the softmax probability of `classes` before minus after removing the top `percent` % pixels.

    `images` are normalised (N, 3, H, W) on the model's device, `heatmaps` (N, H, W).
    `before` contains the probabilities of the intact images when already known. The model
    runs in eval mode, and its training flag is restored afterwards.
    """
    if not 0 < percent < 100:
        raise InvalidSettingError(f"faithfulness percentages must be in (0, 100), got {percent}")
    if before is None:
        before = class_probabilities(model, images, classes)
    rng = np.random.default_rng(seed)
    ranked = heatmaps.astype(np.float64) + TIE_BREAK_SCALE * rng.random(heatmaps.shape)
    metric = PerturbationConfidenceMetric(RemoveMostRelevantFirst(100 - percent, replace_with_mean))
    targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in classes]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            after = metric(images, ranked.astype(np.float32), targets, model, return_diff=False)
    finally:
        model.train(was_training)
    return before - np.asarray(after, dtype=np.float64).reshape(len(images))


def random_blob_maps(count: int, feature_size: tuple[int, int], image_size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Return `count` uniform noise maps of `feature_size` upsampled bilinearly to `image_size` (H, W)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((count, *feature_size)).astype(np.float32)
    height, width = image_size
    return np.stack([cv2.resize(item, (width, height), interpolation=cv2.INTER_LINEAR) for item in noise])


BASELINES = ("random pixels", "random blobs")


@dataclass
class FaithfulnessResult:
    """Mean confidence drop and its standard error per percentage, for each CAM method and each baseline."""

    percents: list[float]
    mean_drop: dict[str, list[float]]
    standard_error: dict[str, list[float]]
    num_images: int
    layer: str

    def as_dict(self) -> dict:
        return {
            "percents": self.percents,
            "num_images": self.num_images,
            "layer": self.layer,
            "mean_drop": self.mean_drop,
            "standard_error": self.standard_error,
        }


def _mean_and_error(values: np.ndarray) -> tuple[float, float]:
    error = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), error


def measure_faithfulness(
    model: nn.Module,
    images: torch.Tensor,
    classes: np.ndarray,
    layer: str,
    methods: list[str],
    percents: list[float],
    seed: int = 0,
) -> FaithfulnessResult:
    """Compare the confidence drop of each CAM method in `methods` with both random baselines, at each percentage.

    `classes` are the classes explained and scored, normally the model's predictions.
    """
    device = next(model.parameters()).device
    images = images.to(device)
    image_size = tuple(images.shape[-2:])
    feature_size = check_cam_layer(model, layer)
    maps = {
        "random pixels": np.random.default_rng(seed).random((len(images), *image_size)).astype(np.float32),
        "random blobs": random_blob_maps(len(images), feature_size, image_size, seed),
    }
    for method in methods:
        maps[method] = compute_gradcam(model, images, classes, layer=layer, method=method)
    before = class_probabilities(model, images, classes)
    result = FaithfulnessResult([float(p) for p in percents], {}, {}, len(images), layer)
    for name, heatmaps in maps.items():
        drops = [_mean_and_error(confidence_drop(model, images, heatmaps, classes, p, seed, before)) for p in percents]
        result.mean_drop[name] = [mean for mean, _ in drops]
        result.standard_error[name] = [error for _, error in drops]
    return result
