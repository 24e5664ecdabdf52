"""Stop a fit at the first NaN or infinite loss, and never write non-finite weights to a checkpoint."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

logger = logging.getLogger(__name__)


class NonFiniteTrainingError(RuntimeError):
    """Raised when the loss or the weights stop being finite numbers."""


def _advice(pl_module) -> str:
    max_lr = getattr(pl_module, "max_lr", None)
    current = f" (now {max_lr:.4g})" if isinstance(max_lr, float) else ""
    return (
        f"The last checkpoint with finite weights is kept. Lower --model.max_lr{current}, "
        "or raise --model.div_factor, and fit again"
    )


class FiniteTrainingGuard(Callback):
    """Raise NonFiniteTrainingError on a non-finite loss (before its backward pass) or non-finite weights at a save.

    Checking the loss costs one device-to-host copy per step.
    """

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteTrainingError(
                f"training loss is {value} at step {trainer.global_step} (epoch {trainer.current_epoch}, "
                f"batch {trainer.fit_loop.epoch_loop.batch_idx}); the fit was stopped. {_advice(pl_module)}"
            )

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        for name, tensor in checkpoint.get("state_dict", {}).items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise NonFiniteTrainingError(
                    f"weight {name} is not finite at step {trainer.global_step}; the checkpoint was not written "
                    f"and the fit was stopped. {_advice(pl_module)}"
                )


class KeepGoodCheckpoint(ModelCheckpoint):
    """ModelCheckpoint for last.ckpt only: saved at each epoch boundary, every N steps if set, and at the end.

    Lightning 2.6 with save_top_k=0 writes last.ckpt only every N steps (if set) and when
    training ends. The epoch-boundary save happens before the next epoch's first step,
    after the finished epoch's metrics are logged. A checkpoint written at the end of the
    epoch itself would resume without that epoch's training metrics, because Lightning
    does not log them again. For the same reason a step save that falls on an epoch's last
    batch is left to that boundary save. The save on exception is skipped for
    NonFiniteTrainingError, because it would replace last.ckpt, the last finite state,
    with the diverged one.
    """

    def __init__(self, **kwargs: Any) -> None:
        # A resumed run must overwrite its own last.ckpt, not write last-v1.ckpt beside it.
        super().__init__(save_last=True, save_top_k=0, enable_version_counter=False, **kwargs)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        # At the first batch, not at on_train_epoch_start: Lightning 2.6 has not reset the
        # batch progress there yet, and a resume from that point ends the fit at once.
        if batch_idx == 0 and trainer.current_epoch > 0 and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, NonFiniteTrainingError):
            logger.info("no checkpoint saved on the non-finite loss: last.ckpt keeps the last finite state")
            return
        super().on_exception(trainer, pl_module, exception)

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
