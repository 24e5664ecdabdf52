"""Confusion matrix, per-class accuracy and the most frequent confusions of a set of predictions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from litcifar.analysis.predictions import Predictions


def confusion_counts(predictions: Predictions) -> np.ndarray:
    """Return the (C, C) confusion matrix of counts: row = true class, column = predicted class."""
    num_classes = predictions.probs.shape[1]
    matrix = multiclass_confusion_matrix(
        torch.as_tensor(predictions.predicted), torch.as_tensor(predictions.targets), num_classes=num_classes
    )
    return matrix.numpy().astype(np.int64)


def normalize_rows(counts: np.ndarray) -> np.ndarray:
    """Divide each row by its sum, so row i is the distribution of predictions for true class i; empty rows stay 0."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def per_class_accuracy(counts: np.ndarray) -> np.ndarray:
    """Return the recall of each class (diagonal over row sum); NaN for a class with no images."""
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan)


@dataclass(frozen=True)
class ConfusedPair:
    """A true class mistaken for a predicted class `count` times, `share` of the true class's images."""

    true_class: int
    predicted_class: int
    count: int
    share: float


def top_confused_pairs(counts: np.ndarray, limit: int) -> list[ConfusedPair]:
    """Return the `limit` largest off-diagonal cells, largest first; pairs with no mistakes are left out."""
    off_diagonal = counts.copy()
    np.fill_diagonal(off_diagonal, 0)
    flat_order = np.argsort(-off_diagonal, axis=None, kind="stable")
    totals = counts.sum(axis=1)
    pairs = []
    for flat_index in flat_order[:limit]:
        true_class, predicted_class = np.unravel_index(flat_index, counts.shape)
        count = int(off_diagonal[true_class, predicted_class])
        if count == 0:
            break
        pairs.append(ConfusedPair(int(true_class), int(predicted_class), count, count / int(totals[true_class])))
    return pairs
