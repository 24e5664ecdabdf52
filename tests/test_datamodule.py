"""Cifar10DataModule: splits, stratification, loaders, and rejected settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litcifar.data.datamodule import Cifar10DataModule, stratified_indices


def _datamodule(cifar, **kwargs) -> Cifar10DataModule:
    datamodule = Cifar10DataModule(num_workers=0, **kwargs)
    datamodule.arrays = cifar
    datamodule.setup("fit")
    return datamodule


def test_validation_defaults_to_test_set(cifar):
    datamodule = _datamodule(cifar)
    assert datamodule.validates_on_test_set
    assert datamodule.val_set is datamodule.test_set
    assert len(datamodule.train_set) == 50_000
    assert len(datamodule.test_set) == 10_000


def test_val_size_holds_out_stratified_images(cifar):
    datamodule = _datamodule(cifar, val_size=1000)
    assert not datamodule.validates_on_test_set
    assert len(datamodule.val_set) == 1000
    assert len(datamodule.train_set) == 49_000
    assert np.bincount(datamodule.val_set.labels, minlength=10).tolist() == [100] * 10
    train_rows = {image.tobytes() for image in datamodule.train_set.images[:: 7]}
    assert not any(image.tobytes() in train_rows for image in datamodule.val_set.images)


def test_train_subset_is_stratified(cifar):
    datamodule = _datamodule(cifar, train_subset=2000, val_size=500)
    assert len(datamodule.train_set) == 2000
    assert np.bincount(datamodule.train_set.labels, minlength=10).tolist() == [200] * 10


def test_stratified_indices_reproducible():
    labels = np.repeat(np.arange(10), 50)
    first = stratified_indices(labels, per_class=5, seed=3)
    assert np.array_equal(first, stratified_indices(labels, per_class=5, seed=3))
    assert not np.array_equal(first, stratified_indices(labels, per_class=5, seed=4))
    assert np.bincount(labels[first]).tolist() == [5] * 10


def test_loaders_yield_normalised_batches(cifar):
    datamodule = _datamodule(cifar, batch_size=32, train_subset=100)
    images, labels = next(iter(datamodule.train_dataloader()))
    assert images.shape == (32, 3, 32, 32)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.long
    assert abs(float(images.mean())) < 0.5
    test_images, _ = next(iter(datamodule.test_dataloader()))
    assert test_images.shape == (32, 3, 32, 32)


def test_last_train_batch_kept(cifar):
    datamodule = _datamodule(cifar, batch_size=64, train_subset=100)
    sizes = [len(labels) for _, labels in datamodule.train_dataloader()]
    assert sizes == [64, 36]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
        ({"num_workers": -1}, "num_workers"),
        ({"train_subset": 0}, "train_subset must be a multiple of 10 in 10..50000"),
        ({"train_subset": 7}, "train_subset"),
        ({"val_size": 50_000}, "val_size must be a multiple of 10 in 0..49990"),
        ({"val_size": 5}, "val_size"),
        ({"train_subset": 45_000, "val_size": 10_000}, "must not exceed 50000"),
        ({"pad_mode": "mirror"}, "pad_mode"),
    ],
)
def test_invalid_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cifar10DataModule(**kwargs)


def _epoch_batches(cifar, monkeypatch, seed: int, epoch: int, num_workers: int = 0, skip: int = 0) -> list[torch.Tensor]:
    monkeypatch.setenv("PL_GLOBAL_SEED", str(seed))
    datamodule = Cifar10DataModule(num_workers=num_workers, batch_size=16, train_subset=100)
    datamodule.arrays = cifar
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    loader.sampler.set_epoch(epoch)
    loader.sampler.skip_batches(skip)
    return [images for images, _ in loader]


def test_augmentation_follows_seed_and_epoch(cifar, monkeypatch):
    first = _epoch_batches(cifar, monkeypatch, seed=0, epoch=0)
    assert all(torch.equal(a, b) for a, b in zip(first, _epoch_batches(cifar, monkeypatch, seed=0, epoch=0), strict=True))
    assert not torch.equal(first[0], _epoch_batches(cifar, monkeypatch, seed=1, epoch=0)[0])
    assert not torch.equal(first[0], _epoch_batches(cifar, monkeypatch, seed=0, epoch=1)[0])


def test_augmentation_independent_of_workers(cifar, monkeypatch):
    in_process = _epoch_batches(cifar, monkeypatch, seed=0, epoch=2, num_workers=0)
    two_workers = _epoch_batches(cifar, monkeypatch, seed=0, epoch=2, num_workers=2)
    assert len(in_process) == len(two_workers) == 7
    for index, (a, b) in enumerate(zip(in_process, two_workers, strict=True)):
        assert torch.equal(a, b), f"batch {index} differs between 0 and 2 loader workers"


def test_skipped_batches_match_full_epoch(cifar, monkeypatch):
    full = _epoch_batches(cifar, monkeypatch, seed=0, epoch=3)
    resumed = _epoch_batches(cifar, monkeypatch, seed=0, epoch=3, skip=4)
    assert len(resumed) == len(full) - 4
    for a, b in zip(full[4:], resumed, strict=True):
        assert torch.equal(a, b)


def test_batches_augment_differently(cifar, monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "0")
    datamodule = Cifar10DataModule(num_workers=0, batch_size=1, train_subset=10, pad=4, flip_p=0.5)
    datamodule.arrays = cifar
    datamodule.setup("fit")
    datamodule.train_set.images = np.repeat(cifar.train_images[:1], 10, axis=0)  # one image, ten times
    outputs = [images[0] for images, _ in datamodule.train_dataloader()]
    assert any(not torch.equal(outputs[0], other) for other in outputs[1:])


def test_device_augment_serves_batches_without_workers(cifar):
    datamodule = _datamodule(cifar, train_subset=1000, batch_size=300, device_augment=True)
    assert datamodule.num_workers == 0
    train = datamodule.train_dataloader()
    assert len(train) == 4
    batches = list(train)
    assert [len(labels) for _, labels in batches] == [300, 300, 300, 100]
    labels = torch.cat([labels for _, labels in batches])
    assert sorted(labels.tolist()) == sorted(datamodule.train_set.labels.tolist())  # each image once per epoch
    images, _ = batches[0]
    assert images.shape == (300, 3, 32, 32)
    assert images.dtype == torch.float32
    assert abs(float(images.mean())) < 0.3  # normalised


def test_device_augment_fit_runs_in_lightning(cifar, tmp_path):
    import lightning.pytorch as pl

    from litcifar.training.module import CifarClassifier

    datamodule = _datamodule(cifar, train_subset=200, batch_size=50, device_augment=True)
    model = CifarClassifier(width=0.125, max_lr=0.01)
    trainer = pl.Trainer(
        max_epochs=2, limit_val_batches=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 8
    assert trainer.train_dataloader.sampler.epoch == 1  # Lightning set the epoch, as for a DistributedSampler
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_device_augment_resumes_mid_epoch(cifar):
    datamodule = _datamodule(cifar, train_subset=1000, batch_size=300, device_augment=True)
    full = [labels for _, labels in datamodule.train_dataloader()]
    datamodule.resume_position = (0, 2)
    resumed = [labels for _, labels in datamodule.train_dataloader()]
    assert len(resumed) == 2
    assert all(torch.equal(a, b) for a, b in zip(resumed, full[2:]))
