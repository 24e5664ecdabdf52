"""Write the whole analysis of a trained model into a folder: figures, analysis.json and report.html.

`litcifar analyze` and the end of `litcifar fit` both call `write_analysis`.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from litcifar.analysis.cam_plots import plot_cam_predicted_vs_true, plot_faithfulness
from litcifar.analysis.confusion import (
    confusion_counts,
    normalize_rows,
    per_class_accuracy,
    top_confused_pairs,
)
from litcifar.analysis.confusion_plots import (
    plot_confused_pairs,
    plot_confusion_matrix,
    plot_per_class_accuracy,
)
from litcifar.analysis.dataset_plots import plot_augmentations, plot_class_samples
from litcifar.analysis.dataset_views import augmented_copies, class_samples
from litcifar.analysis.faithfulness import measure_faithfulness
from litcifar.analysis.gradcam import check_cam_layer, compute_gradcam
from litcifar.analysis.image_batches import normalize_images
from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.plots import (
    plot_curves,
    plot_misclassified,
    read_epoch_metrics,
    save_figure,
)
from litcifar.analysis.predictions import Mistakes, Predictions, incorrect_predictions
from litcifar.data.arrays import CLASSES
from litcifar.data.datamodule import Cifar10DataModule
from litcifar.report import write_report
from litcifar.run_folder import write_json
from litcifar.transforms import build_train_transform, denormalize

logger = logging.getLogger(__name__)


def _display_images(test_images: np.ndarray, indices: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Return the normalised batch of the images at `indices` and the same images de-normalised to float RGB."""
    inputs = normalize_images(test_images[indices])
    return inputs, denormalize(inputs.numpy())


def _write_confusion(predictions: Predictions, out_dir: Path) -> tuple[np.ndarray, dict[str, Any]]:
    counts = confusion_counts(predictions)
    accuracy = per_class_accuracy(counts)
    save_figure(plot_per_class_accuracy(accuracy, predictions.accuracy), out_dir / "per_class_accuracy.png")
    save_figure(plot_confusion_matrix(counts, normalized=False), out_dir / "confusion_matrix.png")
    save_figure(plot_confusion_matrix(normalize_rows(counts), normalized=True), out_dir / "confusion_matrix_normalized.png")
    record = {
        "per_class_accuracy": {CLASSES[i]: float(value) for i, value in enumerate(accuracy)},
        "confusion_matrix": counts.tolist(),
    }
    return counts, record


def _write_confused_pairs(counts: np.ndarray, mistakes: Mistakes, test_images: np.ndarray, options: AnalysisOptions, out_dir: Path) -> list[dict]:
    pairs = top_confused_pairs(counts, options.top_pairs)
    galleries, confidences = [], []
    for pair in pairs:
        members = (mistakes.targets == pair.true_class) & (mistakes.predicted == pair.predicted_class)
        indices = mistakes.indices[members][: options.pair_images]
        galleries.append(_display_images(test_images, indices)[1])
        confidences.append(mistakes.confidence[members][: options.pair_images])
    save_figure(plot_confused_pairs(pairs, galleries, confidences), out_dir / "confused_pairs.png")
    return [
        {"true": CLASSES[p.true_class], "predicted": CLASSES[p.predicted_class], "count": p.count, "share_of_true_class": p.share}
        for p in pairs
    ]


def _write_mistakes(network: nn.Module, mistakes: Mistakes, test_images: np.ndarray, layer: str, options: AnalysisOptions, out_dir: Path) -> list[dict]:
    # NOTE: Grad-CAM runs on the whole gallery with no progress line, so thousands of images take minutes on a CPU.
    gallery = mistakes.head(options.num_images)
    inputs, display = _display_images(test_images, gallery.indices)
    figure = plot_misclassified(display, gallery.targets, gallery.predicted, gallery.confidence, columns=options.columns)
    save_figure(figure, out_dir / "misclassified.png")

    predicted_maps = compute_gradcam(network, inputs, gallery.predicted, layer=layer, method=options.method)
    true_maps = compute_gradcam(network, inputs, gallery.targets, layer=layer, method=options.method)
    title = f"{options.method} on {layer}: where the model looked for what it said, and for the truth"
    figure = plot_cam_predicted_vs_true(
        display, predicted_maps, true_maps, gallery.targets, gallery.predicted, gallery.confidence, title,
        groups_per_row=max(1, options.columns // 2), image_weight=options.image_weight,
    )
    save_figure(figure, out_dir / "gradcam.png")
    return [
        {"index": int(i), "true": CLASSES[t], "predicted": CLASSES[p], "confidence": float(c)}
        for i, t, p, c in zip(gallery.indices, gallery.targets, gallery.predicted, gallery.confidence)
    ]


def _write_faithfulness(network: nn.Module, predictions: Predictions, test_images: np.ndarray, layer: str, options: AnalysisOptions, out_dir: Path) -> dict | None:
    count = min(options.faithfulness_images, len(test_images))
    if count == 0 or not options.faithfulness_methods or not options.faithfulness_percents:
        return None
    inputs = normalize_images(test_images[:count])
    result = measure_faithfulness(
        network, inputs, predictions.predicted[:count], layer, list(options.faithfulness_methods), list(options.faithfulness_percents)
    )
    save_figure(plot_faithfulness(result), out_dir / "faithfulness.png")
    return result.as_dict()


def _write_dataset_views(datamodule: Cifar10DataModule, options: AnalysisOptions, out_dir: Path) -> None:
    train_set = datamodule.train_set
    if train_set is None:
        logger.warning("no training set loaded: skipping class_samples.png and augmentation.png")
        return
    images, labels = class_samples(train_set.images, train_set.labels, options.samples_per_class)
    save_figure(plot_class_samples(images, labels), out_dir / "class_samples.png")

    settings = datamodule.hparams
    transform = build_train_transform(
        pad=settings.pad, pad_mode=settings.pad_mode, flip_p=settings.flip_p, cutout_size=settings.cutout_size, normalize=False
    )
    originals = images[:: max(1, options.samples_per_class)][: options.augmented_images]
    copies = augmented_copies(originals, transform, options.augmented_copies)
    description = (
        f"pad {settings.pad} px ({settings.pad_mode}) and random 32x32 crop, horizontal flip p={settings.flip_p:g}, "
        f"{settings.cutout_size}x{settings.cutout_size} cutout"
    )
    save_figure(plot_augmentations(originals, copies, description), out_dir / "augmentation.png")


def _write_training_views(run_dir: Path, out_dir: Path, val_label: str) -> None:
    metrics_csv = run_dir / "metrics.csv"
    if metrics_csv.is_file():
        save_figure(plot_curves(read_epoch_metrics(metrics_csv), val_label=val_label), out_dir / "curves.png")
    lr_find = run_dir / "lr_find.png"
    if lr_find.is_file() and lr_find.resolve() != (out_dir / "lr_find.png").resolve():
        shutil.copyfile(lr_find, out_dir / "lr_find.png")


def write_analysis(
    network: nn.Module,
    predictions: Predictions,
    datamodule: Cifar10DataModule,
    options: AnalysisOptions,
    out_dir: Path,
    run_dir: Path | None = None,
) -> dict[str, Any]:
    """Write every figure, analysis.json and report.html of `network` on the test set into `out_dir`.

    `network` is the bare model (not the LightningModule), `predictions` its test-set
    predictions in dataset order, `datamodule` already set up. `run_dir` (default
    `out_dir`) is the run folder whose metrics.csv, lr_find.png, metrics.json and
    config.yaml are drawn and copied into the report. Returns the analysis.json record.
    """
    start = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(run_dir) if run_dir is not None else out_dir
    test_images = datamodule.test_set.images
    if len(predictions.targets) > len(test_images):
        raise ValueError(f"{len(predictions.targets)} predictions for {len(test_images)} test images: there cannot be more")
    if len(predictions.targets) < len(test_images):
        # A limited test pass (--trainer.limit_test_batches) covers the first images in order.
        logger.warning("the analysis covers the first %d of %d test images: the test pass was limited", len(predictions.targets), len(test_images))
        test_images = test_images[: len(predictions.targets)]
    layer = options.layer or network.default_cam_layer
    check_cam_layer(network, layer)

    stage_seconds: dict[str, float] = {}
    stage_start = time.monotonic()

    def finish_stage(name: str) -> None:
        nonlocal stage_start
        now = time.monotonic()
        stage_seconds[name] = round(now - stage_start, 2)
        stage_start = now

    counts, record = _write_confusion(predictions, out_dir)
    mistakes = incorrect_predictions(predictions)
    record["test_acc"] = predictions.accuracy
    record["test_images"] = len(predictions.targets)
    record["misclassified_count"] = len(mistakes)
    record["top_confused_pairs"] = _write_confused_pairs(counts, mistakes, test_images, options, out_dir)
    finish_stage("confusion")
    record["misclassified"] = _write_mistakes(network, mistakes, test_images, layer, options, out_dir)
    record["cam"] = {"layer": layer, "method": options.method, "image_weight": options.image_weight}
    finish_stage("misclassified_and_gradcam")
    record["faithfulness"] = _write_faithfulness(network, predictions, test_images, layer, options, out_dir)
    finish_stage("faithfulness")
    _write_dataset_views(datamodule, options, out_dir)
    val_source = "test set" if datamodule.validates_on_test_set else "held-out training images"
    _write_training_views(run_dir, out_dir, f"validation ({val_source})")
    finish_stage("dataset_and_training_views")

    record["analysis_seconds"] = round(time.monotonic() - start, 2)
    record["stage_seconds"] = stage_seconds
    record["files"] = sorted(path.name for path in out_dir.glob("*.png"))
    write_json(out_dir / "analysis.json", record)
    write_report(out_dir, record, _read_metrics(run_dir), _read_text(run_dir / "config.yaml"))
    logger.info(
        "analysis: %d of %d wrong predictions drawn with %s on %s, report in %s (%.0f s)",
        len(record["misclassified"]), len(mistakes), options.method, layer, out_dir / "report.html", record["analysis_seconds"],
    )
    return record


def _read_metrics(run_dir: Path) -> dict | None:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _read_text(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None
