"""CAM faithfulness: removal of the ranked pixels against random removal, on a model whose evidence is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from litcifar.analysis.faithfulness import BASELINES, confidence_drop, measure_faithfulness, random_blob_maps
from litcifar.errors import InvalidSettingError
from litcifar.models import create_model


class PatchModel(nn.Module):
    """Two classes; the logit of class 0 is `scale` times the mean of channel 0 over `rows` x `columns`."""

    def __init__(self, rows: slice = slice(0, 8), columns: slice = slice(0, 8), scale: float = 10.0) -> None:
        super().__init__()
        self.rows, self.columns = rows, columns
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        evidence = images[:, 0, self.rows, self.columns].mean(dim=(1, 2)) * self.scale
        return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)


def _patch_images(count: int) -> torch.Tensor:
    images = torch.zeros(count, 3, 32, 32)
    images[:, 0, :8, :8] = 1.0
    return images


def _maps_on(rows: slice, columns: slice, count: int) -> np.ndarray:
    maps = np.zeros((count, 32, 32), dtype=np.float32)
    maps[:, rows, columns] = 1.0
    return maps


def test_cam_on_evidence_beats_random():
    model, images, classes = PatchModel(), _patch_images(4), np.zeros(4, dtype=int)
    on_evidence = confidence_drop(model, images, _maps_on(slice(0, 8), slice(0, 8), 4), classes, percent=6.25)
    random_maps = np.random.default_rng(0).random((4, 32, 32)).astype(np.float32)
    random_drop = confidence_drop(model, images, random_maps, classes, percent=6.25)
    assert on_evidence.mean() > 0.4  # the whole patch removed: p(class 0) falls from 1.0 to 0.5
    assert random_drop.mean() < on_evidence.mean() / 3


def test_cam_off_evidence_shows_no_drop():
    model, images, classes = PatchModel(), _patch_images(4), np.zeros(4, dtype=int)
    off_evidence = confidence_drop(model, images, _maps_on(slice(24, 32), slice(24, 32), 4), classes, percent=6.25)
    np.testing.assert_allclose(off_evidence, 0.0, atol=1e-6)


def test_tied_heatmap_removes_k_percent():
    # An all-zero heatmap ranks nothing: the tie-break must still remove k %, not all or no pixels.
    model = PatchModel(slice(0, 32), slice(0, 32), scale=2.0)
    images = torch.ones(8, 3, 32, 32)
    drop = confidence_drop(model, images, np.zeros((8, 32, 32), dtype=np.float32), np.zeros(8, dtype=int), percent=25)
    expected = torch.sigmoid(torch.tensor(2.0)) - torch.sigmoid(torch.tensor(2.0 * 0.75))
    np.testing.assert_allclose(drop, float(expected), atol=1e-3)


def test_training_flag_restored():
    model = PatchModel().train()
    confidence_drop(model, _patch_images(2), np.zeros((2, 32, 32), dtype=np.float32), np.zeros(2, dtype=int), percent=10)
    assert model.training is True


@pytest.mark.parametrize("percent", [0, 100, -5])
def test_percent_out_of_range_rejected(percent):
    with pytest.raises(InvalidSettingError, match="in \\(0, 100\\)"):
        confidence_drop(PatchModel(), _patch_images(1), np.zeros((1, 32, 32), dtype=np.float32), np.zeros(1, dtype=int), percent)


def test_blob_maps_smooth_and_sized():
    maps = random_blob_maps(3, (4, 4), (32, 32), seed=1)
    assert maps.shape == (3, 32, 32)
    neighbour_step = np.abs(np.diff(maps, axis=2)).max()
    assert neighbour_step < 0.2, "bilinear upsampling of a 4x4 map changes slowly between neighbours"


def test_measure_reports_every_method_and_baseline():
    torch.manual_seed(0)
    model = create_model("custom_resnet", width=0.125).eval()
    images = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        classes = model(images).argmax(dim=1).numpy()
    result = measure_faithfulness(model, images, classes, "layer3", ["gradcam", "eigencam"], [10, 30])
    assert set(result.mean_drop) == {"gradcam", "eigencam", *BASELINES}
    assert all(len(values) == 2 for values in result.mean_drop.values())
    assert all(len(values) == 2 for values in result.standard_error.values())
    assert result.as_dict()["num_images"] == 6
    assert model.training is False
