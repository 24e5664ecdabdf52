"""Shared fixtures. Tests run on the real CIFAR-10, which the package fetches and verifies itself."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from litcifar.data import Cifar10Arrays, load_cifar10  # noqa: E402


@pytest.fixture(scope="session")
def cifar() -> Cifar10Arrays:
    """The verified dataset from $LITCIFAR_DATA or the user cache, fetched there if missing."""
    return load_cifar10()


@pytest.fixture(scope="session")
def sample_images(cifar: Cifar10Arrays) -> np.ndarray:
    """The first 64 training images, uint8 (64, 32, 32, 3)."""
    return cifar.train_images[:64]
