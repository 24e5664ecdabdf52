"""Warnings about precision settings that are slow on the fit's device."""

from __future__ import annotations

import pytest

from litcifar.training.precision import precision_advice


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed", "bf16-true"])
def test_reduced_precision_on_cpu_warns(precision):
    advice = precision_advice("cpu", precision)
    assert advice is not None
    assert precision in advice
    assert "32-true" in advice


@pytest.mark.parametrize(("device", "precision"), [("cpu", "32-true"), ("cuda", "bf16-mixed"), ("cuda", "16-mixed")])
def test_suitable_precision_passes(device, precision):
    assert precision_advice(device, precision) is None
