"""`litcifar predict --ckpt_path CKPT PATH...`: classify image files and folders into a CSV.

Exit status: 0 when at least one image was classified, 1 when none could be, 2 for
invalid arguments or an unusable checkpoint.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from litcifar.analysis.file_predictions import (
    classify_images,
    save_gradcam_overlays,
    write_predictions_csv,
)
from litcifar.analysis.gradcam import CAM_METHODS, check_cam_layer
from litcifar.data.arrays import CLASSES
from litcifar.data.image_files import load_images
from litcifar.errors import InvalidSettingError
from litcifar.training.checkpoint import load_classifier
from litcifar.training.tta import TTA_MODES

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litcifar predict",
        description=(
            "Classify image files with a trained checkpoint. Each image is rotated by its EXIF "
            "orientation, converted to RGB, centre-cropped to a square and resized to 32x32 "
            "(Lanczos). Files that are not readable images are skipped with a logged reason."
        ),
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="image files or folders (searched recursively)")
    parser.add_argument("--ckpt_path", required=True, type=Path, help="checkpoint written by litcifar fit, such as runs/<run>/checkpoints/last.ckpt")
    parser.add_argument("--top_k", type=int, default=3, help=f"classes per image in the CSV, 1..{len(CLASSES)} (default 3)")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="CSV file to write (default predictions.csv)")
    parser.add_argument("--gradcam", type=Path, default=None, metavar="DIR", help="also save a Grad-CAM overlay per image into DIR")
    parser.add_argument("--cam_layer", default=None, help="layer for --gradcam (default: the model's last block)")
    parser.add_argument("--cam_method", default="gradcam", choices=sorted(CAM_METHODS), help="CAM method for --gradcam")
    parser.add_argument("--tta", default=None, choices=TTA_MODES, help="test-time augmentation (default: the checkpoint's setting)")
    return parser


def run_predict(argv: list[str]) -> int:
    """Run the predict subcommand on `argv` (the arguments after `predict`) and return the exit status."""
    args = build_parser().parse_args(argv)
    if args.out.is_dir():
        raise InvalidSettingError(f"--out {str(args.out)!r} is a folder: give the path of the CSV file to write, such as predictions.csv")
    if not 1 <= args.top_k <= len(CLASSES):
        raise InvalidSettingError(f"--top_k must be in 1..{len(CLASSES)}, got {args.top_k}")
    model = load_classifier(args.ckpt_path)
    if args.tta is not None:
        model.hparams.tta = args.tta
    layer = args.cam_layer or model.net.default_cam_layer
    if args.gradcam is not None:
        check_cam_layer(model.net, layer)
    logger.info("model: %s from %s", model.describe(), args.ckpt_path)

    batch = load_images(args.paths)
    images = batch.array()
    probabilities = classify_images(model, images)
    write_predictions_csv(args.out, batch.paths, probabilities, args.top_k)
    if args.gradcam is not None and len(images):
        save_gradcam_overlays(model.net, images, batch.paths, probabilities.argmax(axis=1), args.gradcam, layer, args.cam_method)

    print(f"classified {len(batch.paths)} images, skipped {len(batch.skipped)}: {args.out}", flush=True)
    if not batch.paths:
        logger.error("no image could be classified; the reasons are logged above")
        return 1
    return 0

