"""One Cycle LR as the recipe uses it: linear up to max_lr, linear down, no third phase."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import OneCycleLR

from litcifar.errors import InvalidSettingError


def check_one_cycle_length(pct_start: float, total_steps: int) -> None:
    """Raise InvalidSettingError unless One Cycle has at least 2 steps and one warm-up step."""
    if total_steps < 2:
        raise InvalidSettingError(f"One Cycle needs at least 2 optimizer steps, got total_steps={total_steps}")
    if pct_start * total_steps <= 1:
        # torch's OneCycleLR divides by (pct_start * total_steps - 1), the last warm-up step.
        raise InvalidSettingError(
            f"One Cycle with pct_start={pct_start} over {total_steps} optimizer steps has no warm-up step: "
            "pct_start * total_steps must exceed 1, so train for more steps or raise --model.pct_start"
        )


def build_one_cycle(
    optimizer: torch.optim.Optimizer,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.2,
    div_factor: float = 100.0,
    final_div_factor: float = 100.0,
) -> OneCycleLR:
    """Build a One Cycle schedule meant to be stepped once per optimizer step.

    LR goes from max_lr / div_factor at step 0 to max_lr at step pct_start * total_steps - 1,
    then down to max_lr / (div_factor * final_div_factor) at step total_steps - 1.
    Momentum is not cycled: cifar10-fast keeps SGD momentum at 0.9 and Adam's betas fixed.
    """
    check_one_cycle_length(pct_start, total_steps)
    return OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy="linear",
        cycle_momentum=False,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=False,
    )
