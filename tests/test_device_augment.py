"""The device-resident batches draw the same augmentation as the Albumentations pipeline.

Images whose pixels encode their own coordinates let each output be decoded back to its
crop offset and flip. A flat image shows the cutout hole. Both pipelines run on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from litcifar.data.device_augment import DeviceBatches, EpochSampler
from litcifar.transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    build_eval_transform,
    build_train_transform,
)

SAMPLES = 2000


def coordinate_image() -> np.ndarray:
    """R = 8 * row, G = 8 * column, B = 200: every pixel of the 32x32 image is unique."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    return np.stack([8 * rows, 8 * cols, np.full_like(rows, 200)], axis=-1).astype(np.uint8)


def to_pixels(normalised: np.ndarray) -> np.ndarray:
    """(N, 3, 32, 32) normalised → (N, 32, 32, 3) on the 0-255 scale, rounded."""
    values = np.moveaxis(normalised, 1, -1) * np.asarray(CIFAR10_STD) + np.asarray(CIFAR10_MEAN)
    return np.rint(values)


def albumentations_outputs(image: np.ndarray, count: int, **settings) -> np.ndarray:
    transform = build_train_transform(**settings)
    transform.set_random_seed(0)
    return np.stack([transform(image=image)["image"].numpy() for _ in range(count)])


def device_outputs(image: np.ndarray, count: int, **settings) -> np.ndarray:
    images = np.repeat(image[None], count, axis=0)
    batches = DeviceBatches(images, np.zeros(count), batch_size=500, device="cpu", augment=True, seed=0, **settings)
    return torch.cat([batch for batch, _ in batches]).numpy()


def decode_crops(outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (row offset, column offset, flipped) of each output of the coordinate image."""
    pixels = to_pixels(outputs)
    centre, left = pixels[:, 16, 16], pixels[:, 16, 15]
    flipped = centre[:, 1] < left[:, 1]
    # output (16, 16) is padded position (dy + 16, dx + 16), or (dy + 16, dx + 15) when mirrored
    row_offset = centre[:, 0] / 8 - 12
    col_offset = centre[:, 1] / 8 - np.where(flipped, 11, 12)
    return row_offset.astype(int), col_offset.astype(int), flipped


@pytest.fixture(scope="module")
def crops():
    image = coordinate_image()
    return {
        "albumentations": decode_crops(albumentations_outputs(image, SAMPLES, cutout_size=0)),
        "device": decode_crops(device_outputs(image, SAMPLES, cutout_size=0)),
    }


@pytest.mark.parametrize("pipeline", ["albumentations", "device"])
def test_crop_offsets_are_uniform_over_the_padding(crops, pipeline):
    rows, cols, _ = crops[pipeline]
    for offsets in (rows, cols):
        assert set(np.unique(offsets)) == set(range(9))
        frequencies = np.bincount(offsets, minlength=9) / SAMPLES
        np.testing.assert_allclose(frequencies, 1 / 9, atol=0.04)


def test_flip_rate_matches(crops):
    rates = {name: decoded[2].mean() for name, decoded in crops.items()}
    assert 0.45 < rates["device"] < 0.55
    assert abs(rates["device"] - rates["albumentations"]) < 0.06


def test_crop_reads_the_padded_image_like_albumentations():
    """Each device output equals the Albumentations result for its decoded offset and flip."""
    image = coordinate_image()
    outputs = device_outputs(image, 64, cutout_size=0)
    rows, cols, flipped = decode_crops(outputs)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    for output, dy, dx, flip in zip(to_pixels(outputs), rows, cols, flipped):
        expected = padded[dy : dy + 32, dx : dx + 32]
        np.testing.assert_array_equal(output, expected[:, ::-1] if flip else expected)


def hole_masks(outputs: np.ndarray) -> np.ndarray:
    return np.all(outputs == 0.0, axis=1)  # 0 in every channel: the mean colour after normalising


@pytest.mark.parametrize("pipeline", [albumentations_outputs, device_outputs], ids=["albumentations", "device"])
def test_cutout_hole_inside_image(pipeline):
    flat = np.full((32, 32, 3), 200, dtype=np.uint8)
    masks = hole_masks(pipeline(flat, SAMPLES, pad=0, flip_p=0.0, cutout_size=8))
    tops, lefts = [], []
    for mask in masks:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask.sum() == 64
        assert (len(rows), len(cols)) == (8, 8)
        tops.append(rows[0])
        lefts.append(cols[0])
    for corners in (np.asarray(tops), np.asarray(lefts)):
        assert set(np.unique(corners)) == set(range(25))  # the hole never leaves the image
        assert abs(corners.mean() - 12) < 0.6


def test_evaluation_batches_match_the_eval_transform(sample_images):
    batches = DeviceBatches(sample_images, np.arange(64), batch_size=20, device="cpu", augment=False)
    images = torch.cat([batch for batch, _ in batches])
    labels = torch.cat([label for _, label in batches])
    transform = build_eval_transform()
    expected = torch.stack([transform(image=image)["image"] for image in sample_images])
    torch.testing.assert_close(images, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(labels, torch.arange(64))
    assert len(batches) == 4
    assert images.is_contiguous(memory_format=torch.channels_last)


def test_epoch_sampler_shards_ranks():
    samplers = [EpochSampler(103, shuffle=True, seed=7, rank=rank, world_size=2) for rank in range(2)]
    first = [s.indices(s.generator()) for s in samplers]
    assert [len(part) for part in first] == [52, 52]  # padded like DistributedSampler
    assert set(torch.cat(first).tolist()) == set(range(103))


def test_epoch_sampler_repeats_epoch():
    samplers = [EpochSampler(103, shuffle=True, seed=7, rank=rank, world_size=2) for rank in range(2)]
    first = [s.indices(s.generator()) for s in samplers]
    again = [s.indices(s.generator()) for s in samplers]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    for sampler in samplers:
        sampler.set_epoch(1)
    assert not torch.equal(samplers[0].indices(samplers[0].generator()), first[0])
