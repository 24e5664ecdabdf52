"""LR range test: leaves the model as it found it, suggests a sane LR, writes its plot."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from litcifar.data.datamodule import Cifar10DataModule
from litcifar.training.lr_finder import (
    LrFinderOptions,
    find_max_lr,
    minimum_over_ten,
    steepest_log_descent,
    unbias_smoothed_losses,
)
from litcifar.training.module import CifarClassifier


@pytest.fixture()
def small_datamodule(cifar):
    datamodule = Cifar10DataModule(batch_size=64, num_workers=0, train_subset=2000)
    datamodule.arrays = cifar
    return datamodule


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_finder_leaves_weights_and_trainer_untouched(small_datamodule, tmp_path, optimizer):
    pl.seed_everything(0)
    model = CifarClassifier(width=0.125, optimizer=optimizer)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path)
    suggestion = find_max_lr(trainer, model, small_datamodule, LrFinderOptions(num_training=25), out_dir=tmp_path)

    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, tensor in before.items():
        assert torch.equal(after[name], tensor), f"{name} changed during the LR range test"
    assert trainer.global_step == 0
    assert trainer.optimizers == [] or all(not opt.state for opt in trainer.optimizers)
    assert model.max_lr == suggestion
    assert 1e-6 <= suggestion <= 1.0
    assert not list(tmp_path.glob(".lr_find*.ckpt")), "temporary finder checkpoint left behind"
    record = json.loads((tmp_path / "lr_find.json").read_text())
    assert record["suggestion"] == suggestion
    assert len(record["lr"]) == len(record["loss"]) > 10
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000


def test_then_fit_uses_suggestion(small_datamodule, tmp_path):
    pl.seed_everything(0)
    model = CifarClassifier(width=0.125, pct_start=0.25)  # 32 steps: the peak falls on step 7 exactly
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path, limit_val_batches=2
    )
    suggestion = find_max_lr(trainer, model, small_datamodule, LrFinderOptions(num_training=25))
    peaks = []

    class RecordPeak(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            peaks.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer.callbacks.append(RecordPeak())
    trainer.fit(model, datamodule=small_datamodule)
    assert max(peaks) == pytest.approx(suggestion)


def _curve() -> tuple[np.ndarray, np.ndarray]:
    lrs = np.logspace(-6, 0, 100)
    x = np.log10(lrs)
    losses = 2.3 - 0.5 * np.tanh((x + 3) * 1.5) + np.where(x > -1.5, (x + 1.5) ** 2 * 3, 0)
    return lrs, losses


def test_minimum_rule_is_tenth_of_minimum():
    lrs, losses = _curve()
    expected = lrs[np.argmin(losses)] / 10
    assert minimum_over_ten(lrs, losses) == pytest.approx(expected)


def test_steepest_rule_on_log_axis():
    lrs, losses = _curve()
    assert steepest_log_descent(lrs, losses) == pytest.approx(1e-3, rel=0.15)


def test_rules_ignore_diverged_points():
    lrs, losses = _curve()
    losses = losses.copy()
    losses[-10:] = np.nan
    assert np.isfinite(minimum_over_ten(lrs, losses))
    assert np.isfinite(steepest_log_descent(lrs, losses))


def test_rules_need_points():
    assert minimum_over_ten(np.array([1e-3, 1e-2]), np.array([1.0, 0.5]), skip_begin=0) is None
    assert steepest_log_descent(np.array([1e-3, 1e-2]), np.array([1.0, 0.5]), skip_begin=0) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_lr": 0.0}, "min_lr"),
        ({"min_lr": 1.0, "max_lr": 0.1}, "min_lr < max_lr"),
        ({"num_training": 5}, "num_training"),
        ({"suggestion": "valley"}, "valley"),
    ],
)
def test_options_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LrFinderOptions(**kwargs)


def test_unbias_recovers_constant_loss():
    # Lightning's running average of a constant loss of 2.0, with its own exponent (i + 2).
    beta, average, biased = 0.98, 0.0, []
    for step in range(1, 31):
        average = beta * average + (1 - beta) * 2.0
        biased.append(average / (1 - beta ** (step + 1)))
    assert biased[0] == pytest.approx(1.0, rel=0.02)  # the bug: half the real loss
    np.testing.assert_allclose(unbias_smoothed_losses(biased, beta), 2.0, rtol=1e-9)


def test_too_few_batches_for_range_test_rejected():
    from litcifar.errors import InvalidSettingError
    from litcifar.training.lr_finder import check_lr_finder_length

    check_lr_finder_length(20)
    with pytest.raises(InvalidSettingError, match="needs at least 20 batches.*--model.max_lr"):
        check_lr_finder_length(19)
