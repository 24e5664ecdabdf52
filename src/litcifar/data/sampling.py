"""Training order and augmentation seeds that depend only on (seed, epoch, batch), so a resumed fit repeats.

A resumed fit restores the weights, optimizer and schedule but not the RNG streams that
shuffled the data and drew the augmentations. This sampler derives both from the seed
and the epoch, so epoch k has the same order and the same augmentations whether the
fit ran through or restarted, with any number of loader workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler


def augmentation_seed(seed: int, epoch: int, batch: int) -> int:
    """Return the Albumentations seed of one batch: a fixed mix of the three numbers, below 2**32."""
    return (seed * 1_000_003 + epoch * 10_007 + batch) % 2**32


class EpochSeededSampler(DistributedSampler):
    """Shuffle with torch.randperm seeded by seed + epoch, and attach an augmentation seed to each batch's first index.

    It yields `(index, augmentation_seed or None)`, which `ArrayDataset` reads. Being a
    `DistributedSampler`, it is kept by Lightning under DDP (each rank takes its shard)
    and gets `set_epoch` from the fit loop. `skip_batches` drops the first batches of
    the next pass only, for a fit resumed from a checkpoint written mid-epoch.
    """

    def __init__(self, dataset, batch_size: int, seed: int, num_replicas: int | None = None, rank: int | None = None) -> None:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not distributed:
            num_replicas, rank = 1, 0
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.batch_size = batch_size
        self._skip_batches = 0

    def skip_batches(self, count: int) -> None:
        """Leave out the first `count` batches of the next pass (a resumed epoch); ignored if the epoch has fewer."""
        self._skip_batches = max(0, int(count))

    def __iter__(self) -> Iterator[tuple[int, int | None]]:
        indices = list(super().__iter__())
        start = self._skip_batches * self.batch_size
        self._skip_batches = 0
        if start >= len(indices):
            start = 0
        for position in range(start, len(indices)):
            batch, offset = divmod(position, self.batch_size)
            seed = augmentation_seed(self.seed, self.epoch, batch) if offset == 0 else None
            yield indices[position], seed
