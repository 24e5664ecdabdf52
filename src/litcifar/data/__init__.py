"""CIFAR-10: sources, verification, cache and the LightningDataModule."""

from litcifar.data.arrays import CLASSES, Cifar10Arrays, DataVerificationError
from litcifar.data.cifar10 import DataNotFoundError, default_data_dir, load_cifar10
from litcifar.data.datamodule import Cifar10DataModule

__all__ = [
    "CLASSES",
    "Cifar10Arrays",
    "Cifar10DataModule",
    "DataNotFoundError",
    "DataVerificationError",
    "default_data_dir",
    "load_cifar10",
]
