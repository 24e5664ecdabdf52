"""LR range test with Lightning's `Tuner.lr_find`, whose suggestion becomes the One Cycle peak.

Lightning 2.6.6's `_LRFinder.suggestion()` takes the steepest slope of loss against the
LR on a linear axis. On an exponential sweep that slope is largest among the smallest LRs
whatever the loss does: on the 2-core CI machine it suggested 5e-5 for a width-0.25
custom ResNet with Adam whose loss kept falling up to 8e-2. The steepest slope against
log10(LR) is no better there: the smoothed loss falls at a near-constant rate per decade
from 1e-4 to 5e-3, so the argmin lands on noise (3e-4). The default rule here,
"minimum", takes the LR of the lowest smoothed loss divided by 10 (fastai's `lr_min`
rule), which gave 8e-3 on that run. "steepest" (log axis) and "lightning" remain options.

Lightning 2.6.6 also divides its running loss average by 1 - beta^(step + 1) where
step is already 1 at the first batch, so the first smoothed losses read about half
the real loss. `unbias_smoothed_losses` redoes that correction before the rule and
the plot see the curve.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.tuner import Tuner

from litcifar.errors import InvalidSettingError
from litcifar.training.module import CifarClassifier

logger = logging.getLogger(__name__)

RULE_DESCRIPTIONS = {
    "minimum": "a tenth of the LR at the lowest loss",
    "steepest": "the steepest loss descent per decade of LR",
    "lightning": "Lightning's suggestion()",
}
SUGGESTION_RULES = tuple(RULE_DESCRIPTIONS)
MINIMUM_DIVISOR = 10.0  # fastai's lr_min: a tenth of the LR at the loss minimum


@dataclass
class LrFinderOptions:
    """LR range test settings (used only when --model.max_lr is not given).

    Args:
        min_lr: first learning rate tried.
        max_lr: last learning rate tried; the test stops early once the loss exceeds
            4x its best value.
        num_training: optimizer steps of the test, each at a higher LR (exponential).
        suggestion: "minimum" (LR of the lowest smoothed loss / 10), "steepest"
            (steepest loss descent against log10 LR, before the minimum) or
            "lightning" (Lightning's `suggestion()`).
        skip_begin: first points ignored by the suggestion; Lightning's smoothing
            (exponential average, beta 0.98) under-reads the first losses.
    """

    min_lr: float = 1e-6
    max_lr: float = 1.0
    num_training: int = 100
    suggestion: str = "minimum"
    skip_begin: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.min_lr < self.max_lr:
            raise InvalidSettingError(f"lr_find needs 0 < min_lr < max_lr, got {self.min_lr} and {self.max_lr}")
        if self.num_training < 20:
            raise InvalidSettingError(f"lr_find.num_training must be at least 20 steps to suggest an LR, got {self.num_training}")
        if self.suggestion not in SUGGESTION_RULES:
            raise InvalidSettingError(f"unknown lr_find.suggestion {self.suggestion!r}: choose one of {', '.join(SUGGESTION_RULES)}")
        if not 0 <= self.skip_begin < self.num_training - 2:
            raise InvalidSettingError(f"lr_find.skip_begin must be in 0..{self.num_training - 3}, got {self.skip_begin}")


LIGHTNING_SMOOTHING_BETA = 0.98  # _LRCallback's default in Lightning 2.6.6; Tuner.lr_find does not change it


def unbias_smoothed_losses(losses, beta: float = LIGHTNING_SMOOTHING_BETA) -> list[float]:
    """Rescale Lightning's smoothed losses from its bias correction to the standard one.

    Point i (0-based) was divided by 1 - beta^(i + 2); the running average after i + 1
    batches needs 1 - beta^(i + 1).
    """
    return [
        float(loss) * (1 - beta ** (index + 2)) / (1 - beta ** (index + 1))
        for index, loss in enumerate(losses)
    ]


def _usable_points(lrs, losses, skip_begin: int) -> tuple[np.ndarray, np.ndarray]:
    lrs = np.asarray(lrs, dtype=np.float64)[skip_begin:]
    losses = np.asarray(losses, dtype=np.float64)[skip_begin:]
    finite = np.isfinite(losses) & (lrs > 0)
    return lrs[finite], losses[finite]


def minimum_over_ten(lrs: np.ndarray, losses: np.ndarray, skip_begin: int = 10) -> float | None:
    """Return a tenth of the LR at which the smoothed loss is lowest; None with fewer than 3 usable points."""
    lrs, losses = _usable_points(lrs, losses, skip_begin)
    if len(losses) < 3:
        return None
    return float(lrs[int(np.argmin(losses))] / MINIMUM_DIVISOR)


def steepest_log_descent(lrs: np.ndarray, losses: np.ndarray, skip_begin: int = 10) -> float | None:
    """Return the LR where the loss falls fastest per decade of LR, looking only before the minimum loss.

    Non-finite losses (a diverged tail) are dropped. Returns None with fewer than 3 usable points.
    """
    lrs, losses = _usable_points(lrs, losses, skip_begin)
    if len(losses) < 3:
        return None
    end = int(np.argmin(losses)) + 1  # points after the minimum are the divergence
    if end < 3:
        return None
    slopes = np.gradient(losses[:end], np.log10(lrs[:end]))
    return float(lrs[int(np.argmin(slopes))])


MIN_LR_FINDER_STEPS = 20  # below this the smoothed curve has too few points to pick from


def check_lr_finder_length(available_steps: int) -> None:
    """Raise InvalidSettingError when the fit's epochs hold too few batches for the LR range test.

    Lightning's range test also stops when trainer.max_epochs run out, before num_training steps if need be.
    """
    if available_steps < MIN_LR_FINDER_STEPS:
        raise InvalidSettingError(
            f"the LR range test needs at least {MIN_LR_FINDER_STEPS} batches, but the training set and "
            f"max_epochs give {available_steps}: give --model.max_lr, or more training images, epochs or a smaller batch_size"
        )


def find_max_lr(
    trainer: pl.Trainer,
    model: CifarClassifier,
    datamodule: pl.LightningDataModule,
    options: LrFinderOptions,
    out_dir: Path | None = None,
) -> float:
    """Run the LR range test, set `model.max_lr` to its suggestion and return it.

    Lightning restores the weights it started from once the test ends, so the fit
    starts from the same initial model. With `out_dir`, writes lr_find.png (curve with
    the suggestion marked) and lr_find.json (suggestion, LRs, losses) there.
    """
    datamodule.setup("fit")
    batches = math.ceil(len(datamodule.train_set) / datamodule.batch_size / max(1, trainer.world_size))
    available = batches * trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else options.num_training
    check_lr_finder_length(available)
    num_training = min(options.num_training, available)
    if num_training < options.num_training:
        logger.warning(
            "LR range test: %d steps instead of lr_find.num_training=%d, all the batches of max_epochs, "
            "still sweeping %.0e..%.0e", num_training, options.num_training, options.min_lr, options.max_lr,
        )
    model.lr_search_running = True
    try:
        finder = Tuner(trainer).lr_find(
            model,
            datamodule=datamodule,
            min_lr=options.min_lr,
            max_lr=options.max_lr,
            num_training=num_training,
            update_attr=False,
        )
    finally:
        model.lr_search_running = False
    suggestion = None
    if finder is not None and options.suggestion != "lightning":
        finder.results["loss"] = unbias_smoothed_losses(finder.results["loss"])
    if finder is not None:
        if options.suggestion == "lightning":
            suggestion = finder.suggestion(skip_begin=options.skip_begin)
        elif options.suggestion == "minimum":
            suggestion = minimum_over_ten(finder.results["lr"], finder.results["loss"], options.skip_begin)
        else:
            suggestion = steepest_log_descent(finder.results["lr"], finder.results["loss"], options.skip_begin)
    if suggestion is None or not suggestion > 0:
        raise RuntimeError(
            "the LR finder could not suggest a learning rate (too few points before the loss "
            "diverged); raise --lr_find.num_training, or give --model.max_lr"
        )
    model.max_lr = float(suggestion)
    logger.info(
        "LR finder suggests max_lr = %.3g, %s (sweep %.0e..%.0e, %d steps)",
        suggestion, RULE_DESCRIPTIONS[options.suggestion], options.min_lr, options.max_lr, num_training,
    )
    if out_dir is not None and trainer.is_global_zero:
        _save_finder(finder, float(suggestion), options.suggestion, Path(out_dir))
    return float(suggestion)


def _save_finder(finder, suggestion: float, rule: str, out_dir: Path) -> None:
    """Write lr_find.png with the chosen LR marked, and lr_find.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = finder.plot(suggest=False)
    axis = figure.axes[0]
    losses = np.asarray(finder.results["loss"])
    lrs = np.asarray(finder.results["lr"])
    finite = np.isfinite(losses)
    if rule == "minimum" and finite.any():
        lowest = int(np.argmin(np.where(finite, losses, np.inf)))
        axis.plot([lrs[lowest]], [losses[lowest]], "v", color="gray", markersize=8, label=f"lowest loss at {lrs[lowest]:.3g}")
    marker_loss = np.interp(np.log10(suggestion), np.log10(lrs[finite]), losses[finite])
    axis.plot([suggestion], [marker_loss], "o", color="red", markersize=9, label=f"max_lr {suggestion:.3g}: {RULE_DESCRIPTIONS[rule]}")
    axis.legend()
    axis.set_ylabel("loss (smoothed)")
    axis.set_title(f"LR range test: suggested max_lr = {suggestion:.3g}")
    figure.savefig(out_dir / "lr_find.png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    record = {"suggestion": suggestion, "lr": list(map(float, finder.results["lr"])), "loss": list(map(float, finder.results["loss"]))}
    (out_dir / "lr_find.json").write_text(json.dumps(record, indent=1))
