"""Launching one kernel over a sequence as its Plan says: one launch with a grid barrier, or one launch per step.

Every launch runs on the device of its tensors (a model on cuda:1 launches there whatever the current device is).
A persistent launch's grid is sized from its compiled kernel (registers, shared memory: ``variants.fit_grid``).
One that CUDA refuses to make cooperative (its programs cannot all be resident: another kernel, MPS, a MIG slice)
is run stepwise instead, and the plan says why; one whose barrier gave up raises.
Legend: T time steps, B batch, H hidden units; n_b batch groups, each with its own arrival counter.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.triton.variants import Plan, fit_grid, programs_per_sm, sm_limits, stepwise_instead


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
        if p.grid_sync and device.type == "cuda":
            p = _fitted(kernel, p, args, T, B, H, backward)
        if p.grid_sync:
            try:
                return _persistent(kernel, p, args, T, B, H, backward), p
            except RuntimeError as exc:
                if "cooperative" not in str(exc).lower():
                    raise
                refused = f"cooperative launch refused: {str(exc).splitlines()[0]}"
            if p.per_sm > 1:  # the occupancy arithmetic may have asked too much: one program per SM, once
                try:
                    one = fit_grid(p, B, 1)
                    if one.grid_sync:
                        return _persistent(kernel, one, args, T, B, H, backward), one
                except RuntimeError as exc:
                    if "cooperative" not in str(exc).lower():
                        raise
            p = stepwise_instead(p, B, device, refused)
        sync = _counters(p, device)
        for s in range(T):
            kernel[p.grid](*args, sync, T - 1 - s if backward else s, 1, B, H, p.rows, **p.meta(), **p.options())
        return sync[:-1], p


# (kernel, plan, batch, device) -> the plan with its grid fitted to the compiled kernel
_FITTED: dict[tuple[int, Plan, int, str], Plan] = {}


def _fitted(kernel: Any, p: Plan, args: tuple[Tensor, ...], T: int, B: int, H: int, backward: bool) -> Plan:
    """``p`` with its grid sized for how many programs of ``kernel``'s compiled binary one SM holds: compiled (not
    launched) once per kernel, plan and device, with the launch's own arguments, so the launch reuses the binary."""
    device = args[0].device
    key = (id(kernel), p, B, str(device))
    if key not in _FITTED:
        sm = sm_limits(device)
        if sm is None:
            _FITTED[key] = p
        else:
            sync = _counters(p, device)
            t0 = T - 1 if backward else 0
            binary = kernel.warmup(*args, sync, t0, T, B, H, p.rows, grid=p.grid, **p.meta(), **p.options())
            try:
                binary._init_handles()  # loads it: what gives its register count
            except Exception as exc:  # triton's OutOfResources: more shared memory than a block may have
                if "out of resource" not in str(exc).lower():
                    raise
                return stepwise_instead(p, B, device, f"the compiled kernel does not fit an SM: {exc}")
            per_sm = programs_per_sm(binary.n_regs, binary.metadata.shared, p.num_warps, sm)
            _FITTED[key] = fit_grid(p, B, per_sm)
    return _FITTED[key]


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
