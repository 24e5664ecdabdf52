"""The `litcifar` command: Lightning's own CLI plus run folders, the LR finder and the analysis.

`litcifar fit` creates a new run folder, runs the LR range test when --model.max_lr is
not given, trains, tests the last weights, draws the wrong predictions with Grad-CAM,
writes metrics.json and prints `run: <folder>` as its last line.
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

from litcifar.analysis.gradcam import resolve_layer
from litcifar.analysis.plots import plot_curves, read_epoch_metrics, save_figure
from litcifar.analysis.predictions import Predictions
from litcifar.analysis.wrong_predictions import AnalysisOptions, draw_wrong_predictions
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


class LitcifarCLI(LightningCLI):
    """LightningCLI with litcifar's run folder, LR finder and end-of-fit analysis."""

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
        if self.subcommand == "fit":
            check_fit_length(config.get("max_epochs"), config.get("max_steps", -1))
            analysis: AnalysisOptions = self._get(self.config_init, "analysis")
            resolve_layer(self.model.net, analysis.layer or self.model.net.default_cam_layer)  # fail before training
            # NOTE: under DDP every rank runs this and creates its own folder; only rank 0's is complete.
            self.run_dir = create_run_folder(self._get(self.config_init, "runs_dir"), self.model.hparams.arch)
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
        elif config.get("logger") is None:
            config["logger"] = False  # validate / test / predict print their results; no log folder
        if config.get("enable_progress_bar", True) is not False:
            callbacks.append(FitProgressBar())
        return self._instantiate_trainer(config, callbacks)

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
        options: AnalysisOptions = self._get(self.config_init, "analysis")
        summary = draw_wrong_predictions(self.model.net, predictions, self.datamodule.test_set.images, options, run_dir)

        val_label = "validation (test set)" if self.datamodule.validates_on_test_set else "validation (held out)"
        metrics_csv = run_dir / "metrics.csv"
        if metrics_csv.is_file():
            save_figure(plot_curves(read_epoch_metrics(metrics_csv), val_label=val_label), run_dir / "curves.png")

        record = {
            "test_acc": float(results["test_acc"]),
            "test_loss": float(results["test_loss"]),
            "epochs": int(self.trainer.current_epoch),
            "steps": int(self.trainer.global_step),
            "train_seconds": round(train_seconds, 2),
            "lr_find_seconds": round(self.lr_find_seconds, 2),
            "analysis_seconds": round(time.monotonic() - start, 2),
            "device": describe_device(self.trainer),
            "model": self.model.hparams.arch,
            "width": self.model.hparams.width,
            "num_parameters": self.model.num_parameters,
            "optimizer": self.model.hparams.optimizer,
            "max_lr": self.model.max_lr,
            "batch_size": self.datamodule.batch_size,
            "train_images": len(self.datamodule.train_set),
            "test_images": len(predictions.targets),
            "validation": val_label,
            **summary,
        }
        write_json(run_dir / "metrics.json", record)
        logger.info(
            "test accuracy %.2f%% (%d wrong of %d), fit %.0f s", 100 * record["test_acc"], record["misclassified"], record["test_images"], train_seconds
        )


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[litcifar] %(message)s"))
    package_logger = logging.getLogger("litcifar")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    package_logger.propagate = False


def main(args: list[str] | None = None) -> None:
    """Entry point of the `litcifar` console script.

    Invalid settings exit with status 2 and missing or corrupt data with status 1, each
    with a one-line message; other exceptions keep their traceback.
    """
    configure_logging()
    cli = None
    try:
        cli = LitcifarCLI(
            CifarClassifier,
            Cifar10DataModule,
            trainer_defaults=TRAINER_DEFAULTS,
            save_config_callback=FitOnlySaveConfigCallback,
            save_config_kwargs={"overwrite": False},
            parser_kwargs={"description": "Train CIFAR-10 classifiers with Lightning and show why they fail."},
            args=args,
            auto_configure_optimizers=False,
        )
    except InvalidSettingError as error:
        print(f"litcifar: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except (DataNotFoundError, DataVerificationError) as error:
        print(f"litcifar: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        run_dir = getattr(cli, "run_dir", None) if cli is not None else None
        if run_dir is not None:
            sys.stdout.flush()
            print(f"run: {run_dir}", flush=True)


if __name__ == "__main__":
    main()
