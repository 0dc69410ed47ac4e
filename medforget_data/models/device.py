"""The `--device` argument: checked before any work, so a typo or a missing GPU is one line."""

from __future__ import annotations

import re

from medforget_data.errors import MedForgetError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def check_device_name(device: str) -> str:
    """The spelling only (no torch import): argument checks run before anything heavy is loaded."""
    if not _DEVICE.match(device):
        raise MedForgetError(f"unknown device {device!r}; valid devices: cpu, cuda, cuda:N, mps")
    return device


def check_device(device: str) -> str:
    """`device` if torch can use it here, else a MedForgetError naming what is possible."""
    check_device_name(device)
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MedForgetError(f"device {device!r} asked for, but this torch build sees no CUDA GPU")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MedForgetError(f"device {device!r}: only {torch.cuda.device_count()} CUDA GPU(s) here")
    if device == "mps" and not torch.backends.mps.is_available():
        raise MedForgetError("device 'mps' asked for, but MPS is not available here")
    return device
