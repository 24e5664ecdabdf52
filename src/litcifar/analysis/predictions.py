"""Predictions of a classifier on a dataset, and the views of them the analysis needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader


@dataclass(frozen=True)
class Predictions:
    """Class probabilities (N, C) and true labels (N,) for N images in dataset order."""

    probs: np.ndarray
    targets: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class."""
        return self.probs.max(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.targets).mean())

    def count_correct(self) -> int:
        return int((self.predicted == self.targets).sum())

    def misclassified_indices(self) -> np.ndarray:
        """Dataset indices of the wrong predictions, in dataset order."""
        return np.flatnonzero(self.predicted != self.targets)


@torch.inference_mode()
def collect_predictions(model: nn.Module, loader: DataLoader, device: torch.device | str | None = None) -> Predictions:
    """Run `model` over a loader of (images, targets) in eval mode and gather softmax outputs.

    Images go to `device`, by default the device of the model's parameters. The model's
    training flag is restored afterwards. A CifarClassifier runs with its test-time
    augmentation (`evaluation_logits`), as in `litcifar test`.
    """
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    forward = getattr(model, "evaluation_logits", model)
    probs, targets = [], []
    try:
        for images, labels in loader:
            logits = forward(images.to(device))
            probs.append(logits.float().softmax(dim=1).cpu())
            targets.append(labels.cpu())
    finally:
        model.train(was_training)
    return Predictions(torch.cat(probs).numpy(), torch.cat(targets).numpy())


@dataclass(frozen=True)
class Mistakes:
    """Wrong predictions, most confident first: dataset indices, true and predicted classes, confidence."""

    indices: np.ndarray
    targets: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def head(self, count: int) -> Mistakes:
        """Return the first `count` mistakes (all of them when fewer exist)."""
        return Mistakes(self.indices[:count], self.targets[:count], self.predicted[:count], self.confidence[:count])


def incorrect_predictions(predictions: Predictions) -> Mistakes:
    """Return the wrong predictions sorted by confidence, highest first; ties keep dataset order."""
    wrong = predictions.misclassified_indices()
    order = np.argsort(-predictions.confidence[wrong], kind="stable")
    indices = wrong[order]
    return Mistakes(indices, predictions.targets[indices], predictions.predicted[indices], predictions.confidence[indices])


def count_correct(outputs: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray) -> int:
    """Count rows of `outputs` (N, C), logits or probabilities, whose argmax equals `targets` (N,)."""
    outputs = torch.as_tensor(outputs)
    targets = torch.as_tensor(targets)
    if outputs.ndim != 2 or len(outputs) != len(targets):
        raise ValueError(f"outputs must be (N, C) with N = len(targets) = {len(targets)}, got shape {tuple(outputs.shape)}")
    return int((outputs.argmax(dim=1) == targets.to(outputs.device)).sum())
