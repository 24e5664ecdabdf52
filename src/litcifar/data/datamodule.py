"""LightningDataModule for CIFAR-10: verified arrays in memory, Albumentations per sample."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import albumentations as A
import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from litcifar.data.arrays import NUM_TRAIN, Cifar10Arrays
from litcifar.data.cifar10 import default_data_dir, load_cifar10
from litcifar.data.device_augment import DeviceBatches
from litcifar.data.sampling import EpochSeededSampler
from litcifar.errors import InvalidSettingError
from litcifar.transforms import build_eval_transform, build_train_transform

logger = logging.getLogger(__name__)


class ArrayDataset(Dataset):
    """uint8 HWC images and labels, each image passed through an Albumentations pipeline."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: A.Compose) -> None:
        self.images = images
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: int | tuple[int, int | None]) -> tuple[torch.Tensor, int]:
        # EpochSeededSampler yields (index, seed) and gives a seed with each batch's first image.
        index, seed = item if isinstance(item, tuple) else (item, None)
        if seed is not None:
            self.transform.set_random_seed(seed)
        image = self.transform(image=self.images[index])["image"]
        return image, int(self.labels[index])


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Pick `per_class` indices of every class at random (sorted), so class balance is kept."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise InvalidSettingError(f"class {label} has {len(members)} images, cannot take {per_class}")
        picked.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(picked))


def check_data_dir(data_dir: Path) -> None:
    """Raise InvalidSettingError unless data_dir is a readable folder, or can be created to fetch the data into."""
    if data_dir.exists():
        if not data_dir.is_dir():
            raise InvalidSettingError(f"data_dir {str(data_dir)!r} is not a folder: give the folder that contains the CIFAR-10 cache or cifar-10-batches-py/")
        if not os.access(data_dir, os.R_OK | os.X_OK):
            raise InvalidSettingError(f"data_dir {str(data_dir)!r} is not readable by this user: fix its permissions or give another folder")
        return
    parent = data_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidSettingError(
            f"data_dir {str(data_dir)!r} does not exist and cannot be created in {str(parent)!r}: give a writable folder"
        )


def default_num_workers() -> int:
    """One loader process per spare core, at most 8; 0 (load in the main process) on a single core.

    Augmenting one 32x32 image costs ~0.2 ms on one core (measured on the 2-core CI
    machine), far below the model's cost, so a few workers keep any GPU fed.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, max(0, cores - 1))


class Cifar10DataModule(pl.LightningDataModule):
    """CIFAR-10 train / val / test loaders.

    Args:
        data_dir: folder with the litcifar cache or `cifar-10-batches-py/`; default
            `$LITCIFAR_DATA` or the user cache folder. Missing data is fetched there.
        batch_size: images per batch for every loader.
        num_workers: loader processes; default one per core beyond the first.
        val_size: 0 validates on the test set (the CIFAR-10 convention; nothing is
            selected on it, the last checkpoint is the result); N > 0 holds out N
            stratified training images instead (a multiple of 10).
        train_subset: train on this many stratified training images (a multiple of 10).
        pad: pixels of padding before the random 32x32 crop.
        pad_mode: numpy.pad mode of that padding: reflect, symmetric, edge, constant, wrap.
        cutout_size: side of the one square hole in pixels; 0 disables cutout.
        flip_p: probability of a horizontal flip.
        seed: seed of the stratified picks (not of the augmentation).
        rebuild_cache: ignore the cache in data_dir and rebuild it from the official
            batches or a download, for a cache that failed verification.
        device_augment: keep the uint8 images on the training device and augment whole
            batches there (`litcifar.data.device_augment`), with no loader workers; the
            fast path on a GPU. False (default) augments each image with Albumentations
            in loader workers.
    """

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: int = 512,
        num_workers: int | None = None,
        val_size: int = 0,
        train_subset: int | None = None,
        pad: int = 4,
        pad_mode: str = "reflect",
        cutout_size: int = 8,
        flip_p: float = 0.5,
        seed: int = 0,
        rebuild_cache: bool = False,
        device_augment: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise InvalidSettingError(f"batch_size must be at least 1, got {batch_size}")
        if num_workers is not None and num_workers < 0:
            raise InvalidSettingError(f"num_workers must be >= 0, got {num_workers}")

        if val_size < 0 or val_size % 10 or val_size > NUM_TRAIN - 10:
            raise InvalidSettingError(
                f"val_size must be a multiple of 10 in 0..{NUM_TRAIN - 10} (stratified by class, leaving images "
                f"to train on), got {val_size}"
            )
        if train_subset is not None and (train_subset < 10 or train_subset % 10 or train_subset > NUM_TRAIN):
            raise InvalidSettingError(
                f"train_subset must be a multiple of 10 in 10..{NUM_TRAIN} (stratified by class), or null for "
                f"all images, got {train_subset}"
            )
        if train_subset is not None and train_subset + val_size > NUM_TRAIN:
            raise InvalidSettingError(
                f"train_subset + val_size must not exceed {NUM_TRAIN}, got {train_subset} + {val_size}"
            )

        self.save_hyperparameters()
        self.data_dir = Path(data_dir).expanduser() if data_dir else default_data_dir()
        check_data_dir(self.data_dir)
        self.batch_size = batch_size
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        if device_augment:
            self.num_workers = 0  # batches are made on the device; workers would sit idle
        # build_train_transform validates pad, pad_mode, flip_p and cutout_size.
        self.train_transform = build_train_transform(pad=pad, pad_mode=pad_mode, flip_p=flip_p, cutout_size=cutout_size)
        self.eval_transform = build_eval_transform()

        self.arrays: Cifar10Arrays | None = None
        self.train_set: ArrayDataset | None = None
        self.val_set: ArrayDataset | None = None
        self.test_set: ArrayDataset | None = None
        self.train_sampler: EpochSeededSampler | None = None
        # (epoch, batches already trained in it), set when a fit resumes from a checkpoint
        self.resume_position: tuple[int, int] | None = None

    @property
    def validates_on_test_set(self) -> bool:
        return self.hparams.val_size == 0

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node: fetch and cache here, so ranks do
        # not race. Keeping the arrays spares setup() a second verification in one process.
        if self.arrays is None:
            self.arrays = load_cifar10(self.data_dir, rebuild_cache=self.hparams.rebuild_cache)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return  # the splits do not depend on the stage; build them once
        if self.arrays is None:
            self.arrays = load_cifar10(self.data_dir)
        arrays = self.arrays
        train_index = np.arange(NUM_TRAIN)
        val_size, seed = self.hparams.val_size, self.hparams.seed
        if val_size:
            val_index = stratified_indices(arrays.train_labels, val_size // 10, seed)
            train_index = np.setdiff1d(train_index, val_index)
            self.val_set = ArrayDataset(arrays.train_images[val_index], arrays.train_labels[val_index], self.eval_transform)
        if self.hparams.train_subset is not None:
            per_class = self.hparams.train_subset // 10
            train_index = train_index[stratified_indices(arrays.train_labels[train_index], per_class, seed + 1)]
        self.train_set = ArrayDataset(arrays.train_images[train_index], arrays.train_labels[train_index], self.train_transform)
        self.test_set = ArrayDataset(arrays.test_images, arrays.test_labels, self.eval_transform)
        if not val_size:
            self.val_set = self.test_set
        logger.info(
            "data: %d training images, validation on %s (%d images), %d test images, loader workers: %d",
            len(self.train_set),
            "the test set" if self.validates_on_test_set else "a held-out training split",
            len(self.val_set),
            len(self.test_set),
            self.num_workers,
        )

    def _loader(self, dataset: Dataset | None, sampler: EpochSeededSampler | None = None) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=False,
        )

    def _device_batches(self, dataset: ArrayDataset | None, augment: bool, seed: int = 0) -> DeviceBatches:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        hp = self.hparams
        return DeviceBatches(
            dataset.images,
            dataset.labels,
            self.batch_size,
            device,
            augment=augment,
            pad=hp.pad,
            pad_mode=hp.pad_mode,
            flip_p=hp.flip_p,
            cutout_size=hp.cutout_size,
            seed=seed,
            rank=rank,
            world_size=world_size,
        )

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        # Order and augmentation follow (seed, epoch), where the seed is seed_everything's (0 without one).
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        if self.hparams.device_augment:
            batches = self._device_batches(self.train_set, augment=True, seed=seed)
            if self.resume_position is not None:
                epoch, batches_done = self.resume_position
                batches.sampler.set_epoch(epoch)
                batches.sampler.skip_batches(batches_done)
                self.resume_position = None
            return batches
        self.train_sampler = EpochSeededSampler(self.train_set, batch_size=self.batch_size, seed=seed)
        if self.resume_position is not None:
            epoch, batches_done = self.resume_position
            self.train_sampler.set_epoch(epoch)
            self.train_sampler.skip_batches(batches_done)
            self.resume_position = None
        return self._loader(self.train_set, self.train_sampler)

    def _evaluation_loader(self, dataset: ArrayDataset | None) -> DataLoader | DeviceBatches:
        if self.hparams.device_augment:
            return self._device_batches(dataset, augment=False)
        return self._loader(dataset)

    def val_dataloader(self) -> DataLoader | DeviceBatches:
        return self._evaluation_loader(self.val_set)

    def test_dataloader(self) -> DataLoader | DeviceBatches:
        return self._evaluation_loader(self.test_set)

    def predict_dataloader(self) -> DataLoader | DeviceBatches:
        return self._evaluation_loader(self.test_set)
