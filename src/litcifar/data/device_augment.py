"""Accelerator-resident CIFAR-10 batches: the uint8 images live on the device and are
cropped, flipped, cut out and normalised there, a batch at a time.

This is the fast path of `Cifar10DataModule(device_augment=True)`: no loader workers and
no per-batch host-to-device copy. It draws the same augmentation as
`litcifar.transforms.build_train_transform`: pad with a numpy mode, a uniform 32x32 crop
offset, a horizontal flip, and one hole fully inside the image filled with the mean.
tests/test_device_augment.py compares the two pipelines' statistics. Albumentations has
no batched tensor path, hence this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from litcifar.transforms import CIFAR10_MEAN, CIFAR10_STD, PAD_MODES

IMAGE_SIZE = 32


class EpochSampler:
    """Order of the images in one epoch: a permutation seeded by (seed, epoch), sharded by rank.

    Lightning calls `set_epoch` on a loader's `sampler` at the start of every epoch, as it
    does for `DistributedSampler`, so a resumed fit gets the same order as an unbroken one.
    """

    def __init__(self, size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.skipped_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_batches(self, count: int) -> None:
        """Leave out the first `count` batches of the next pass, for a fit resumed mid-epoch."""
        self.skipped_batches = max(0, int(count))

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def indices(self, generator: torch.Generator) -> torch.Tensor:
        order = torch.randperm(self.size, generator=generator) if self.shuffle else torch.arange(self.size)
        # Like DistributedSampler: repeat the first items so every rank gets the same count,
        # which the test-prediction gather relies on.
        padding = len(self) * self.world_size - self.size
        order = torch.cat([order, order[:padding]])
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        return math.ceil(self.size / self.world_size)


class DeviceBatches:
    """Iterable of (normalised float images NCHW in channels_last, int64 labels) on `device`.

    Args:
        images: uint8 (N, 32, 32, 3) RGB.
        labels: int (N,).
        batch_size: images per batch; the last batch may be smaller.
        device: where the images are kept and the batches made.
        augment: False gives the images in order, only normalised (evaluation).
        pad, pad_mode, flip_p, cutout_size: as in `build_train_transform`.
        seed: base of the per-epoch random draws.
        rank, world_size: this process's shard under data-parallel training.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        device: torch.device | str,
        augment: bool,
        pad: int = 4,
        pad_mode: str = "reflect",
        flip_p: float = 0.5,
        cutout_size: int = 8,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.augment = augment
        self.pad = pad if augment else 0
        self.flip_p = flip_p
        self.cutout_size = cutout_size if augment else 0
        if self.pad:
            # numpy's own pad modes, the names build_train_transform maps to OpenCV borders
            images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=_numpy_pad_mode(pad_mode))
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(self.device)
        self.labels = torch.as_tensor(labels, dtype=torch.int64).to(self.device)
        self.mean = torch.tensor(CIFAR10_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD, device=self.device).view(1, 3, 1, 1)
        self.sampler = EpochSampler(len(self.labels), shuffle=augment, seed=seed, rank=rank, world_size=world_size)
        self.batch_sampler = None  # read by Lightning's loader checks, as on a DataLoader

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = self.sampler.generator()
        order = self.sampler.indices(generator)
        count = len(order)
        # Every random draw of the epoch at once, on the CPU generator, then one copy to the device.
        span = 2 * self.pad + 1
        crop = torch.randint(0, span, (count, 2), generator=generator)
        flip = torch.rand(count, generator=generator) < self.flip_p
        hole = torch.randint(0, IMAGE_SIZE - self.cutout_size + 1, (count, 2), generator=generator)
        order, crop, flip, hole = (t.to(self.device, non_blocking=True) for t in (order, crop, flip, hole))
        first = self.sampler.skipped_batches * self.batch_size  # the draws above stay those of the whole epoch
        self.sampler.skipped_batches = 0
        for start in range(first if first < count else 0, count, self.batch_size):
            part = slice(start, start + self.batch_size)
            index = order[part]
            yield self._make_batch(index, crop[part], flip[part], hole[part]), self.labels[index]

    def _make_batch(self, index: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        images = self.images[index]
        if self.augment:
            steps = torch.arange(IMAGE_SIZE, device=self.device)
            rows = crop[:, :1] + steps  # (B, 32)
            # A mirrored crop reads the crop's columns right to left: flip folded into the gather.
            cols = torch.where(flip[:, None], crop[:, 1:] + IMAGE_SIZE - 1 - steps, crop[:, 1:] + steps)
            batch = torch.arange(len(index), device=self.device)[:, None, None, None]
            channel = torch.arange(3, device=self.device)[None, :, None, None]
            images = images[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
        images = (images.float() - self.mean) / self.std
        if self.cutout_size:
            steps = torch.arange(IMAGE_SIZE, device=self.device)
            in_rows = (steps >= hole[:, :1]) & (steps < hole[:, :1] + self.cutout_size)
            in_cols = (steps >= hole[:, 1:]) & (steps < hole[:, 1:] + self.cutout_size)
            inside = in_rows[:, None, :, None] & in_cols[:, None, None, :]
            images = images.masked_fill(inside, 0.0)  # 0 after normalising is the training-set mean
        return images.contiguous(memory_format=torch.channels_last)


def _numpy_pad_mode(pad_mode: str) -> str:
    if pad_mode not in PAD_MODES:
        raise ValueError(f"unknown pad_mode {pad_mode!r}: choose one of {', '.join(PAD_MODES)}")
    return pad_mode
