"""User image files: every mode and size becomes 32x32 RGB, and bad files are skipped with a reason."""

from __future__ import annotations

import csv
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from litcifar.analysis.file_predictions import classify_images
from litcifar.data.image_files import ImageSkipped, load_image, load_images
from litcifar.training.module import CifarClassifier


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with no pixel data: what a decompression bomb starts with."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    data = b"IDAT" + zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(data) - 4) + data + struct.pack(">I", zlib.crc32(data))
    )


def _make(kind: str, folder: Path) -> Path:
    """Write one test file of the given kind and return its path."""
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    rgb = np.dstack([gradient, gradient[::-1], np.full_like(gradient, 90)])
    if kind == "rgb_png":
        return _save(Image.fromarray(rgb, "RGB"), folder / "rgb.png")
    if kind == "grayscale":
        return _save(Image.fromarray(gradient, "L"), folder / "gray.png")
    if kind == "rgba":
        return _save(Image.fromarray(np.dstack([rgb, np.full_like(gradient, 128)]), "RGBA"), folder / "rgba.png")
    if kind == "palette":
        return _save(Image.fromarray(rgb, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16), folder / "palette.gif")
    if kind == "sixteen_bit":
        return _save(Image.fromarray(gradient.astype(np.uint16) * 257), folder / "deep.png")
    if kind == "cmyk_jpeg":
        return _save(Image.fromarray(rgb, "RGB").convert("CMYK"), folder / "cmyk.jpg", quality=95)
    if kind == "tiny":
        return _save(Image.new("RGB", (1, 1), (200, 10, 10)), folder / "tiny.png")
    if kind == "huge_jpeg":
        return _save(Image.new("RGB", (8000, 8000), (10, 200, 10)), folder / "huge.jpg", quality=80)
    if kind == "huge_png":
        return _save(Image.new("RGB", (8000, 8000), (10, 10, 200)), folder / "huge.png", compress_level=1)
    if kind == "wrong_extension":
        return _save(Image.fromarray(rgb, "RGB"), folder / "actually-png.jpg", format="PNG")
    if kind == "exif_rotated":
        image = Image.fromarray(rgb, "RGB")
        exif = image.getexif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
        return _save(image, folder / "rotated.jpg", exif=exif, quality=95)
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind",
    ["rgb_png", "grayscale", "rgba", "palette", "sixteen_bit", "cmyk_jpeg", "tiny", "huge_jpeg", "huge_png", "wrong_extension", "exif_rotated"],
)
def test_image_kind_becomes_rgb_32(tmp_path, kind):
    pixels = load_image(_make(kind, tmp_path))
    assert pixels.shape == (32, 32, 3)
    assert pixels.dtype == np.uint8


def test_sixteen_bit_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((40, 40), 32896, dtype=np.uint16)).save(path)  # 128 * 257
    assert np.all(load_image(path) == 128)


def test_transparent_pixels_become_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(path)
    assert np.all(load_image(path) == 255)


def test_tiny_image_upscaled(tmp_path):
    pixels = load_image(_make("tiny", tmp_path))
    assert np.all(pixels == np.array([200, 10, 10], dtype=np.uint8))


def test_exif_orientation_applied(tmp_path):
    path = tmp_path / "tall.jpg"
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[:, :30] = 255  # white left half
    image = Image.fromarray(wide, "RGB")
    exif = image.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the white half ends on top
    image.save(path, exif=exif, quality=95)
    pixels = load_image(path).astype(int)
    assert pixels[:8].mean() > 200
    assert pixels[-8:].mean() < 50


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not an image Pillow can decode"),
        (b"name,value\n1,2\n", "not an image Pillow can decode"),
        (_png_header_only(30000, 30000), "too large to decode safely"),
    ],
)
def test_bad_file_skipped_with_reason(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageSkipped, match=reason):
        load_image(path)


def test_truncated_png_skipped(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(buffer, format="PNG")
    path = tmp_path / "truncated.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageSkipped, match="unreadable image data"):
        load_image(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its permissions")
def test_unreadable_file_skipped(tmp_path):
    path = _make("rgb_png", tmp_path)
    path.chmod(0o000)
    try:
        with pytest.raises(ImageSkipped, match="not readable"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_folder_mixes_good_and_bad(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "nested").mkdir(parents=True)
    good = [_make("rgb_png", folder), _make("grayscale", folder / "nested")]
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"ignored")
    (tmp_path / "empty").mkdir()
    batch = load_images([folder, tmp_path / "empty", tmp_path / "missing.png"])
    assert sorted(batch.paths) == sorted(good)
    assert batch.array().shape == (2, 32, 32, 3)
    reasons = {path.name: reason for path, reason in batch.skipped}
    assert reasons == {"notes.txt": "not an image Pillow can decode", "empty": "empty folder", "missing.png": "not found"}


def _checkpoint(tmp_path: Path) -> tuple[Path, CifarClassifier]:
    model = CifarClassifier(arch="custom_resnet", width=0.125).eval()
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "max_lr": 0.01}, path)
    return path, model


def _predict_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "litcifar", "predict", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_predict_cli_writes_csv_and_overlays(cifar, tmp_path):
    checkpoint, model = _checkpoint(tmp_path)
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(5):
        Image.fromarray(cifar.test_images[index]).save(folder / f"test-{index}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    extra = _make("cmyk_jpeg", tmp_path)
    result = _predict_cli(
        "--ckpt_path", str(checkpoint), "--top_k", "4", "--out", "out/preds.csv", "--gradcam", "cams", str(folder), str(extra), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "classified 6 images, skipped 1" in result.stdout
    assert "skipped" in result.stderr
    assert "broken.png" in result.stderr
    with open(tmp_path / "out" / "preds.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 6
    assert list(rows[0]) == ["path", "class_1", "prob_1", "class_2", "prob_2", "class_3", "prob_3", "class_4", "prob_4"]
    expected = classify_images(model, cifar.test_images[:5])
    by_name = {Path(row["path"]).name: row for row in rows}
    for index in range(5):
        row = by_name[f"test-{index}.png"]
        assert float(row["prob_1"]) == pytest.approx(float(expected[index].max()), abs=1e-5)
        assert float(row["prob_1"]) >= float(row["prob_2"]) >= float(row["prob_4"])
    overlays = sorted((tmp_path / "cams").glob("*.png"))
    assert len(overlays) == 6
    with Image.open(overlays[0]) as overlay:
        assert overlay.size == (128, 128)


def test_predict_cli_nothing_to_classify(tmp_path):
    checkpoint, _ = _checkpoint(tmp_path)
    (tmp_path / "empty").mkdir()
    result = _predict_cli("--ckpt_path", str(checkpoint), str(tmp_path / "empty"), cwd=tmp_path)
    assert result.returncode == 1
    assert "classified 0 images, skipped 1" in result.stdout
    assert "empty folder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top_k", "0"], "--top_k must be in 1..10, got 0"),
        (["--top_k", "11"], "--top_k must be in 1..10, got 11"),
        (["--cam_layer", "nope", "--gradcam", "cams"], "model has no layer 'nope'"),
        (["--out", "."], "--out '.' is a folder"),
    ],
)
def test_predict_cli_bad_arguments(tmp_path, args, message):
    checkpoint, _ = _checkpoint(tmp_path)
    image = _make("rgb_png", tmp_path)
    result = _predict_cli("--ckpt_path", str(checkpoint), *args, str(image), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_predict_cli_missing_checkpoint(tmp_path):
    image = _make("rgb_png", tmp_path)
    result = _predict_cli("--ckpt_path", str(tmp_path / "nope.ckpt"), str(image), cwd=tmp_path)
    assert result.returncode == 2
    assert "is not a file" in result.stderr


def test_file_given_twice_listed_once(tmp_path):
    from litcifar.data.image_files import find_image_files

    folder = tmp_path / "images"
    folder.mkdir()
    image = _make("rgb_png", folder)
    files, problems = find_image_files([folder, image, tmp_path / "images" / ".." / "images" / image.name])
    assert files == [image]
    assert problems == []
