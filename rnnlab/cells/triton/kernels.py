"""What every Triton kernel of the engine shares: the interpreter switch, the dot, tile loads and the grid barrier.

Where CUDA is absent the kernels run under Triton's interpreter (TRITON_INTERPRET=1, set here before any kernel is
defined): slow, for checking on CPU only. An ahead-of-time compile on a CPU machine sets TRITON_INTERPRET=0 first
(see ``compile``). Offsets are 64-bit: a (T, B, 4H) buffer passes 2^31 elements at sizes that fit on one GPU.
Legend: K the reduction length (H padded to a power of two, or a chunk of it), BB batch rows of a tile.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


# Only Triton's builtins from here on, never its @jit standard library (tl.sigmoid, tl.zeros, tl.sum): torch imports
# triton by itself (torch._dynamo, on an optimiser's first step), and where that came before TRITON_INTERPRET was
# set, the standard library was compiled for a GPU and the interpreter cannot call it. Our own @jit functions are
# defined here, after the switch, so they are always the kind the launch expects.


@triton.jit
def sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    return 2.0 * sigmoid(2.0 * x) - 1.0


# Triton's own a + b, which its interpreter recognises in a reduce and runs as one numpy sum, where any other combine
# function is called element by element (10x slower on a CPU). Passed to tl.reduce, never called by our code: the
# compiled reduce is the same as with an add of our own, under whichever mode the standard library was defined.
_add = tl.standard._sum_combine


@triton.jit
def dot(a, b, PRECISION: tl.constexpr):
    """a @ b with fp32 accumulation (fp64 for fp64 operands); PRECISION is tl.dot's input_precision."""
    # Triton's interpreter multiplies bf16 operands wrongly (numpy has no bf16); there the operands, already
    # rounded to bf16, are multiplied in fp32: the same numbers a bf16 dot with fp32 accumulation gives.
    if PRECISION == "bf16-interpreted":
        return tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        return tl.dot(a, b, input_precision=PRECISION)


@triton.jit
def load_tile(
    ptr,
    r_off,  # (R,) int64 element offsets of the tile's rows
    mr,  # (R,) bool
    c_off,  # (C,) int64 element offsets of its columns
    mc,  # (C,) bool
):
    """ptr[r_off[:, None] + c_off[None, :]], (R, C), zero where masked, so padded rows and K columns add nothing.

    Read through L2 (.cg): at a grid barrier another program wrote the state a step ago, and L1 is not coherent
    between SMs."""
    m = mr[:, None] & mc[None, :]
    return tl.load(ptr + r_off[:, None] + c_off[None, :], mask=m, other=0.0, cache_modifier=".cg")


@triton.jit
def rows_dot(
    w,  # (R, K) the resident slice (RESIDENT), else unused
    w_ptr,  # the weight matrix, read in K chunks when not RESIDENT
    w_rows,  # (R,) int64 offsets of the slice's rows in w_ptr
    mw,  # (R,) bool
    w_col,  # element stride between the slice's K columns (1: rows of W; H: columns of W)
    v_ptr,  # the streamed operand, one time step of a (B, width) buffer at its K offset
    v_row,  # row width of v_ptr's buffer
    rb,  # (BB,) int64 batch rows
    mb,  # (BB,) bool
    K,  # valid K (the others are padding)
    ACC_ROWS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    RESIDENT: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """W[w_rows, :K] @ V[rb, :K]^T, (R, BB): one dot with the slice kept on chip, or a loop over K chunks."""
    if RESIDENT:
        rk = tl.arange(0, BLOCK_K).to(tl.int64)
        v = load_tile(v_ptr, rk, rk < K, rb * v_row, mb)
        acc = dot(w, v.to(w.dtype), PRECISION)
    else:
        acc = tl.full((ACC_ROWS, BLOCK_B), 0.0, dtype=v_ptr.dtype.element_ty)
        for k0 in range(0, K, BLOCK_K):
            rk = k0 + tl.arange(0, BLOCK_K).to(tl.int64)
            wk = load_tile(w_ptr, w_rows, mw, rk * w_col, rk < K)
            acc += dot(wk, load_tile(v_ptr, rk, rk < K, rb * v_row, mb).to(wk.dtype), PRECISION)
    return acc


@triton.jit
def pick(
    tile,  # (4U, BB), rows unit-major: row 4u + g is gate g of unit u
    gate: tl.constexpr,
    UNITS: tl.constexpr,
    BLOCK_B: tl.constexpr,
):
    """Gate ``gate`` of every unit, (U, BB): a masked sum over the gate axis, which needs no shuffle of rows."""
    t3 = tl.reshape(tile, (UNITS, 4, BLOCK_B))
    sel = tl.arange(0, 4)[None, :, None] == gate
    return tl.reduce(tl.where(sel, t3, 0.0), 1, _add)


@triton.jit
def step_done(sync, group, target, GRID_SYNC: tl.constexpr, SPIN_LIMIT: tl.constexpr):
    """Arrive at the end of a step; with GRID_SYNC, wait until ``target`` arrivals (every program of the group).

    ``sync`` holds one counter per batch group and, after them, the launch's flag. A counter only grows (zeroed by
    the host per launch), so step s waits for n_programs * (s + 1) arrivals and needs no reset between steps. The
    release add publishes this program's stores of the step (ordered before it by the CTA barrier); the acquire
    reads order the next step's loads after every other program's stores. The wait is bounded: a program that has
    polled SPIN_LIMIT times and still sees too few arrivals (a miscount, a grid that is not co-resident) raises the
    flag, which the host turns into an error naming the kernel, and lifts its group's counter past any target, so
    that every program runs out its steps at once: an error, never a hang. Without GRID_SYNC (one launch per step)
    only the arrival is counted, so a test can check the count."""
    counter = sync + group
    tl.debug_barrier()
    tl.atomic_add(counter, 1, sem="release", scope="gpu")
    if GRID_SYNC:
        seen = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
        polls = 0
        while (seen < target) & (polls < SPIN_LIMIT):
            seen = tl.atomic_add(counter, 0, sem="acquire", scope="gpu")
            polls += 1
        if seen < target:
            tl.atomic_xchg(sync + tl.num_programs(1), 1, sem="relaxed", scope="gpu")
            tl.atomic_add(counter, 1 << 30, sem="relaxed", scope="gpu")
        tl.debug_barrier()
