"""Fit time estimate: logged once after warm-up, with a CPU warning for long fits."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from litcifar.training import progress
from litcifar.training.progress import FitTimeEstimate


def _drive(estimate: FitTimeEstimate, seconds_per_step: float, total_steps: int, device: str, monkeypatch) -> None:
    clock = {"now": 0.0}
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock["now"])
    module = SimpleNamespace(device=torch.device(device))
    batch = (torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))
    for step in range(1, 20):
        trainer = SimpleNamespace(global_step=step, estimated_stepping_batches=total_steps)
        estimate.on_train_batch_end(trainer, module, None, batch, step - 1)
        clock["now"] += seconds_per_step


@pytest.mark.parametrize(("seconds_per_step", "warns"), [(0.5, False), (10.0, True)])
def test_estimate_and_cpu_warning(monkeypatch, caplog, seconds_per_step, warns):
    estimate = FitTimeEstimate(warmup_steps=3, measured_steps=10)
    with caplog.at_level(logging.INFO, logger="litcifar"):
        _drive(estimate, seconds_per_step, total_steps=2450, device="cpu", monkeypatch=monkeypatch)
    assert estimate.estimate_seconds == pytest.approx(seconds_per_step * 2450)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("estimated training time" in m for m in messages) == 1
    hint = [m for m in messages if "configs/cpu-quick.yaml" in m]
    assert bool(hint) is warns


def test_no_cpu_warning_on_gpu(monkeypatch, caplog):
    estimate = FitTimeEstimate(warmup_steps=3, measured_steps=10)
    with caplog.at_level(logging.INFO, logger="litcifar"):
        _drive(estimate, 10.0, total_steps=2450, device="meta", monkeypatch=monkeypatch)
    assert not [r for r in caplog.records if "cpu-quick" in r.getMessage()]
