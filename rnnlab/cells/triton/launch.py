"""Launching one kernel over a sequence as its Plan says: one launch with a grid barrier, or one launch per step.

Legend: T time steps, B batch, H hidden units; n_b batch groups, each with its own arrival counter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.triton.variants import Plan


def run(kernel: Any, p: Plan, args: tuple[Tensor, ...], T: int, B: int, H: int, backward: bool) -> Tensor:
    """Run ``kernel`` over all T steps (down from T-1 when ``backward``); returns the (n_b,) arrival counters.

    Every program arrives once per step, so the counters end at n_u * T: what tests check where the barrier itself
    cannot run (the interpreter)."""
    sync = torch.zeros(p.grid[1], dtype=torch.int32, device=args[0].device)
    meta = p.meta()
    if p.grid_sync:
        first = T - 1 if backward else 0
        kernel[p.grid](*args, sync, first, T, B, H, p.rows, **meta, **p.options())
        return sync
    for s in range(T):
        kernel[p.grid](*args, sync, T - 1 - s if backward else s, 1, B, H, p.rows, **meta, **p.options())
    return sync
