"""The package's own CIFAR-10 cache: one uncompressed .npz of uint8 arrays, written atomically."""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from litcifar.data.arrays import EXPECTED_SHA256, Cifar10Arrays

logger = logging.getLogger(__name__)

CACHE_FILENAME = "cifar10-uint8.npz"


def cache_path(data_dir: Path) -> Path:
    return Path(data_dir) / CACHE_FILENAME


def write_cache(arrays: Cifar10Arrays, data_dir: Path) -> Path:
    """Write the arrays to `data_dir`, so that the final name appears only once the file is complete.

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed
    over the final name. An exception removes the temporary file, and a killed process
    leaves at most a stray `.partial` file, never a complete-looking cache.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    final = cache_path(data_dir)
    handle, temporary = tempfile.mkstemp(prefix=".cifar10-", suffix=".npz.partial", dir=data_dir)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays.as_dict())
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the cache is ordinary shared data
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("wrote CIFAR-10 cache %s (%.0f MB)", final, final.stat().st_size / 1e6)
    return final


def read_cache(path: Path) -> Cifar10Arrays:
    """Load a cache file without unpickling anything; the caller verifies the content."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = set(EXPECTED_SHA256) - set(archive.files)
            if missing:
                raise ValueError(f"missing arrays {sorted(missing)}")
            return Cifar10Arrays(**{name: archive[name] for name in EXPECTED_SHA256})
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path} is not a readable litcifar cache ({error})") from error
