"""One Cycle LR: start, peak and end values, and stepping with an uneven last batch."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from litcifar.training.module import CifarClassifier
from litcifar.training.schedule import build_one_cycle


def _lr_trace(total_steps: int, pct_start: float, max_lr: float = 0.4) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=max_lr)
    scheduler = build_one_cycle(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start)
    trace = []
    for _ in range(total_steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


def test_one_cycle_start_peak_end():
    steps_per_epoch, epochs = 98, 25
    trace = _lr_trace(steps_per_epoch * epochs, pct_start=0.2)
    peak_step = 5 * steps_per_epoch - 1  # last step of epoch 5
    assert trace[0] == pytest.approx(0.4 / 100)
    assert trace[peak_step] == pytest.approx(0.4)
    assert max(trace) == pytest.approx(0.4)
    assert trace.index(max(trace)) == peak_step
    assert trace[-1] == pytest.approx(0.4 / 100 / 100)


def test_one_cycle_is_linear_without_third_phase():
    trace = _lr_trace(100, pct_start=0.2)
    rising, falling = trace[:20], trace[19:]
    assert all(b > a for a, b in zip(rising, rising[1:]))
    assert all(b < a for a, b in zip(falling, falling[1:]))
    steps_down = [a - b for a, b in zip(falling, falling[1:])]
    assert max(steps_down) == pytest.approx(min(steps_down), rel=1e-6)


class _RecordLR(pl.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_fit_with_uneven_last_batch():
    images = torch.randn(70, 3, 32, 32)
    labels = torch.randint(0, 10, (70,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=16, drop_last=False)  # 5 batches, last of 6
    model = CifarClassifier(width=0.125, max_lr=0.05)
    recorder = _RecordLR()
    trainer = pl.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[recorder], num_sanity_val_steps=0
    )
    trainer.fit(model, train_dataloaders=loader)
    assert trainer.global_step == 15
    assert len(recorder.lrs) == 15
    assert recorder.lrs[0] == pytest.approx(0.05 / 100)
    assert max(recorder.lrs) == pytest.approx(0.05)
    assert recorder.lrs[-1] == pytest.approx(0.05 / 1e4)


def test_too_few_steps_rejected():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="at least 2"):
        build_one_cycle(optimizer, max_lr=0.1, total_steps=1)


@pytest.mark.parametrize(("total_steps", "pct_start"), [(5, 0.2), (4, 0.25), (3, 0.2)])
def test_no_warmup_step_rejected(total_steps, pct_start):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=rf"pct_start={pct_start} over {total_steps} optimizer steps has no warm-up step"):
        build_one_cycle(optimizer, max_lr=0.1, total_steps=total_steps, pct_start=pct_start)
