"""Fit progress: a whole-fit ETA in the progress bar and a logged estimate of the total time."""

from __future__ import annotations

import logging
import time

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, TQDMProgressBar

logger = logging.getLogger(__name__)

CPU_QUICK_HINT = "litcifar fit --config configs/cpu-quick.yaml"


def _format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class FitProgressBar(TQDMProgressBar):
    """TQDM bar whose postfix adds `fit_eta`: time left for all training steps at the rate so far."""

    def __init__(self, refresh_rate: int = 1) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._fit_start: float | None = None
        self._start_step = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._fit_start = time.monotonic()
        self._start_step = trainer.global_step

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        done = trainer.global_step - self._start_step
        total = trainer.estimated_stepping_batches - self._start_step
        if self._fit_start is not None and done > 0 and total > done and trainer.training:
            elapsed = time.monotonic() - self._fit_start
            metrics["fit_eta"] = _format_duration(elapsed / done * (total - done))
        return metrics


class FitTimeEstimate(Callback):
    """Log the expected training time once, from the rate of the first steps after warm-up.

    On a CPU, an estimate over an hour also points to the quick preset.
    """

    def __init__(self, warmup_steps: int = 3, measured_steps: int = 10) -> None:
        self.warmup_steps = warmup_steps
        self.measured_steps = measured_steps
        self._start: float | None = None
        self._done = False
        self.estimate_seconds: float | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int) -> None:
        if self._done:
            return
        step = trainer.global_step
        if step == self.warmup_steps:
            self._start = time.monotonic()
        elif self._start is not None and step == self.warmup_steps + self.measured_steps:
            self._done = True
            seconds_per_step = (time.monotonic() - self._start) / self.measured_steps
            total_steps = trainer.estimated_stepping_batches
            self.estimate_seconds = seconds_per_step * total_steps
            batch_size = len(batch[1]) if isinstance(batch, (tuple, list)) else 0
            logger.info(
                "estimated training time: %s for %d steps (%.0f images/s; validation adds to it)",
                _format_duration(self.estimate_seconds),
                total_steps,
                batch_size / seconds_per_step if batch_size else float("nan"),
            )
            if pl_module.device.type == "cpu" and self.estimate_seconds > 3600:
                logger.warning(
                    "this fit will take hours on a CPU (about %.1f h); for a run of minutes use `%s`",
                    self.estimate_seconds / 3600,
                    CPU_QUICK_HINT,
                )
