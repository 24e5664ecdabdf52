"""write_analysis on real CIFAR-10 images with a small untrained network: files, records, odd gallery sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.predictions import Predictions, collect_predictions
from litcifar.analysis.run_analysis import _display_images, write_analysis
from litcifar.data.arrays import CLASSES
from litcifar.errors import InvalidSettingError
from litcifar.models import create_model

FIGURES = (
    "per_class_accuracy.png",
    "confusion_matrix.png",
    "confusion_matrix_normalized.png",
    "confused_pairs.png",
    "misclassified.png",
    "gradcam.png",
    "faithfulness.png",
    "class_samples.png",
    "augmentation.png",
    "curves.png",
)
@pytest.mark.parametrize("name", FIGURES + ("analysis.json", "report.html"))
def test_file_written(analysis_run, name):
    out_dir, _, _, _ = analysis_run
    assert (out_dir / name).is_file(), f"{name} missing"
    assert (out_dir / name).stat().st_size > 1000


def test_record_matches_predictions(analysis_run):
    out_dir, record, predictions, _ = analysis_run
    saved = json.loads((out_dir / "analysis.json").read_text())
    assert saved["test_images"] == 120
    assert saved["misclassified_count"] == len(predictions.misclassified_indices())
    counts = np.array(saved["confusion_matrix"])
    assert counts.sum() == 120
    assert np.trace(counts) == predictions.count_correct()
    assert saved["per_class_accuracy"].keys() == set(CLASSES)
    assert saved["test_acc"] == pytest.approx(predictions.accuracy)


def test_misclassified_sorted_and_correct(analysis_run):
    _, record, predictions, _ = analysis_run
    shown = record["misclassified"]
    assert len(shown) == 7
    confidences = [item["confidence"] for item in shown]
    assert confidences == sorted(confidences, reverse=True)
    for item in shown:
        assert CLASSES[predictions.targets[item["index"]]] == item["true"]
        assert CLASSES[predictions.predicted[item["index"]]] == item["predicted"]
        assert item["true"] != item["predicted"]


def test_confused_pairs_match_matrix(analysis_run):
    _, record, _, _ = analysis_run
    counts = np.array(record["confusion_matrix"])
    for pair in record["top_confused_pairs"]:
        assert counts[CLASSES.index(pair["true"]), CLASSES.index(pair["predicted"])] == pair["count"]
    listed = [pair["count"] for pair in record["top_confused_pairs"]]
    assert listed == sorted(listed, reverse=True)


def test_faithfulness_recorded(analysis_run):
    _, record, _, _ = analysis_run
    faithfulness = record["faithfulness"]
    assert faithfulness["percents"] == [10.0, 30.0]
    assert set(faithfulness["mean_drop"]) == {"gradcam", "gradcam++", "layercam", "eigencam", "random pixels", "random blobs"}


def test_model_state_after_analysis(analysis_run):
    _, _, _, network = analysis_run
    assert network.training is True
    assert all(p.requires_grad for p in network.parameters())
    assert torch.is_grad_enabled()


def test_display_images_keep_rgb_colours(cifar):
    indices = np.array([0, 5, 9])
    _, display = _display_images(cifar.test_images, indices)
    np.testing.assert_allclose(display, cifar.test_images[indices] / 255.0, atol=1e-4)


@pytest.fixture(scope="module")
def setup_30_images(small_datamodule):
    """An untrained network and its predictions on the first 30 test images, so galleries stay small."""
    torch.manual_seed(0)
    network = create_model("custom_resnet", width=0.125)
    datamodule = small_datamodule(30)
    return network, datamodule, collect_predictions(network, datamodule.test_dataloader())


@pytest.mark.parametrize("num_images", [0, 1, 7, 13, 10_000])
def test_odd_gallery_sizes(setup_30_images, tmp_path, num_images):
    network, datamodule, predictions = setup_30_images
    options = AnalysisOptions(num_images=num_images, columns=4, top_pairs=2, faithfulness_images=0, samples_per_class=1, augmented_images=1, augmented_copies=1)
    record = write_analysis(network, predictions, datamodule, options, tmp_path)
    mistakes = len(predictions.misclassified_indices())
    assert len(record["misclassified"]) == min(num_images, mistakes)
    assert record["faithfulness"] is None
    for name in ("misclassified.png", "gradcam.png", "report.html"):
        assert (tmp_path / name).is_file()


@pytest.mark.parametrize(("name", "layer"), [("custom_resnet", "layer1"), ("resnet18", "layer2"), ("resnet18", None)])
def test_both_models_and_layers(small_datamodule, tmp_path, name, layer):
    torch.manual_seed(0)
    network = create_model(name, width=0.125)
    datamodule = small_datamodule(40)
    predictions = collect_predictions(network, datamodule.test_dataloader())
    options = AnalysisOptions(num_images=3, layer=layer, method="layercam", top_pairs=1, faithfulness_images=4, faithfulness_methods=("gradcam",), samples_per_class=1, augmented_images=1, augmented_copies=1)
    record = write_analysis(network, predictions, datamodule, options, tmp_path)
    assert record["cam"]["layer"] == (layer or network.default_cam_layer)
    assert (tmp_path / "gradcam.png").is_file()


def test_more_predictions_than_images_rejected(analysis_setup, tmp_path):
    network, datamodule, predictions = analysis_setup
    longer = Predictions(np.concatenate([predictions.probs] * 2), np.concatenate([predictions.targets] * 2))
    with pytest.raises(ValueError, match="240 predictions for 120 test images"):
        write_analysis(network, longer, datamodule, AnalysisOptions(), tmp_path)


def test_limited_test_pass_analyses_first_images(analysis_setup, tmp_path):
    network, datamodule, predictions = analysis_setup
    shorter = Predictions(predictions.probs[:30], predictions.targets[:30])
    record = write_analysis(network, shorter, datamodule, AnalysisOptions(num_images=3), tmp_path)
    assert record["test_images"] == 30


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"num_images": -1}, "num_images must be >= 0"),
        ({"method": "scorecam"}, "unknown analysis.method 'scorecam'"),
        ({"faithfulness_methods": ("gradcam", "bogus")}, "unknown CAM method 'bogus' in analysis.faithfulness_methods"),
        ({"faithfulness_percents": (10.0, 100.0)}, "faithfulness_percents must each be in \\(0, 100\\), got 100"),
        ({"image_weight": 1.5}, "image_weight must be in \\[0, 1\\]"),
        ({"columns": 0}, "columns must be >= 1"),
    ],
)
def test_invalid_options_rejected(settings, message):
    with pytest.raises(InvalidSettingError, match=message):
        AnalysisOptions(**settings)
