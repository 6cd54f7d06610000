"""Launching one kernel over a sequence as its Plan says: one launch with a grid barrier, or one launch per step.

Every launch runs on the device of its tensors (a model on cuda:1 launches there whatever the current device is).
A persistent launch that CUDA refuses to make cooperative (its programs cannot all be resident: another kernel,
MPS, a MIG slice) is run stepwise instead, and the plan says why; one whose barrier gave up raises.
Legend: T time steps, B batch, H hidden units; n_b batch groups, each with its own arrival counter.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.triton.variants import Plan, stepwise_instead


class BarrierTimeout(RuntimeError):
    """A program of a persistent launch waited SPIN_LIMIT polls at the grid barrier: a bug, or a grid that was not
    co-resident. The launch ended instead of hanging; nothing it wrote may be used."""


def run(kernel: Any, p: Plan, args: tuple[Tensor, ...], T: int, B: int, H: int, backward: bool) -> tuple[Tensor, Plan]:
    """Run ``kernel`` over all T steps (down from T-1 when ``backward``); returns the (n_b,) arrival counters and
    the plan that ran (stepwise where a cooperative launch was refused).

    Every program arrives once per step, so the counters end at n_u * T: what tests check where the barrier itself
    cannot run (the interpreter)."""
    device = args[0].device
    guard = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    with guard:
        if p.grid_sync:
            try:
                return _persistent(kernel, p, args, T, B, H, backward), p
            except RuntimeError as exc:
                if "cooperative" not in str(exc).lower():
                    raise
                p = stepwise_instead(p, B, device, f"cooperative launch refused: {str(exc).splitlines()[0]}")
        sync = _counters(p, device)
        for s in range(T):
            kernel[p.grid](*args, sync, T - 1 - s if backward else s, 1, B, H, p.rows, **p.meta(), **p.options())
        return sync[:-1], p


def _counters(p: Plan, device: torch.device) -> Tensor:
    """One arrival counter per batch group, then the barrier's flag."""
    return torch.zeros(p.grid[1] + 1, dtype=torch.int32, device=device)


def _persistent(kernel: Any, p: Plan, args: tuple[Tensor, ...], T: int, B: int, H: int, backward: bool) -> Tensor:
    sync = _counters(p, args[0].device)
    kernel[p.grid](*args, sync, T - 1 if backward else 0, T, B, H, p.rows, **p.meta(), **p.options())
    if int(sync[-1]):
        name = getattr(kernel, "__name__", "the kernel")
        raise BarrierTimeout(
            f"triton engine: {name} gave up at its grid barrier after {p.spin_limit:,} polls: a program never "
            f"arrived ({p.describe()}); its results were not used"
        )
    return sync[:-1]
