"""The `litcifar` command: Lightning's own CLI plus run folders, the LR finder and the analysis.

`litcifar fit` creates a new run folder, runs the LR range test when --model.max_lr is
not given, trains, tests the last weights, writes metrics.json, then the analysis
(figures, analysis.json, report.html) and prints `run: <folder>` as its last line.
`--ckpt_path last` or a checkpoint inside a run folder resumes that run in its own
folder (see litcifar.training.resume). `litcifar analyze` writes the same analysis for
an existing checkpoint, and `litcifar predict` classifies image files.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path

import torch
from jsonargparse import Namespace
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from litcifar.analysis.gradcam import check_cam_layer
from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.predictions import Predictions
from litcifar.analysis.run_analysis import write_analysis
from litcifar.analyze_command import run_analyze
from litcifar.data.arrays import DataVerificationError
from litcifar.data.cifar10 import DataNotFoundError
from litcifar.data.datamodule import Cifar10DataModule
from litcifar.errors import InvalidSettingError
from litcifar.predict_cli import run_predict
from litcifar.run_folder import create_run_folder, write_json
from litcifar.training.checkpoint import (
    SafeAtomicCheckpointIO,
    check_requested_network,
    read_checkpoint,
)
from litcifar.training.finite_guard import (
    FiniteTrainingGuard,
    KeepGoodCheckpoint,
    NonFiniteTrainingError,
)
from litcifar.training.lr_finder import (
    LrFinderOptions,
    check_lr_finder_length,
    find_max_lr,
)
from litcifar.training.module import CifarClassifier
from litcifar.training.precision import precision_advice
from litcifar.training.progress import FitProgressBar, FitTimeEstimate
from litcifar.training.resume import (
    CSV_ROWS_KEY,
    ResumableCSVLogger,
    ResumeState,
    find_last_checkpoint,
    run_folder_of,
)
from litcifar.training.schedule import check_one_cycle_length

logger = logging.getLogger("litcifar")

# The run folder of this fit, set by the first process; DDP ranks started by Lightning
# inherit it, so all ranks write into one folder. Set it by hand for ranks started by
# SLURM or torchrun.
RUN_DIR_ENV = "LITCIFAR_RUN_DIR"

# The reference recipe's trainer settings; the model and data defaults hold the rest.
TRAINER_DEFAULTS = {
    "max_epochs": 25,
    "log_every_n_steps": 10,
}


# Model settings that only change how a network is run, not what it learned: a value set on
# the command line or in --config wins over the one saved in a --ckpt_path checkpoint.
RUNTIME_MODEL_SETTINGS = ("tta", "compile", "channels_last")


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


def next_free_name(folder: Path, stem: str, suffix: str) -> str:
    """Return `stem-1<suffix>`, `stem-2<suffix>`... the first that does not exist in folder."""
    number = 1
    while (folder / f"{stem}-{number}{suffix}").exists():
        number += 1
    return f"{stem}-{number}{suffix}"


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

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # `litcifar predict` classifies image files (litcifar.predict_cli), not the datamodule.
        return {name: keys for name, keys in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--runs_dir", type=str, default="runs", help="Folder under which each fit creates a new run folder.")
        parser.add_argument(
            "--checkpoint_every_n_steps",
            type=int,
            default=0,
            help="Also write checkpoints/last.ckpt every N training steps; 0 writes it at the end of each epoch only.",
        )
        parser.add_class_arguments(AnalysisOptions, "analysis")
        parser.add_class_arguments(LrFinderOptions, "lr_find")

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        # The same arguments without defaults: what the command line and --config files set.
        if isinstance(args, (dict, Namespace)):
            self._explicit_settings = {}
        else:
            self._explicit_settings = parser.parse_args(args, defaults=False).as_dict()

    def _parse_ckpt_path(self) -> None:
        """Resolve `--ckpt_path last`, then load the checkpoint safely before Lightning reads its hyperparameters.

        Lightning then lets the checkpoint's hyperparameters override every --model.* value;
        the runtime settings the user set, such as --model.tta flip, are kept.
        """
        self.resume_checkpoint: dict | None = None
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return super()._parse_ckpt_path()
        section = self.config[subcommand]
        if section.get("ckpt_path") == "last":
            section.ckpt_path = str(find_last_checkpoint(section.get("runs_dir", "runs")))
            logger.info("--ckpt_path last: %s", section.ckpt_path)
        ckpt_path = section.get("ckpt_path")
        check_ckpt_path(ckpt_path)
        if ckpt_path and Path(ckpt_path).is_file():
            self.resume_checkpoint = read_checkpoint(ckpt_path)
            check_requested_network(section.get("model"), self.resume_checkpoint, ckpt_path)
        explicit = self._explicit_settings.get(subcommand, {}).get("model", {})
        chosen = {key: section.model[key] for key in RUNTIME_MODEL_SETTINGS if key in explicit}
        super()._parse_ckpt_path()
        for key, value in chosen.items():
            self.config[subcommand]["model"][key] = value

    def instantiate_trainer(self, **kwargs):
        callbacks = [self._get(self.config_init, key) for key in self._parser(self.subcommand).callback_keys]
        config = {**self._get(self.config_init, "trainer", default={}), **kwargs}
        self.run_dir: Path | None = None
        config["plugins"] = [*(config.get("plugins") or []), SafeAtomicCheckpointIO()]
        if self.subcommand == "fit":
            every_n_steps = self._get(self.config_init, "checkpoint_every_n_steps")
            if every_n_steps < 0:
                raise InvalidSettingError(f"checkpoint_every_n_steps must be >= 0 (0 saves at epoch ends only), got {every_n_steps}")
            self._check_fit_settings(config)
            self.run_dir = self._choose_run_folder()
            LitcifarCLI.created_run_dir = self.run_dir
            logger.info("run folder: %s", self.run_dir)
            config["default_root_dir"] = str(self.run_dir)
            keep_rows = (self.resume_checkpoint or {}).get(CSV_ROWS_KEY, 0) if self.resuming_in_place else 0
            if config.get("logger") in (None, True):
                config["logger"] = [
                    ResumableCSVLogger(save_dir=self.run_dir, name="", version="", keep_rows=keep_rows),
                    TensorBoardLogger(save_dir=self.run_dir, name="tensorboard", version=""),
                ]
            callbacks += [
                KeepGoodCheckpoint(
                    dirpath=self.run_dir / "checkpoints", save_on_exception=True, every_n_train_steps=every_n_steps or None
                ),
                FiniteTrainingGuard(),
                ResumeState(),
                LearningRateMonitor(logging_interval="step"),
                FitTimeEstimate(),
            ]
            if self.resuming_in_place:
                self.save_config_kwargs["config_filename"] = next_free_name(self.run_dir, "config-resume", ".yaml")
        else:
            # validate / test / predict print their results and write nothing
            if config.get("logger") is None:
                config["logger"] = False
            if config.get("enable_checkpointing") is None:
                config["enable_checkpointing"] = False
        if config.get("enable_progress_bar", True) is not False:
            callbacks.append(FitProgressBar())
        return self._instantiate_trainer(config, callbacks)

    @property
    def resuming_in_place(self) -> bool:
        ckpt_path = self._get(self.config_init, "ckpt_path")
        return bool(ckpt_path) and run_folder_of(ckpt_path) is not None

    def _choose_run_folder(self) -> Path:
        """Return the shared folder of a DDP rank, the folder of the run being resumed, or a new run folder."""
        shared = os.environ.get(RUN_DIR_ENV)
        if shared:
            Path(shared).mkdir(parents=True, exist_ok=True)
            return Path(shared)
        ckpt_path = self._get(self.config_init, "ckpt_path")
        run_dir = run_folder_of(ckpt_path) if ckpt_path else None
        if run_dir is not None:
            logger.info("resuming the run in %s from %s", run_dir, ckpt_path)
        else:
            run_dir = create_run_folder_or_explain(self._get(self.config_init, "runs_dir"), self.model.hparams.arch)
        os.environ[RUN_DIR_ENV] = str(run_dir)  # read by the DDP ranks Lightning starts later
        return run_dir

    def _check_fit_settings(self, config: dict) -> None:
        """Fail on settings that would only break after training, before any run folder exists."""
        check_fit_length(config.get("max_epochs"), config.get("max_steps", -1))
        analysis: AnalysisOptions = self._get(self.config_init, "analysis")
        check_cam_layer(self.model.net, analysis.layer or self.model.net.default_cam_layer)
        # Obtain and verify the data now, so a missing or corrupt dataset leaves no run folder.
        # Under DDP every rank runs this; ranks started by Lightning find the cache rank 0 wrote.
        self.datamodule.prepare_data()
        # The schedule and LR finder lengths, checked before the run folder exists (one process's count).
        self.datamodule.setup("fit")
        batches = math.ceil(len(self.datamodule.train_set) / self.datamodule.batch_size)
        max_steps = config.get("max_steps", -1)
        total_steps = max_steps if max_steps is not None and max_steps > 0 else batches * config["max_epochs"]
        check_one_cycle_length(self.model.hparams.pct_start, total_steps)
        if self.model.max_lr is None and (self.resume_checkpoint or {}).get("max_lr") is None:
            check_lr_finder_length(batches * config["max_epochs"] if (config.get("max_epochs") or 0) > 0 else total_steps)

    def before_validate(self) -> None:
        warn_without_checkpoint(self._get(self.config, "ckpt_path"), "validate")

    def before_test(self) -> None:
        warn_without_checkpoint(self._get(self.config, "ckpt_path"), "test")

    def before_fit(self) -> None:
        logger.info("device: %s", describe_device(self.trainer))
        logger.info("model: %s", self.model.describe())
        advice = precision_advice(self.trainer.strategy.root_device.type, self.trainer.precision)
        if advice:
            logger.warning(advice)
        if self.model.max_lr is None and self.resume_checkpoint is not None:
            self.model.max_lr = self.resume_checkpoint.get("max_lr")  # the LR finder's result, not searched again
        self.lr_find_seconds = 0.0
        if self.model.max_lr is None:
            start = time.monotonic()
            options = self._get(self.config_init, "lr_find")
            find_max_lr(self.trainer, self.model, self.datamodule, options, self.run_dir)
            # Each DDP rank searched on its own shard; all train with rank 0's choice.
            # NOTE: that choice can differ from a one-process range test over the whole training set.
            self.model.max_lr = self.trainer.strategy.broadcast(self.model.max_lr, src=0)
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
            "tta": self.model.hparams.tta,
            "precision": str(self.trainer.precision),
            "batch_size": self.datamodule.batch_size,
            "train_images": len(self.datamodule.train_set),
            "test_images": len(predictions.targets),
            "val_source": val_source,
            "misclassified": len(predictions.misclassified_indices()),
        }
        if self.resume_checkpoint is not None:
            # train_seconds then covers only the steps after this step.
            record["resumed_from_step"] = int(self.resume_checkpoint.get("global_step", 0))
        write_json(run_dir / "metrics.json", record)  # first, so a failing figure loses no result
        logger.info(
            "test accuracy %.2f%% (%d wrong of %d), fit %.0f s", 100 * record["test_acc"], record["misclassified"], record["test_images"], train_seconds
        )

        options: AnalysisOptions = self._get(self.config_init, "analysis")
        try:
            analysis = write_analysis(self.model.net, predictions, self.datamodule, options, run_dir)
        except KeyboardInterrupt:
            # Training and metrics.json are complete; only figures are missing, and analyze redraws them.
            logger.warning(
                "analysis interrupted; the trained checkpoint and metrics.json are kept. Draw it again with: "
                "litcifar analyze --ckpt_path %s", run_dir / "checkpoints" / "last.ckpt",
            )
            raise SystemExit(130) from None
        record.update(
            shown=len(analysis["misclassified"]),
            cam_layer=analysis["cam"]["layer"],
            cam_method=analysis["cam"]["method"],
            analysis_seconds=round(time.monotonic() - start, 2),
        )
        write_json(run_dir / "metrics.json", record)


def is_first_process() -> bool:
    """Return False in the extra processes of a multi-process run (DDP ranks other than 0)."""
    return all(int(os.environ.get(name, "0")) == 0 for name in ("LOCAL_RANK", "NODE_RANK", "RANK"))


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
    except (DataNotFoundError, DataVerificationError, NonFiniteTrainingError) as error:
        print(f"litcifar: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def main(args: list[str] | None = None) -> None:
    """Entry point of the `litcifar` console script.

    Invalid settings and unusable checkpoints exit with status 2, and missing or corrupt
    data or a non-finite loss with status 1, each with a one-line message. Other
    exceptions keep their traceback. `predict` runs litcifar.predict_cli instead.
    """
    configure_logging()
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["predict"]:
        raise SystemExit(_exit_on_known_errors(run_predict, argv[1:]))
    if argv[:1] == ["analyze"]:
        report = _exit_on_known_errors(run_analyze, argv[1:])
        print(f"report: {report}", flush=True)
        return
    LitcifarCLI.created_run_dir = None
    inherited_run_dir = os.environ.get(RUN_DIR_ENV)
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
                "`litcifar analyze --help` describes the analysis of a trained checkpoint, and "
                "`litcifar predict --help` classifying image files with one."
            },
            args=args,
            auto_configure_optimizers=False,
            seed_everything_default=0,
        )
    finally:
        if inherited_run_dir is None:
            os.environ.pop(RUN_DIR_ENV, None)  # the next fit in this process gets a new folder
        run_dir = LitcifarCLI.created_run_dir
        if run_dir is not None and is_first_process():
            sys.stdout.flush()
            print(f"run: {run_dir}", flush=True)


if __name__ == "__main__":
    main()
