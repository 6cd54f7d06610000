"""Planted faults in the grid barrier, for tests/test_triton_barrier.py: each stands in for kernels.step_done.

Defined at module level, after rnnlab's kernels (which choose Triton's interpreter where CUDA is absent), so that
Triton sees ``tl`` in their globals as it does in the kernels' own module."""

from rnnlab.cells.triton.kernels import step_done  # isort: skip  (first: it sets TRITON_INTERPRET on a CPU)

import triton
import triton.language as tl


@triton.jit
def arrive_only(sync, group, target, GRID_SYNC: tl.constexpr, SPIN_LIMIT: tl.constexpr):
    """The barrier with its wait taken out: arrivals are counted, nobody waits (the negative control)."""
    step_done(sync, group, target, False, SPIN_LIMIT)


@triton.jit
def one_arrival_short(sync, group, target, GRID_SYNC: tl.constexpr, SPIN_LIMIT: tl.constexpr):
    """From the second step on, every program waits for one arrival more than the grid makes: what a lost
    arrival, or a program that never started, does to the others."""
    more = (target > tl.num_programs(0)).to(tl.int32)
    step_done(sync, group, target + more, GRID_SYNC, SPIN_LIMIT)
