"""Shared fixtures. Tests run on the real CIFAR-10, which the package fetches and verifies itself."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from litcifar.analysis.options import AnalysisOptions  # noqa: E402
from litcifar.analysis.predictions import collect_predictions  # noqa: E402
from litcifar.analysis.run_analysis import write_analysis  # noqa: E402
from litcifar.data import Cifar10Arrays, load_cifar10  # noqa: E402
from litcifar.data.datamodule import ArrayDataset, Cifar10DataModule  # noqa: E402
from litcifar.models import create_model  # noqa: E402


@pytest.fixture(scope="session")
def cifar() -> Cifar10Arrays:
    """The verified dataset from $LITCIFAR_DATA or the user cache, fetched there if missing."""
    return load_cifar10()


@pytest.fixture(scope="session")
def sample_images(cifar: Cifar10Arrays) -> np.ndarray:
    """The first 64 training images, uint8 (64, 32, 32, 3)."""
    return cifar.train_images[:64]


# Analysis of a small untrained network, shared by the output and the browser tests.
SMALL_ANALYSIS = {"faithfulness_images": 12, "faithfulness_percents": (10.0, 30.0), "samples_per_class": 3, "augmented_images": 2, "augmented_copies": 3}


def _small_datamodule(cifar: Cifar10Arrays, test_count: int) -> Cifar10DataModule:
    """A DataModule on the cached data whose test set is the first `test_count` test images."""
    datamodule = Cifar10DataModule(train_subset=200, num_workers=0, batch_size=64)
    datamodule.arrays = cifar
    datamodule.setup("test")
    datamodule.test_set = ArrayDataset(cifar.test_images[:test_count], cifar.test_labels[:test_count], datamodule.eval_transform)
    return datamodule


@pytest.fixture(scope="session")
def small_datamodule(cifar):
    """Build a DataModule (200 training images) whose test set is the first N test images: call it with N."""
    return lambda test_count: _small_datamodule(cifar, test_count)


@pytest.fixture(scope="session")
def analysis_setup(cifar):
    torch.manual_seed(0)
    network = create_model("custom_resnet", width=0.125)
    datamodule = _small_datamodule(cifar, 120)
    predictions = collect_predictions(network, datamodule.test_dataloader())
    return network, datamodule, predictions


@pytest.fixture(scope="session")
def analysis_run(analysis_setup, tmp_path_factory):
    network, datamodule, predictions = analysis_setup
    out_dir = tmp_path_factory.mktemp("analysis")
    (out_dir / "metrics.csv").write_text("epoch,step,train_loss,train_acc,val_loss,val_acc\n0,9,2.0,0.3,,\n0,9,,,1.8,0.35\n1,19,1.5,0.45,,\n1,19,,,1.4,0.5\n")
    (out_dir / "metrics.json").write_text(json.dumps({"test_acc": 0.5, "model": "custom_resnet"}))
    (out_dir / "config.yaml").write_text("model:\n  arch: custom_resnet\n  width: 0.125\n")
    network.train()
    record = write_analysis(network, predictions, datamodule, AnalysisOptions(num_images=7, **SMALL_ANALYSIS), out_dir)
    return out_dir, record, predictions, network
