"""Choice of the torch device for inference: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from litcifar.errors import InvalidSettingError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(request: str = "auto") -> torch.device:
    """Return the device named by `request`; "auto" takes CUDA, else MPS, else the CPU.

    Raises InvalidSettingError for an unknown name or a device this machine lacks.
    """
    if request not in DEVICE_CHOICES:
        raise InvalidSettingError(f"unknown device {request!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = torch.backends.mps.is_available()
    if request == "auto":
        if cuda:
            return torch.device("cuda")
        return torch.device("mps" if mps else "cpu")
    if (request == "cuda" and not cuda) or (request == "mps" and not mps):
        raise InvalidSettingError(f"device {request!r} is not available on this machine: use auto or cpu")
    return torch.device(request)
