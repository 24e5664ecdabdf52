"""The `litcifar` command: Lightning's own CLI plus run folders, the LR finder and the analysis.

`litcifar fit` creates a new run folder, runs the LR range test when --model.max_lr is
not given, trains, tests the last weights, writes metrics.json, then the analysis
(figures, analysis.json, report.html) and prints `run: <folder>` as its last line.
`litcifar analyze` writes the same analysis for an existing checkpoint.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from litcifar.analysis.gradcam import check_cam_layer
from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.predictions import Predictions
from litcifar.analysis.run_analysis import write_analysis
from litcifar.analyze_command import run_analyze
from litcifar.data.arrays import DataVerificationError
from litcifar.data.cifar10 import DataNotFoundError
from litcifar.data.datamodule import Cifar10DataModule
from litcifar.errors import InvalidSettingError
from litcifar.run_folder import create_run_folder, write_json
from litcifar.training.lr_finder import LrFinderOptions, find_max_lr
from litcifar.training.module import CifarClassifier
from litcifar.training.progress import FitProgressBar, FitTimeEstimate

logger = logging.getLogger("litcifar")

# The reference recipe's trainer settings; the model and data defaults hold the rest.
TRAINER_DEFAULTS = {
    "max_epochs": 25,
    "log_every_n_steps": 10,
}


class FitOnlySaveConfigCallback(SaveConfigCallback):
    """Save the resolved config into the run folder for `fit`; other subcommands make no run folder."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


def describe_device(trainer) -> str:
    device = trainer.strategy.root_device
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def check_fit_length(max_epochs: int | None, max_steps: int | None) -> None:
    """Reject a fit without a finite length: One Cycle needs its total step count up front."""
    if max_steps is not None and max_steps > 0:
        return
    if max_epochs is None or max_epochs < 1:
        raise InvalidSettingError(
            f"trainer.max_epochs must be at least 1, got {max_epochs} (Lightning reads -1 as endless "
            "training, which One Cycle cannot schedule); or set trainer.max_steps to a positive count"
        )


def check_ckpt_path(ckpt_path: str | None) -> None:
    """Reject a checkpoint path that is not a file; Lightning's aliases (last, best, hpc, registry) pass."""
    if ckpt_path is None or ckpt_path in ("last", "best", "hpc") or str(ckpt_path).startswith("registry"):
        return
    if not Path(ckpt_path).is_file():
        raise InvalidSettingError(f"ckpt_path {ckpt_path!r} is not a file: give the path of a .ckpt file, such as <run>/checkpoints/last.ckpt")


def warn_without_checkpoint(ckpt_path: str | None, subcommand: str) -> None:
    if ckpt_path is None:
        logger.warning("no --ckpt_path given: %s runs on an untrained model", subcommand)


def create_run_folder_or_explain(root: str, label: str) -> Path:
    try:
        return create_run_folder(root, label)
    except (FileExistsError, NotADirectoryError, PermissionError) as error:
        raise InvalidSettingError(f"cannot create a run folder under runs_dir {root!r} ({error}): give a writable folder") from error


class LitcifarCLI(LightningCLI):
    """LightningCLI with litcifar's run folder, LR finder and end-of-fit analysis."""

    created_run_dir: Path | None = None  # read by main() even when the fit raised

    model: CifarClassifier
    datamodule: Cifar10DataModule

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--runs_dir", type=str, default="runs", help="Folder under which each fit creates a new run folder.")
        parser.add_class_arguments(AnalysisOptions, "analysis")
        parser.add_class_arguments(LrFinderOptions, "lr_find")

    def instantiate_trainer(self, **kwargs):
        callbacks = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        self.run_dir: Path | None = None
        check_ckpt_path(self._get(self.config_init, "ckpt_path"))
        if self.subcommand == "fit":
            self._check_fit_settings(config)
            self.run_dir = create_run_folder_or_explain(self._get(self.config_init, "runs_dir"), self.model.hparams.arch)
            LitcifarCLI.created_run_dir = self.run_dir
            logger.info("run folder: %s", self.run_dir)
            config["default_root_dir"] = str(self.run_dir)
            if config.get("logger") in (None, True):
                config["logger"] = [
                    CSVLogger(save_dir=self.run_dir, name="", version=""),
                    TensorBoardLogger(save_dir=self.run_dir, name="tensorboard", version=""),
                ]
            callbacks += [
                ModelCheckpoint(dirpath=self.run_dir / "checkpoints", save_last=True, save_top_k=0, save_on_exception=True),
                LearningRateMonitor(logging_interval="step"),
                FitTimeEstimate(),
            ]
        else:
            # validate / test / predict print their results and write nothing
            if config.get("logger") is None:
                config["logger"] = False
            if config.get("enable_checkpointing") is None:
                config["enable_checkpointing"] = False
        if config.get("enable_progress_bar", True) is not False:
            callbacks.append(FitProgressBar())
        return self._instantiate_trainer(config, callbacks)

    def _check_fit_settings(self, config: dict) -> None:
        """Fail on settings that would only break after training, before any run folder exists."""
        check_fit_length(config.get("max_epochs"), config.get("max_steps", -1))
        analysis: AnalysisOptions = self._get(self.config_init, "analysis")
        check_cam_layer(self.model.net, analysis.layer or self.model.net.default_cam_layer)
        # Obtain and verify the data now, so a missing or corrupt dataset leaves no run folder.
        # NOTE: under DDP every rank runs this, and also creates its own run folder below.
        self.datamodule.prepare_data()

    def before_validate(self) -> None:
        warn_without_checkpoint(self._get(self.config, "ckpt_path"), "validate")

    def before_test(self) -> None:
        warn_without_checkpoint(self._get(self.config, "ckpt_path"), "test")

    def before_predict(self) -> None:
        warn_without_checkpoint(self._get(self.config, "ckpt_path"), "predict")

    def before_fit(self) -> None:
        logger.info("device: %s", describe_device(self.trainer))
        logger.info("model: %s", self.model.describe())
        ckpt_path = self._get(self.config, "ckpt_path")
        if self.model.max_lr is None and ckpt_path and Path(ckpt_path).is_file():
            saved = torch.load(ckpt_path, map_location="cpu", weights_only=True).get("max_lr")
            self.model.max_lr = saved
        self.lr_find_seconds = 0.0
        if self.model.max_lr is None:
            start = time.monotonic()
            options = self._get(self.config_init, "lr_find")
            find_max_lr(self.trainer, self.model, self.datamodule, options, self.run_dir)
            self.lr_find_seconds = time.monotonic() - start
        logger.info("max_lr: %.4g (One Cycle, peak at %.0f%% of the steps)", self.model.max_lr, 100 * self.model.hparams.pct_start)
        self.fit_start = time.monotonic()

    def after_fit(self) -> None:
        train_seconds = time.monotonic() - self.fit_start
        if self.trainer.interrupted:
            logger.warning("fit was interrupted; the last checkpoint is in %s", self.run_dir / "checkpoints")
            return
        start = time.monotonic()
        results = self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)[0]  # every rank must join
        if not self.trainer.is_global_zero:
            return
        run_dir = self.run_dir
        probs, targets = self.model.test_predictions()
        predictions = Predictions(probs.numpy(), targets.numpy())
        val_source = "test set" if self.datamodule.validates_on_test_set else "held-out training images"
        record = {
            "test_acc": float(results["test_acc"]),
            "test_loss": float(results["test_loss"]),
            "epochs": int(self.trainer.current_epoch),
            "steps": int(self.trainer.global_step),
            "train_seconds": round(train_seconds, 2),
            "lr_find_seconds": round(self.lr_find_seconds, 2),
            "device": describe_device(self.trainer),
            "model": self.model.hparams.arch,
            "width": self.model.hparams.width,
            "num_parameters": self.model.num_parameters,
            "optimizer": self.model.hparams.optimizer,
            "max_lr": self.model.max_lr,
            "batch_size": self.datamodule.batch_size,
            "train_images": len(self.datamodule.train_set),
            "test_images": len(predictions.targets),
            "val_source": val_source,
            "misclassified": int(len(predictions.misclassified_indices())),
        }
        write_json(run_dir / "metrics.json", record)  # first, so a failing figure loses no result
        logger.info(
            "test accuracy %.2f%% (%d wrong of %d), fit %.0f s", 100 * record["test_acc"], record["misclassified"], record["test_images"], train_seconds
        )

        options: AnalysisOptions = self._get(self.config_init, "analysis")
        analysis = write_analysis(self.model.net, predictions, self.datamodule, options, run_dir)
        record.update(
            shown=len(analysis["misclassified"]),
            cam_layer=analysis["cam"]["layer"],
            cam_method=analysis["cam"]["method"],
            analysis_seconds=round(time.monotonic() - start, 2),
        )
        write_json(run_dir / "metrics.json", record)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[litcifar] %(message)s"))
    package_logger = logging.getLogger("litcifar")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    package_logger.propagate = False


def _exit_on_known_errors(function, *args, **kwargs):
    """Call `function`; exit with status 2 on an invalid setting and 1 on missing or corrupt data, with a one-line message."""
    try:
        return function(*args, **kwargs)
    except InvalidSettingError as error:
        print(f"litcifar: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except (DataNotFoundError, DataVerificationError) as error:
        print(f"litcifar: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def main(args: list[str] | None = None) -> None:
    """Entry point of the `litcifar` console script.

    Invalid settings exit with status 2 and missing or corrupt data with status 1, each
    with a one-line message; other exceptions keep their traceback.
    """
    configure_logging()
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["analyze"]:
        report = _exit_on_known_errors(run_analyze, argv[1:])
        print(f"report: {report}", flush=True)
        return
    LitcifarCLI.created_run_dir = None
    try:
        _exit_on_known_errors(
            LitcifarCLI,
            CifarClassifier,
            Cifar10DataModule,
            trainer_defaults=TRAINER_DEFAULTS,
            save_config_callback=FitOnlySaveConfigCallback,
            save_config_kwargs={"overwrite": False},
            parser_kwargs={
                "description": "Train CIFAR-10 classifiers with Lightning and show why they fail. "
                "`litcifar analyze --help` describes the analysis of a trained checkpoint."
            },
            args=args,
            auto_configure_optimizers=False,
            seed_everything_default=0,
        )
    finally:
        run_dir = LitcifarCLI.created_run_dir
        if run_dir is not None:
            sys.stdout.flush()
            print(f"run: {run_dir}", flush=True)


if __name__ == "__main__":
    main()
