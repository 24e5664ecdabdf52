"""`litcifar analyze`: the analysis of a trained checkpoint on the CIFAR-10 test set.

Lightning's CLI only offers Trainer methods as subcommands, so `litcifar.cli.main` hands
`analyze` to this parser.
"""

from __future__ import annotations

import logging
from pathlib import Path

from jsonargparse import ActionConfigFile, ArgumentParser

from litcifar.analysis.gradcam import check_cam_layer
from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.predictions import collect_predictions
from litcifar.analysis.run_analysis import write_analysis
from litcifar.data.datamodule import Cifar10DataModule
from litcifar.device import DEVICE_CHOICES, pick_device
from litcifar.errors import InvalidSettingError
from litcifar.training.checkpoint import (
    classifier_from_checkpoint,
    datamodule_settings,
    read_checkpoint,
)

logger = logging.getLogger(__name__)


def build_analyze_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="litcifar analyze",
        description=(
            "Evaluate a trained checkpoint on the CIFAR-10 test set and write the figures, "
            "analysis.json and report.html (per-class accuracy, confusion matrix, confused pairs, "
            "misclassified gallery, Grad-CAM for the predicted and the true class, CAM faithfulness, "
            "dataset and augmentation views, curves and LR finder of the run)."
        ),
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML file with any of these options.")
    parser.add_argument("--ckpt_path", type=str, required=True, help="Checkpoint written by `litcifar fit`, such as <run>/checkpoints/last.ckpt.")
    parser.add_argument("--out", type=str | None, default=None, help="Folder for the output; default the run folder that contains checkpoints/.")
    parser.add_argument("--device", type=str, default="auto", help=f"Device of the evaluation: {', '.join(DEVICE_CHOICES)} (auto: CUDA, then MPS, then CPU).")
    parser.add_argument("--data_dir", type=str | None, default=None, help="CIFAR-10 folder; default the checkpoint's setting, else $LITCIFAR_DATA or the user cache.")
    parser.add_argument("--batch_size", type=int | None, default=None, help="Images per batch of the test pass; default the checkpoint's setting.")
    parser.add_argument("--num_workers", type=int | None, default=None, help="Loader processes; default the checkpoint's setting, else one per core beyond the first.")
    parser.add_class_arguments(AnalysisOptions, "analysis")
    return parser


def default_out_dir(ckpt_path: Path) -> Path:
    """Return the run folder of a checkpoint: the parent of its checkpoints/ folder, else the checkpoint's folder."""
    folder = ckpt_path.resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


def run_analyze(argv: list[str]) -> Path:
    """Parse `litcifar analyze` arguments, write the analysis and return the path of report.html."""
    parser = build_analyze_parser()
    config = parser.parse_args(argv)
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    options: AnalysisOptions = instantiate(config).analysis
    device = pick_device(config.device)
    ckpt_path = Path(config.ckpt_path)
    checkpoint = read_checkpoint(ckpt_path, map_location="cpu")
    model = classifier_from_checkpoint(checkpoint, ckpt_path)
    check_cam_layer(model.net, options.layer or model.net.default_cam_layer)
    settings = datamodule_settings(checkpoint)
    for key in ("data_dir", "batch_size", "num_workers"):
        if config[key] is not None:
            settings[key] = config[key]
    datamodule = Cifar10DataModule(**settings)
    out_dir = Path(config.out) if config.out else default_out_dir(ckpt_path)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidSettingError(f"--out {str(out_dir)!r} is a file: give a folder")

    datamodule.setup("test")
    model = model.to(device)
    logger.info("checkpoint: %s (%s) on %s", ckpt_path, model.describe(), device)
    predictions = collect_predictions(model, datamodule.test_dataloader(), device)
    logger.info("test accuracy %.2f%% (%d wrong of %d)", 100 * predictions.accuracy, len(predictions.misclassified_indices()), len(predictions.targets))
    write_analysis(model.net, predictions, datamodule, options, out_dir, run_dir=default_out_dir(ckpt_path))
    return out_dir / "report.html"
