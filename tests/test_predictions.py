"""Predictions: counts, wrong indices, and collection over a loader."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from litcifar.analysis.predictions import Predictions, collect_predictions
from litcifar.models import create_model


def test_views_of_predictions():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    predictions = Predictions(probs, targets=np.array([0, 1, 1, 2]))
    np.testing.assert_array_equal(predictions.predicted, [0, 2, 1, 0])
    np.testing.assert_allclose(predictions.confidence, [0.7, 0.6, 0.5, 0.4])
    assert predictions.count_correct() == 2
    assert predictions.accuracy == 0.5
    np.testing.assert_array_equal(predictions.misclassified_indices(), [1, 3])


def test_collect_matches_direct_forward_and_restores_mode():
    torch.manual_seed(0)
    model = create_model("custom_resnet", width=0.125).train()
    images, labels = torch.randn(10, 3, 32, 32), torch.randint(0, 10, (10,))
    predictions = collect_predictions(model, DataLoader(TensorDataset(images, labels), batch_size=4))
    assert model.training is True
    with torch.no_grad():
        expected = model.eval()(images).softmax(dim=1).numpy()
    np.testing.assert_allclose(predictions.probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predictions.targets, labels.numpy())
