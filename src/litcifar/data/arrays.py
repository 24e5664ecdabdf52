"""The in-memory form of CIFAR-10 and the content digests every source must match."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
NUM_TRAIN = 50_000
NUM_TEST = 10_000

# sha256 of the C-contiguous uint8 arrays: images (N, 32, 32, 3) in RGB, labels (N,).
# Computed from the official python batches; the npm mirror decodes to the same bytes.
EXPECTED_SHA256 = {
    "train_images": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
    "train_labels": "2b7cd2f24487317614016b72ffd53071c3062f592f0eb300c18a770d41ae1253",
    "test_images": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
    "test_labels": "cec8a24a1e92aa2ecaa0bbd3dbfa86bf6cd8759fbd209a832824c8cf0afca9d5",
}
EXPECTED_SHAPES = {
    "train_images": (NUM_TRAIN, 32, 32, 3),
    "train_labels": (NUM_TRAIN,),
    "test_images": (NUM_TEST, 32, 32, 3),
    "test_labels": (NUM_TEST,),
}


class DataVerificationError(RuntimeError):
    """Raised when data from a source does not match the published CIFAR-10 content."""


def sha256_of(array: np.ndarray) -> str:
    """Return the hex sha256 of an array's C-contiguous bytes."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


@dataclass(frozen=True)
class Cifar10Arrays:
    """The whole dataset as uint8 arrays: images (N, 32, 32, 3) RGB, labels (N,) in 0..9."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in EXPECTED_SHA256}

    def verify(self, source: str, hint: str) -> None:
        """Check shape, dtype and sha256 of every array; raise naming `source` and `hint` on mismatch."""
        for name, array in self.as_dict().items():
            expected_shape = EXPECTED_SHAPES[name]
            if array.dtype != np.uint8 or array.shape != expected_shape:
                raise DataVerificationError(
                    f"{source}: {name} has dtype {array.dtype} and shape {array.shape}, "
                    f"expected uint8 {expected_shape}. {hint}"
                )
            digest = sha256_of(array)
            if digest != EXPECTED_SHA256[name]:
                raise DataVerificationError(
                    f"{source}: {name} has sha256 {digest}, expected {EXPECTED_SHA256[name]}; "
                    f"the data is corrupt or is not CIFAR-10. {hint}"
                )
