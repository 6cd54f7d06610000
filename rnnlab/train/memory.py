"""Will the run fit in memory? Counted before anything is allocated, so `--hidden 1000000` is refused in one line
with the memory it would need instead of ending in the allocator's traceback.

The estimate counts what training must hold at once: parameters, their gradients and the optimiser's state
(fp32), and the activations one batch saves for backward. It is a floor, not a bound: allocators and workspaces
add to it; a run that passes this check can still fail to allocate, and that failure is caught too
(``out_of_memory``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from rnnlab.config import ModelConfig, RunConfig
from rnnlab.errors import UserError
from rnnlab.text import first_line, human_bytes

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
OPTIMIZER_STATES = {"adam": 2, "sgd": 0, "rmsprop": 1}  # per parameter, besides the parameter and its gradient


def parameter_count(cfg: ModelConfig) -> int:
    """nn.LSTM/GRU/RNN's parameter count for this stack, with the projection and the head, computed, not built."""
    g, d = GATES[cfg.cell], cfg.directions
    count = cfg.proj * (cfg.input_size + 1) if cfg.proj else 0
    features = cfg.proj or cfg.input_size
    for hidden in cfg.hidden_sizes:
        count += d * g * hidden * (features + hidden + 2)
        features = d * hidden
    return count + (features + 1) * cfg.num_classes


def training_bytes(cfg: RunConfig) -> int:
    tc, m = cfg.train, cfg.model
    states = 2 + OPTIMIZER_STATES[tc.optimizer] + (1 if tc.momentum else 0)
    steps, _ = cfg.data.shape
    saved = sum(steps * tc.batch_size * m.directions * h * (GATES[m.cell] + 3) for h in m.hidden_sizes)
    return 4 * (parameter_count(m) * states + saved)


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


def check_fits(cfg: RunConfig, device: torch.device) -> None:
    need, free = training_bytes(cfg), available_bytes(device)
    if free is not None and need > free:
        raise UserError(
            f"the run needs at least {human_bytes(need)} on {device.type} ({parameter_count(cfg.model):,} parameters "
            f"with their gradients and {cfg.train.optimizer}'s state, and one batch's activations), and "
            f"{human_bytes(free)} is free; use a smaller --hidden, --layers or --batch-size"
        )


@contextlib.contextmanager
def out_of_memory(device: torch.device) -> Iterator[None]:
    """An allocation that fails anyway becomes one line instead of the allocator's traceback."""
    try:
        yield
    except RuntimeError as exc:  # torch's OutOfMemoryError is one; the CPU allocator raises a plain one
        if "not enough memory" not in str(exc) and "out of memory" not in str(exc):
            raise
        hint = "use a smaller --hidden or --batch-size"
        raise UserError(f"out of memory on {device.type}: {first_line(exc)}; {hint}") from None
