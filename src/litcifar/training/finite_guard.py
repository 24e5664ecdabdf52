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
    """ModelCheckpoint that skips its save on exception for NonFiniteTrainingError and always saves the final step.

    Saving on that exception would replace last.ckpt, the last finite state, with the
    diverged one. With every_n_train_steps, Lightning 2.6 saves last.ckpt only every N
    steps and not at the end of the fit; on_train_end here adds the final state.
    """

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, NonFiniteTrainingError):
            logger.info("no checkpoint saved on the non-finite loss: last.ckpt keeps the last finite state")
            return
        super().on_exception(trainer, pl_module, exception)

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        if self.save_last and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
