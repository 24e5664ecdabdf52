"""Image files from users, turned into the 32x32 RGB uint8 arrays a CIFAR-10 model takes.

Each file is opened with Pillow, rotated by its EXIF orientation and converted to RGB,
with transparent pixels over white and 16-bit or 32-bit grayscale scaled to 8 bits.
It is then centre-cropped to a square, as CIFAR-10 images are, and resized to 32x32
with Lanczos filtering. A file that cannot be read or decoded is skipped with its reason.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

IMAGE_SIZE = 32
# Pillow warns above Image.MAX_IMAGE_PIXELS (89,478,485 pixels in Pillow 13.0) and raises
# above twice that. Both skip the file here, because such an image may be a
# decompression bomb and a 32x32 input needs far fewer pixels.
RESAMPLING = Image.Resampling.LANCZOS


class ImageSkipped(ValueError):
    """Raised when a file cannot be turned into an image; the message is the reason."""


@dataclass
class ImageBatch:
    """Images that loaded (paths and (N, 32, 32, 3) uint8 pixels) and files skipped with their reasons."""

    paths: list[Path] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def array(self) -> np.ndarray:
        if not self.images:
            return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        return np.stack(self.images)


def _to_8bit_grayscale(image: Image.Image) -> Image.Image:
    """Scale a 16-bit ("I;16*"), 32-bit integer ("I") or float ("F") grayscale image to "L"."""
    pixels = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / (high - low) * 255 if high > low else np.zeros_like(pixels)
    else:
        # 16-bit PNG and TIFF grayscale open as "I;16" or "I" with values up to 65535.
        scaled = pixels / 257 if pixels.max() > 255 else pixels
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))  # 2-D uint8 gives mode "L"


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: transparency over white, high bit depth scaled to 8 bits."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _to_8bit_grayscale(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load_image(path: Path) -> np.ndarray:
    """Return the file as a (32, 32, 3) uint8 RGB array; raise ImageSkipped with the reason otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("RGB", (IMAGE_SIZE * 4, IMAGE_SIZE * 4))  # JPEG only: decode at a reduced scale
                image.load()
                image = ImageOps.exif_transpose(image)
                image = to_rgb(image)
                image = ImageOps.fit(image, (IMAGE_SIZE, IMAGE_SIZE), method=RESAMPLING)
                return np.asarray(image, dtype=np.uint8).copy()
    except PermissionError as error:
        raise ImageSkipped(f"not readable: {error.strerror}") from error
    except UnidentifiedImageError as error:
        raise ImageSkipped("not an image Pillow can decode") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageSkipped(f"too large to decode safely ({error})") from error
    except (OSError, SyntaxError, ValueError) as error:  # Pillow raises these for truncated or corrupt data
        raise ImageSkipped(f"unreadable image data ({error})") from error


def find_image_files(inputs: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand folders (recursively, sorted, hidden files left out) into files, each file once; return (files, missing inputs)."""
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(path for path in item.rglob("*") if path.is_file() and not path.name.startswith("."))
            if not found:
                problems.append((item, "empty folder"))
            files.extend(found)
        elif item.is_file():
            files.append(item)
        elif item.exists():
            problems.append((item, "not a regular file"))
        else:
            problems.append((item, "not found"))
    unique: dict[Path, Path] = {}
    for path in files:  # a file named directly and inside a named folder is classified once
        unique.setdefault(path.resolve(), path)
    return list(unique.values()), problems


def load_images(inputs: list[Path]) -> ImageBatch:
    """Load every image under `inputs`, logging each file that is skipped and why."""
    files, problems = find_image_files(inputs)
    batch = ImageBatch(skipped=list(problems))
    for path, reason in problems:
        logger.warning("skipped %s: %s", path, reason)
    for path in files:
        try:
            pixels = load_image(path)
        except ImageSkipped as error:
            logger.warning("skipped %s: %s", path, error)
            batch.skipped.append((path, str(error)))
            continue
        batch.paths.append(path)
        batch.images.append(pixels)
    return batch
