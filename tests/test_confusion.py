"""Confusion matrix, per-class accuracy, confused pairs and the sorted mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litcifar.analysis.confusion import confusion_counts, normalize_rows, per_class_accuracy, top_confused_pairs
from litcifar.analysis.predictions import Predictions, count_correct, incorrect_predictions


def _one_hot_predictions(predicted: list[int], targets: list[int], num_classes: int = 4, confidence: list[float] | None = None) -> Predictions:
    probs = np.full((len(predicted), num_classes), 0.0)
    confidence = confidence or [0.9] * len(predicted)
    for row, (label, value) in enumerate(zip(predicted, confidence)):
        probs[row] = (1 - value) / (num_classes - 1)
        probs[row, label] = value
    return Predictions(probs, np.asarray(targets))


def test_confusion_counts_rows_are_true_classes():
    predictions = _one_hot_predictions(predicted=[0, 1, 1, 2, 0, 1], targets=[0, 0, 1, 2, 2, 2])
    expected = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(confusion_counts(predictions), expected)


def test_normalized_rows_sum_to_one_or_zero():
    counts = np.array([[3, 1], [0, 0]])
    normalized = normalize_rows(counts)
    np.testing.assert_allclose(normalized, [[0.75, 0.25], [0.0, 0.0]])


def test_per_class_accuracy_nan_for_empty_class():
    accuracy = per_class_accuracy(np.array([[3, 1, 0], [2, 2, 0], [0, 0, 0]]))
    np.testing.assert_allclose(accuracy[:2], [0.75, 0.5])
    assert np.isnan(accuracy[2])


def test_top_pairs_largest_first_without_zeros():
    counts = np.array([[5, 4, 0], [1, 5, 0], [0, 7, 5]])
    pairs = top_confused_pairs(counts, limit=10)
    assert [(p.true_class, p.predicted_class, p.count) for p in pairs] == [(2, 1, 7), (0, 1, 4), (1, 0, 1)]
    assert pairs[0].share == pytest.approx(7 / 12)


def test_top_pairs_limit():
    counts = np.array([[5, 4, 3], [2, 5, 1], [0, 7, 5]])
    assert len(top_confused_pairs(counts, limit=2)) == 2
    assert top_confused_pairs(counts, limit=0) == []


def test_incorrect_predictions_sorted_by_confidence():
    predictions = _one_hot_predictions(
        predicted=[1, 0, 2, 3, 1], targets=[0, 0, 1, 3, 2], confidence=[0.5, 0.9, 0.8, 0.7, 0.8]
    )
    mistakes = incorrect_predictions(predictions)
    np.testing.assert_array_equal(mistakes.indices, [2, 4, 0])  # 0.8, 0.8 (dataset order kept), 0.5
    np.testing.assert_array_equal(mistakes.targets, [1, 2, 0])
    np.testing.assert_array_equal(mistakes.predicted, [2, 1, 1])
    np.testing.assert_allclose(mistakes.confidence, [0.8, 0.8, 0.5])
    assert len(mistakes.head(2)) == 2
    assert len(mistakes.head(100)) == 3


def test_count_correct_on_logits_and_probabilities():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.5]])
    targets = torch.tensor([0, 0, 0])
    assert count_correct(logits, targets) == 2
    assert count_correct(logits.softmax(dim=1).numpy(), targets.numpy()) == 2
    with pytest.raises(ValueError, match="outputs must be"):
        count_correct(logits, torch.tensor([0, 1]))
