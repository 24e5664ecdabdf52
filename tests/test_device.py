"""Device choice: CUDA, then MPS, then CPU, and clear errors for unavailable devices."""

from __future__ import annotations

import pytest
import torch

from litcifar.device import pick_device
from litcifar.errors import InvalidSettingError


@pytest.mark.parametrize(("cuda", "mps", "expected"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_auto_order(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto").type == expected


def test_cpu_always_available():
    assert pick_device("cpu") == torch.device("cpu")


def test_unavailable_device_rejected(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InvalidSettingError, match="'cuda' is not available"):
        pick_device("cuda")


def test_unknown_device_rejected():
    with pytest.raises(InvalidSettingError, match="unknown device 'tpu'.*auto, cpu, cuda, mps"):
        pick_device("tpu")
