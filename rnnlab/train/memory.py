"""Will the run fit in memory? Counted before anything is allocated, so `--hidden 1000000` is refused in one line
with the memory it would need instead of ending in the allocator's traceback.

The estimate counts what training must hold at once: parameters, their gradients and the optimiser's state
(fp32), and the activations one batch saves for backward. It is a floor, not a bound: allocators and workspaces
add to it; a run that passes this check can still fail to allocate, and that failure is caught too
(``out_of_memory``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rnnlab.config import RunConfig
from rnnlab.errors import UserError
from rnnlab.model.size import activation_count, parameter_count
from rnnlab.runtime.free_memory import available_bytes
from rnnlab.text import first_line, human_bytes

OPTIMIZER_STATES = {"adam": 2, "sgd": 0, "rmsprop": 1}  # per parameter, besides the parameter and its gradient


def training_bytes(cfg: RunConfig) -> int:
    tc, m = cfg.train, cfg.model
    states = 2 + OPTIMIZER_STATES[tc.optimizer] + (1 if tc.momentum else 0)
    steps, _ = cfg.data.shape
    return 4 * (parameter_count(m) * states + activation_count(m, tc.batch_size, steps))


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
