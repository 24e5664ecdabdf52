"""Albumentations pipelines: pin the real behaviour of pad, crop, flip, cutout and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from litcifar.transforms import CIFAR10_MEAN, CIFAR10_STD, build_eval_transform, build_train_transform, denormalize


def _find_offset(padded: np.ndarray, crop: np.ndarray) -> tuple[int, int] | None:
    for top in range(padded.shape[0] - 31):
        for left in range(padded.shape[1] - 31):
            if np.array_equal(padded[top : top + 32, left : left + 32], crop):
                return top, left
    return None


def test_statistics_match_training_set(cifar):
    pixels = cifar.train_images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(pixels.mean(axis=0), CIFAR10_MEAN, atol=1e-4)
    np.testing.assert_allclose(pixels.std(axis=0), CIFAR10_STD, atol=1e-3)


def _fill_windows(is_fill: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Top-left corners of every size x size window made only of fill pixels."""
    height, width = is_fill.shape
    return [
        (top, left)
        for top in range(height - size + 1)
        for left in range(width - size + 1)
        if is_fill[top : top + size, left : left + size].all()
    ]


def test_cutout_normalised_is_one_square_of_mean(sample_images):
    transform = build_train_transform(pad=0, flip_p=0.0, cutout_size=8, normalize=True)
    for image in sample_images[:32]:
        out = transform(image=image)["image"].numpy()
        reference = build_eval_transform()(image=image)["image"].numpy()
        # A real pixel never normalises to exactly 0 in all channels: the mean is fractional.
        is_fill = np.all(out == 0.0, axis=0)
        assert is_fill.sum() == 64
        assert len(_fill_windows(is_fill, 8)) == 1
        np.testing.assert_array_equal(out[:, ~is_fill], reference[:, ~is_fill])


def test_cutout_uint8_is_one_square_of_rounded_mean(sample_images):
    transform = build_train_transform(pad=0, flip_p=0.0, cutout_size=8, normalize=False)
    fill = np.round(CIFAR10_MEAN).astype(np.uint8)
    for image in sample_images[:32]:
        out = transform(image=image)["image"]
        changed = np.any(out != image, axis=2)
        windows = _fill_windows(np.all(out == fill, axis=2), 8)
        assert windows, "no 8x8 square of the fill colour"
        covering = [(t, l) for t, l in windows if changed[t : t + 8, l : l + 8].sum() == changed.sum()]
        assert covering, "pixels changed outside any 8x8 fill square"


def test_hole_position_varies(sample_images):
    transform = build_train_transform(pad=0, flip_p=0.0, cutout_size=8)
    corners = set()
    for _ in range(40):
        out = transform(image=sample_images[0])["image"].numpy()
        rows, cols = np.nonzero(np.all(out == 0, axis=0))
        corners.add((rows.min(), cols.min()))
    assert len(corners) > 20


@pytest.mark.parametrize(("pad_mode", "numpy_mode"), [("reflect", "reflect"), ("symmetric", "symmetric"), ("edge", "edge"), ("constant", "constant")])
def test_pad_crop_matches_numpy_pad(sample_images, pad_mode, numpy_mode):
    transform = build_train_transform(pad=4, pad_mode=pad_mode, flip_p=0.0, cutout_size=0, normalize=False)
    image = sample_images[1]
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode=numpy_mode)
    offsets = set()
    for _ in range(60):
        crop = transform(image=image)["image"]
        offset = _find_offset(padded, crop)
        assert offset is not None, f"crop is not a window of the {numpy_mode}-padded image"
        offsets.add(offset)
    assert len(offsets) > 25, f"crop offsets barely vary: {sorted(offsets)}"
    assert {row for row, _ in offsets} >= {0, 8} or len({row for row, _ in offsets}) >= 6


def test_reflect_does_not_repeat_edge(sample_images):
    transform = build_train_transform(pad=4, pad_mode="reflect", flip_p=0.0, cutout_size=0, normalize=False)
    image = sample_images[2]
    reflect = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    symmetric = np.pad(image, ((4, 4), (4, 4), (0, 0)), mode="symmetric")
    seen_corner = False
    for _ in range(400):
        crop = transform(image=image)["image"]
        if np.array_equal(crop, reflect[:32, :32]):
            seen_corner = True
            break
    assert seen_corner, "never produced the top-left reflect crop"
    assert not np.array_equal(reflect[:32, :32], symmetric[:32, :32])


def test_flip_rate_is_half(sample_images):
    transform = build_train_transform(pad=0, flip_p=0.5, cutout_size=0, normalize=False)
    image = sample_images[3]
    flips = sum(np.array_equal(transform(image=image)["image"], image[:, ::-1]) for _ in range(400))
    assert 160 <= flips <= 240


def test_eval_transform_normalises(sample_images):
    out = build_eval_transform()(image=sample_images[0])["image"]
    expected = (sample_images[0].astype(np.float32) - np.array(CIFAR10_MEAN, dtype=np.float32)) / np.array(CIFAR10_STD, dtype=np.float32)
    assert tuple(out.shape) == (3, 32, 32)
    np.testing.assert_allclose(out.numpy().transpose(1, 2, 0), expected, atol=1e-4)


def test_denormalize_inverts_eval(sample_images):
    batch = np.stack([build_eval_transform()(image=image)["image"].numpy() for image in sample_images[:4]])
    np.testing.assert_allclose(denormalize(batch), sample_images[:4] / 255.0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"pad_mode": "mirror"}, "pad_mode"), ({"pad": -1}, "pad"), ({"cutout_size": 40}, "cutout_size"), ({"flip_p": 2.0}, "flip_p")],
)
def test_invalid_settings_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_train_transform(**kwargs)
