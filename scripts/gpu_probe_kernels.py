"""Two small Triton kernels for scripts/gpu_first_contact.py: one that any working Triton runs, and the engine's grid
barrier alone, to time its share of a persistent step.

rnnlab's kernels module is imported first: where CUDA is absent it switches Triton to its interpreter, which must
happen before any kernel is defined.
"""

from rnnlab.cells.triton.kernels import step_done  # isort: skip

import triton
import triton.language as tl


@triton.jit
def add_one(x, n, BLOCK: tl.constexpr):
    """x[i] += 1 for i < n: compiles and launches if Triton works at all."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x + i, tl.load(x + i, mask=i < n) + 1, mask=i < n)


@triton.jit
def barrier_only(sync, steps, SPIN_LIMIT: tl.constexpr):
    """``steps`` grid barriers and nothing else, on the grid of a persistent launch (sync: (n_b + 1,) int32)."""
    for s in range(0, steps):
        step_done(sync, tl.program_id(1), tl.num_programs(0) * (s + 1), True, SPIN_LIMIT)
