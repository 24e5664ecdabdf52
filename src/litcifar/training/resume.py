"""Resuming a fit in its own run folder: which checkpoint, which folder, and what history to keep.

`--ckpt_path last` means `runs_dir/<run>/checkpoints/last.ckpt` of the run whose
last.ckpt was written most recently. A checkpoint inside `<run>/checkpoints/` of a run
folder (one with config.yaml) resumes into that folder. Any other checkpoint starts a
new run folder from its weights and training state.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from litcifar.training.checkpoint import CheckpointError

logger = logging.getLogger(__name__)

CSV_ROWS_KEY = "metrics_csv_rows"  # rows of metrics.csv written when the checkpoint was saved


def find_last_checkpoint(runs_dir: str | Path) -> Path:
    """Return the most recently written `<run>/checkpoints/last.ckpt` under runs_dir."""
    candidates = sorted(Path(runs_dir).glob("*/checkpoints/last.ckpt"), key=lambda path: path.stat().st_mtime)
    if not candidates:
        raise CheckpointError(
            f"--ckpt_path last: no run folder under runs_dir {str(runs_dir)!r} has checkpoints/last.ckpt; "
            "give --runs_dir the folder that holds your runs, or --ckpt_path <run>/checkpoints/last.ckpt"
        )
    return candidates[-1]


def run_folder_of(checkpoint: str | Path) -> Path | None:
    """Return the run folder a checkpoint belongs to, or None for a checkpoint outside a run folder."""
    folder = Path(checkpoint).resolve().parent
    if folder.name == "checkpoints" and (folder.parent / "config.yaml").is_file():
        return folder.parent
    return None


def resume_position(checkpoint: dict[str, Any]) -> tuple[int, int]:
    """Return (epoch, batches of it already trained) of a checkpoint, from Lightning's loop progress."""
    fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
    epoch = fit_loop.get("epoch_progress", {}).get("current", {}).get("processed", checkpoint.get("epoch", 0))
    # "processed" counts batches whose training step ran; "ready" also counts one fetched but not yet trained.
    batches = fit_loop.get("epoch_loop.batch_progress", {}).get("current", {}).get("processed", 0)
    return int(epoch), int(batches)


def _count_csv_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, newline="") as stream:
        return max(0, sum(1 for _ in csv.reader(stream)) - 1)


class _HistoryKeepingWriter(ExperimentWriter):
    """CSV writer that keeps the first `keep_rows` rows of an existing metrics.csv instead of deleting it."""

    keep_rows = 0

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as stream:
            reader = csv.DictReader(stream)
            fieldnames = list(reader.fieldnames or [])
            rows = [row for _, row in zip(range(self.keep_rows), reader)]
        with open(path, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = fieldnames
        logger.info("kept %d rows of metrics history in %s", len(rows), path)


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger that, on resume, continues metrics.csv from the checkpoint's rows.

    Lightning's own CSVLogger deletes an existing metrics.csv. Rows written after the
    checkpoint was saved are dropped, because the resumed fit logs those steps again.
    """

    def __init__(self, *args: Any, keep_rows: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep_rows = keep_rows

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            writer_class = type("Writer", (_HistoryKeepingWriter,), {"keep_rows": self.keep_rows})
            self._experiment = writer_class(log_dir=self.log_dir)
        return self._experiment


class ResumeState(Callback):
    """Store the metrics.csv row count in each checkpoint, and on resume put the data order at the checkpoint."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        if not trainer.is_global_zero:
            return  # only rank 0 writes logs and checkpoints
        for run_logger in trainer.loggers:
            if isinstance(run_logger, CSVLogger):
                run_logger.save()  # flush, so the file matches what the checkpoint records
                checkpoint[CSV_ROWS_KEY] = _count_csv_rows(Path(run_logger.experiment.metrics_file_path))

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        epoch_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        current = epoch_loop.get("epoch_loop.batch_progress", {}).get("current", {})
        stepped = epoch_loop.get("epoch_loop.state_dict", {})
        if current.get("ready") == 1 and current.get("started") == 0 and "_batches_that_stepped" in stepped:
            # KeepGoodCheckpoint's epoch-boundary save comes before an epoch's first step, which
            # is neither a batch end nor an epoch end. On such a restart Lightning 2.6 adds 1 to
            # the logging step counter, so this subtracts it first.
            stepped["_batches_that_stepped"] -= 1
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "resume_position"):
            datamodule.resume_position = resume_position(checkpoint)
            logger.info("resuming at epoch %d after %d batches of it", *datamodule.resume_position)
