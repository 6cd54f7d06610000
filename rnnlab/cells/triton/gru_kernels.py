"""GRU forward and backward kernels, laid out as the LSTM's (``lstm_kernels``): a program owns UNITS hidden units.

The forward slice holds the three gate rows r, z, n of each unit in four row slots (the fourth masked to zero), so
that a tile keeps a power-of-two height; W_hn h + b_hn is kept for the backward, where the reset gate scales it.
Legend: T time steps, B batch, H hidden units, U = UNITS, BB = BLOCK_B; gates r, z, n; buffers contiguous.
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnlab.cells.triton.kernels import load_tile, pick, rows_dot, sigmoid, step_done, tanh


@triton.jit(do_not_specialize=["t0", "steps"])  # one compile for every step
def gru_forward(
    xw,  # (T, B, 3H) x W_ih^T + b_ih, state dtype
    whh,  # (3H, H) operand dtype
    bhh,  # (3H,) state dtype
    hs,  # (T+1, B, H) state dtype; hs[0] = h_0
    gates,  # (T, B, 3H) out: r, z, n
    hwn,  # (T, B, H) out: W_hn h_{t} + b_hn
    sync,  # (n_b + 1,) int32: arrivals per batch group, then the barrier's flag (kernels.step_done)
    t0,
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
    r = tl.arange(0, 4 * UNITS)
    unit_r = pu * UNITS + r // 4
    mrow = (unit_r < H) & (r % 4 < 3)
    grow = ((r % 4) * H + unit_r).to(tl.int64)
    unit = (pu * UNITS + tl.arange(0, UNITS)).to(tl.int64)
    mu = unit < H
    b_h = tl.load(bhh + grow, mask=mrow, other=0.0)  # (4U,)
    if RESIDENT:
        rk = tl.arange(0, BLOCK_K).to(tl.int64)
        w = load_tile(whh, grow * H, mrow, rk, rk < H)  # (4U, K)
    else:
        w = whh
    b_lo = pb * rows
    b_hi = tl.minimum(B, b_lo + rows)
    for s in range(steps):
        t = (t0 + s).to(tl.int64)
        for b0 in range(b_lo, b_hi, BLOCK_B):
            rb = (b0 + tl.arange(0, BLOCK_B)).to(tl.int64)
            mb = rb < b_hi
            hw = rows_dot(
                w, whh, grow * H, mrow, 1, hs + t * B * H, H, rb, mb, H,
                4 * UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION,
            )  # fmt: skip
            hw += b_h[:, None]
            g_off = t * B * 3 * H + rb * 3 * H
            x_t = load_tile(xw, grow, mrow, g_off, mb)
            pre = hw + x_t
            r_t = sigmoid(pick(pre, 0, UNITS, BLOCK_B))
            z_t = sigmoid(pick(pre, 1, UNITS, BLOCK_B))
            hwn_t = pick(hw, 2, UNITS, BLOCK_B)
            n_t = tanh(pick(x_t, 2, UNITS, BLOCK_B) + r_t * hwn_t)
            s_off = t * B * H + rb * H
            h = load_tile(hs, unit, mu, s_off, mb)
            m = mu[:, None] & mb[None, :]
            tl.store(hs + unit[:, None] + (s_off + B * H)[None, :], n_t + z_t * (h - n_t), mask=m)
            out = gates + unit[:, None] + g_off[None, :]
            tl.store(out, r_t, mask=m)
            tl.store(out + H, z_t, mask=m)
            tl.store(out + 2 * H, n_t, mask=m)
            tl.store(hwn + unit[:, None] + s_off[None, :], hwn_t, mask=m)
        step_done(sync, pb, tl.num_programs(0) * (s + 1), GRID_SYNC, SPIN_LIMIT)


@triton.jit(do_not_specialize=["t0", "steps"])  # one compile for every step
def gru_backward(
    dout,  # (T, B, H)
    carry,  # (B, H) dh_T on entry; on exit the part of dh_0 that skips W_hh (dh_0 * z_0)
    whh,  # (3H, H) operand dtype
    hs,  # (T+1, B, H)
    gates,  # (T, B, 3H) r, z, n
    hwn,  # (T, B, H)
    dpre_x,  # (T, B, 3H) out: gradients of the input pre-activations
    dpre_h,  # (T+1, B, 3H) out: of the recurrent ones; dpre_h[T] = 0 on entry
    sync,  # (n_b + 1,) int32: arrivals per batch group, then the barrier's flag (kernels.step_done)
    t0,
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
    if RESIDENT:
        rk = tl.arange(0, BLOCK_K).to(tl.int64)
        w_r = load_tile(whh, unit, mu, rk * H, rk < H)
        w_z = load_tile(whh, unit, mu, (H + rk) * H, rk < H)
        w_n = load_tile(whh, unit, mu, (2 * H + rk) * H, rk < H)
    else:
        w_r = whh
        w_z = whh + H * H
        w_n = whh + 2 * H * H
    b_lo = pb * rows
    b_hi = tl.minimum(B, b_lo + rows)
    for s in range(steps):
        t = (t0 - s).to(tl.int64)
        for b0 in range(b_lo, b_hi, BLOCK_B):
            rb = (b0 + tl.arange(0, BLOCK_B)).to(tl.int64)
            mb = rb < b_hi
            m = mu[:, None] & mb[None, :]
            s_off = t * B * H + rb * H
            g_off = t * B * 3 * H + rb * 3 * H
            nxt = dpre_h + (t + 1) * B * 3 * H
            c_off = unit[:, None] + (rb * H)[None, :]
            dh = load_tile(dout, unit, mu, s_off, mb) + tl.load(carry + c_off, mask=m, other=0.0)
            dh += rows_dot(w_r, w_r, unit, mu, H, nxt, 3 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION)
            dh += rows_dot(
                w_z, w_z, unit, mu, H, nxt + H, 3 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION
            )
            dh += rows_dot(
                w_n, w_n, unit, mu, H, nxt + 2 * H, 3 * H, rb, mb, H, UNITS, BLOCK_B, BLOCK_K, RESIDENT, PRECISION
            )
            r_t = load_tile(gates, unit, mu, g_off, mb)
            z_t = load_tile(gates, H + unit, mu, g_off, mb)
            n_t = load_tile(gates, 2 * H + unit, mu, g_off, mb)
            dan = dh * (1.0 - z_t) * (1.0 - n_t * n_t)
            dar = dan * load_tile(hwn, unit, mu, s_off, mb) * r_t * (1.0 - r_t)
            daz = dh * (load_tile(hs, unit, mu, s_off, mb) - n_t) * z_t * (1.0 - z_t)
            ox = dpre_x + unit[:, None] + g_off[None, :]
            tl.store(ox, dar, mask=m)
            tl.store(ox + H, daz, mask=m)
            tl.store(ox + 2 * H, dan, mask=m)
            oh = dpre_h + unit[:, None] + g_off[None, :]
            tl.store(oh, dar, mask=m)
            tl.store(oh + H, daz, mask=m)
            tl.store(oh + 2 * H, dan * r_t, mask=m)
            tl.store(carry + c_off, dh * z_t, mask=m)
        step_done(sync, pb, tl.num_programs(0) * (s + 1), GRID_SYNC, SPIN_LIMIT)
