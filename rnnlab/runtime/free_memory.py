"""How much memory a device has free, and the check that a model fits in it before it is built."""

from __future__ import annotations

import os

import torch

from rnnlab.config import ModelConfig
from rnnlab.errors import UserError
from rnnlab.model.size import activation_count, parameter_count
from rnnlab.text import human_bytes


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: the GPU's free memory, or the CPU's MemAvailable (None where unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_model_fits(cfg: ModelConfig, device: torch.device, source: str, batch: tuple[int, int] | None = None) -> None:
    """The model's float32 parameters, and with ``batch`` (B, T) one batch's gate activations, against the free
    memory of ``device`` (``source``: what asks for it, for the message); training asks more (train.memory)."""
    count = parameter_count(cfg)
    need, free = 4 * count, available_bytes(device)
    if batch is not None:
        need += 4 * activation_count(cfg, *batch)
    if free is not None and need > free:
        what = (
            "its model" if batch is None else f"its model and a batch of {batch[0]:,} sequences of {batch[1]:,} steps"
        )
        raise UserError(
            f"{source}: {what} need {human_bytes(need)} ({count:,} parameters), and {human_bytes(free)} is free on "
            f"{device.type}; use a smaller --hidden, --layers or --batch-size"
        )
