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
def collect_predictions(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu") -> Predictions:
    """Run `model` over a loader of (images, targets) in eval mode and gather softmax outputs.

    The model's training flag is restored afterwards.
    """
    was_training = model.training
    model.eval()
    probs, targets = [], []
    try:
        for images, labels in loader:
            logits = model(images.to(device))
            probs.append(logits.float().softmax(dim=1).cpu())
            targets.append(labels.cpu())
    finally:
        model.train(was_training)
    return Predictions(torch.cat(probs).numpy(), torch.cat(targets).numpy())
