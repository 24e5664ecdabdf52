"""Classify user image files with a trained model: top-k CSV rows and optional Grad-CAM overlays."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from litcifar.analysis.gradcam import compute_gradcam
from litcifar.analysis.plots import overlay_heatmaps
from litcifar.analysis.image_batches import normalize_images
from litcifar.data.arrays import CLASSES

if TYPE_CHECKING:
    from litcifar.training.module import CifarClassifier

logger = logging.getLogger(__name__)

OVERLAY_SIZE = 128  # pixels per side of each saved overlay (the 32x32 input scaled up 4x)


def classify_images(model: CifarClassifier, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Return class probabilities (N, C) for uint8 RGB images (N, 32, 32, 3), in eval mode without gradients,
    with the model's test-time augmentation."""
    model.eval()
    device = next(model.parameters()).device
    probabilities = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            inputs = normalize_images(images[start : start + batch_size]).to(device)
            probabilities.append(model.evaluation_logits(inputs).float().softmax(dim=1).cpu())
    if not probabilities:
        return np.zeros((0, len(CLASSES)), dtype=np.float32)
    return torch.cat(probabilities).numpy()


def write_predictions_csv(path: Path, files: list[Path], probabilities: np.ndarray, top_k: int) -> Path:
    """Write one row per file: path, then class_1, prob_1 ... class_k, prob_k, most probable first."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
    header = ["path"] + [column for rank in range(1, top_k + 1) for column in (f"class_{rank}", f"prob_{rank}")]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for file, ranked, row in zip(files, order, probabilities):
            cells = [str(file)]
            for index in ranked:
                cells += [CLASSES[index], f"{row[index]:.6f}"]
            writer.writerow(cells)
    return path


def save_gradcam_overlays(
    network: torch.nn.Module, images: np.ndarray, files: list[Path], predicted: np.ndarray, out_dir: Path, layer: str, method: str
) -> list[Path]:
    """Save one PNG per image, `<n>-<file stem>-<class>.png`: Grad-CAM of the predicted class over the 32x32 input."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = normalize_images(images) if len(images) else torch.zeros(0, 3, 32, 32)
    heatmaps = compute_gradcam(network, inputs, predicted, layer=layer, method=method)
    blended = overlay_heatmaps(images.astype(np.float32) / 255.0, heatmaps)
    written = []
    for number, (file, overlay, label) in enumerate(zip(files, blended, predicted), start=1):
        target = out_dir / f"{number:04d}-{file.stem}-{CLASSES[label]}.png"
        pixels = Image.fromarray(np.rint(overlay * 255).astype(np.uint8))
        pixels.resize((OVERLAY_SIZE, OVERLAY_SIZE), Image.Resampling.NEAREST).save(target)
        written.append(target)
    logger.info("wrote %d Grad-CAM overlays (%s on %s) to %s", len(written), method, layer, out_dir)
    return written
