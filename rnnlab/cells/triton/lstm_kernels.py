"""LSTM forward and backward kernels: each program owns UNITS hidden units (all four gates) of one batch group.

Forward: the program's slice of W_hh (the 4*UNITS rows of its units, rows unit-major) times h_t^T gives the
pre-activations of its units; it applies the gates, updates c and h for its units and writes them. Backward
mirrors it: the slice of W_hh's columns of its units times dgates_{t+1}^T gives dh_t of its units. With RESIDENT
the slice is loaded once and stays on chip for every step of the launch; with GRID_SYNC one launch walks all
``steps`` and the programs of a batch group meet at a barrier after each step (h_t or dgates_t then holds every
unit); without it the host launches one step at a time (``variants`` picks which).
Legend: T time steps, B batch, H hidden units, U = UNITS, BB = BLOCK_B; gates i, f, g, o; buffers contiguous.
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnlab.cells.triton.kernels import load_tile, pick, rows_dot, sigmoid, step_done, tanh


@triton.jit(do_not_specialize=["t0", "steps"])  # one compile for every step
def lstm_forward(
    xw,  # (T, B, 4H) x W_ih^T + b_ih + b_hh, state dtype
    whh,  # (4H, H) operand dtype
    hs,  # (T+1, B, H) state dtype; hs[0] = h_0
    cs,  # (T+1, B, H); cs[0] = c_0
    acts,  # (T, B, 4H) out: the activated gates
    sync,  # (n_b + 1,) int32: arrivals per batch group, then the barrier's flag (kernels.step_done)
    t0,  # first step of this launch
    steps,  # steps in this launch
    B,
    H,
    rows,  # batch rows per batch group (a multiple of BLOCK_B)
    UNITS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    RESIDENT: tl.constexpr,
    GRID_SYNC: tl.constexpr,
    PRECISION: tl.constexpr,
    SPIN_LIMIT: tl.constexpr,  # polls of the grid barrier before it gives up (kernels.step_done)
):
    pu = tl.program_id(0)
    pb = tl.program_id(1)
    r = tl.arange(0, 4 * UNITS)
    unit_r = pu * UNITS + r // 4
    mrow = unit_r < H
    grow = ((r % 4) * H + unit_r).to(tl.int64)  # gate row of W_hh, and column of xw/acts, for row r
    unit = (pu * UNITS + tl.arange(0, UNITS)).to(tl.int64)
    mu = unit < H
    if RESIDENT:
        rk = tl.arange(0, BLOCK_K).to(tl.int64)
        w = load_tile(whh, grow * H, mrow, rk, rk < H)  # (4U, K): on chip for every step of the launch
    else:
        w = whh
    b_lo = pb * rows
    b_hi = tl.minimum(B, b_lo + rows)
    for s in range(steps):
        t = (t0 + s).to(tl.int64)
        for b0 in range(b_lo, b_hi, BLOCK_B):
            rb = (b0 + tl.arange(0, BLOCK_B)).to(tl.int64)
            mb = rb < b_hi
            acc = rows_dot(
                w, whh, grow * H, mrow, 1, hs + t * B * H, H, rb, mb, H,
                4 * UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION,
            )  # fmt: skip
            g_off = t * B * 4 * H + rb * 4 * H
            pre = acc + load_tile(xw, grow, mrow, g_off, mb)
            gate = (r % 4)[:, None]
            a = tl.where(gate == 2, tanh(pre), sigmoid(pre))  # (4U, BB)
            tl.store(acts + grow[:, None] + g_off[None, :], a, mask=mrow[:, None] & mb[None, :])
            i = pick(a, 0, UNITS, BLOCK_B)
            f = pick(a, 1, UNITS, BLOCK_B)
            g = pick(a, 2, UNITS, BLOCK_B)
            o = pick(a, 3, UNITS, BLOCK_B)
            s_off = t * B * H + rb * H
            c = f * load_tile(cs, unit, mu, s_off, mb) + i * g
            m = mu[:, None] & mb[None, :]
            tl.store(cs + unit[:, None] + (s_off + B * H)[None, :], c, mask=m)
            tl.store(hs + unit[:, None] + (s_off + B * H)[None, :], o * tanh(c), mask=m)
        step_done(sync, pb, tl.num_programs(0) * (s + 1), GRID_SYNC, SPIN_LIMIT)


@triton.jit(do_not_specialize=["t0", "steps"])  # one compile for every step
def lstm_backward(
    dout,  # (T, B, H) gradient reaching each output h_t, dh_T already added to step T-1
    whh,  # (4H, H) operand dtype
    acts,  # (T, B, 4H) the forward's activated gates
    cs,  # (T+1, B, H)
    dgates,  # (T+1, B, 4H) out: pre-activation gradients; dgates[T] = 0 on entry
    dc,  # (B, H) dc_T on entry, dc_0 on exit
    sync,  # (n_b + 1,) int32: arrivals per batch group, then the barrier's flag (kernels.step_done)
    t0,  # last step of this launch (the backward walks down from it)
    steps,
    B,
    H,
    rows,
    UNITS: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_K: tl.constexpr,
    RESIDENT: tl.constexpr,
    GRID_SYNC: tl.constexpr,
    PRECISION: tl.constexpr,
    SPIN_LIMIT: tl.constexpr,  # polls of the grid barrier before it gives up (kernels.step_done)
):
    pu = tl.program_id(0)
    pb = tl.program_id(1)
    unit = (pu * UNITS + tl.arange(0, UNITS)).to(tl.int64)
    mu = unit < H
    if RESIDENT:  # the columns of W_hh of this program's units, one (U, K) tile per gate
        rk = tl.arange(0, BLOCK_K).to(tl.int64)
        w_i = load_tile(whh, unit, mu, rk * H, rk < H)
        w_f = load_tile(whh, unit, mu, (H + rk) * H, rk < H)
        w_g = load_tile(whh, unit, mu, (2 * H + rk) * H, rk < H)
        w_o = load_tile(whh, unit, mu, (3 * H + rk) * H, rk < H)
    else:
        w_i = whh
        w_f = whh + H * H
        w_g = whh + 2 * H * H
        w_o = whh + 3 * H * H
    b_lo = pb * rows
    b_hi = tl.minimum(B, b_lo + rows)
    for s in range(steps):
        t = (t0 - s).to(tl.int64)
        for b0 in range(b_lo, b_hi, BLOCK_B):
            rb = (b0 + tl.arange(0, BLOCK_B)).to(tl.int64)
            mb = rb < b_hi
            m = mu[:, None] & mb[None, :]
            s_off = t * B * H + rb * H
            g_off = t * B * 4 * H + rb * 4 * H
            nxt = dgates + (t + 1) * B * 4 * H  # step t+1, written by every program of the group
            dh = load_tile(dout, unit, mu, s_off, mb)
            dh += rows_dot(w_i, w_i, unit, mu, H, nxt, 4 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION)
            dh += rows_dot(
                w_f, w_f, unit, mu, H, nxt + H, 4 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION
            )
            dh += rows_dot(
                w_g, w_g, unit, mu, H, nxt + 2 * H, 4 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION
            )
            dh += rows_dot(
                w_o, w_o, unit, mu, H, nxt + 3 * H, 4 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION
            )
            i = load_tile(acts, unit, mu, g_off, mb)
            f = load_tile(acts, H + unit, mu, g_off, mb)
            g = load_tile(acts, 2 * H + unit, mu, g_off, mb)
            o = load_tile(acts, 3 * H + unit, mu, g_off, mb)
            tc = tanh(load_tile(cs, unit, mu, s_off + B * H, mb))
            dc_off = unit[:, None] + (rb * H)[None, :]
            d_c = tl.load(dc + dc_off, mask=m, other=0.0) + dh * o * (1.0 - tc * tc)
            out = dgates + unit[:, None] + g_off[None, :]
            tl.store(out, d_c * g * i * (1.0 - i), mask=m)
            tl.store(out + H, d_c * load_tile(cs, unit, mu, s_off, mb) * f * (1.0 - f), mask=m)
            tl.store(out + 2 * H, d_c * i * (1.0 - g * g), mask=m)
            tl.store(out + 3 * H, dh * tc * o * (1.0 - o), mask=m)
            tl.store(dc + dc_off, d_c * f, mask=m)
        step_done(sync, pb, tl.num_programs(0) * (s + 1), GRID_SYNC, SPIN_LIMIT)
