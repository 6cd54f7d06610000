"""Persistent Triton kernels for LSTM and GRU layers: one launch walks every time step.

Batch rows of a recurrent layer are independent, so a program owns a tile of BLOCK_B rows and all hidden units:
it reads back the state it wrote at the previous step (a barrier orders that) and needs no grid-wide sync. Each
step fuses the recurrent matmul (tl.dot over K tiles, fp32 accumulation) with all gate nonlinearities and the
state update; the backward fuses the recurrent matmul dgates_{t+1} W_hh with the gate gradients of step t.
Where CUDA is absent the kernels run under Triton's interpreter (TRITON_INTERPRET=1, set before they are
defined): slow, for checking on CPU only.
Legend: T time steps, B batch, H hidden units, G gates (4 LSTM i,f,g,o; 3 GRU r,z,n); buffers are contiguous.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402
import triton.language as tl  # noqa: E402

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def _tanh(x):
    return 2.0 * tl.sigmoid(2.0 * x) - 1.0


@triton.jit
def _dot(a, b, PRECISION: tl.constexpr):
    # Triton's interpreter multiplies bf16 operands wrongly (numpy has no bf16); there the operands, already
    # rounded to bf16, are multiplied in fp32: the same numbers a bf16 dot with fp32 accumulation gives.
    if PRECISION == "bf16-interpreted":
        return tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    else:
        return tl.dot(a, b, input_precision=PRECISION)


@triton.jit
def _rec_dot(
    a_ptr,
    a_row,
    w_ptr,
    w_rows,
    rb,
    mb,
    rh,
    mh,
    K,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """A[rb, :K] @ W[w_rows + rh, :K]^T, A's rows a_row apart; operands in W's dtype, accumulated in A's."""
    acc = tl.zeros((BLOCK_B, BLOCK_H), dtype=a_ptr.dtype.element_ty)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        mk = rk < K
        a = tl.load(a_ptr + rb[:, None] * a_row + rk[None, :], mask=mb[:, None] & mk[None, :], other=0.0)
        w = tl.load(w_ptr + (w_rows + rh[None, :]) * K + rk[:, None], mask=mk[:, None] & mh[None, :], other=0.0)
        acc += _dot(a.to(w.dtype), w, PRECISION)
    return acc


@triton.jit
def _back_dot(
    g_ptr,
    g_row,
    w_ptr,
    rb,
    mb,
    rh,
    mh,
    H,
    GH,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """dG[rb, :GH] @ W[:GH, rh]: the gradient reaching h_{t-1} through the recurrent weights."""
    acc = tl.zeros((BLOCK_B, BLOCK_H), dtype=g_ptr.dtype.element_ty)
    for k0 in range(0, GH, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        mk = rk < GH
        g = tl.load(g_ptr + rb[:, None] * g_row + rk[None, :], mask=mb[:, None] & mk[None, :], other=0.0)
        w = tl.load(w_ptr + rk[:, None] * H + rh[None, :], mask=mk[:, None] & mh[None, :], other=0.0)
        acc += _dot(g.to(w.dtype), w, PRECISION)
    return acc


@triton.jit
def lstm_forward(
    xw,
    whh,
    hs,
    cs,
    acts,
    T,
    B,
    H,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """xw (T,B,4H) input products with both biases; hs, cs (T+1,B,H) with [0] = initial state; acts (T,B,4H)."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    mb = rb < B
    for t in range(T):
        for h0 in range(0, H, BLOCK_H):
            rh = h0 + tl.arange(0, BLOCK_H)
            mh = rh < H
            m = mb[:, None] & mh[None, :]
            st = t * B * H + rb[:, None] * H + rh[None, :]
            gt = t * B * 4 * H + rb[:, None] * 4 * H + rh[None, :]
            pre_i = _rec_dot(hs + t * B * H, H, whh, 0, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            pre_f = _rec_dot(hs + t * B * H, H, whh, H, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            pre_g = _rec_dot(hs + t * B * H, H, whh, 2 * H, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            pre_o = _rec_dot(hs + t * B * H, H, whh, 3 * H, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            i = tl.sigmoid(pre_i + tl.load(xw + gt, mask=m, other=0.0))
            f = tl.sigmoid(pre_f + tl.load(xw + gt + H, mask=m, other=0.0))
            g = _tanh(pre_g + tl.load(xw + gt + 2 * H, mask=m, other=0.0))
            o = tl.sigmoid(pre_o + tl.load(xw + gt + 3 * H, mask=m, other=0.0))
            c = f * tl.load(cs + st, mask=m, other=0.0) + i * g
            tl.store(cs + st + B * H, c, mask=m)
            tl.store(hs + st + B * H, o * _tanh(c), mask=m)
            tl.store(acts + gt, i, mask=m)
            tl.store(acts + gt + H, f, mask=m)
            tl.store(acts + gt + 2 * H, g, mask=m)
            tl.store(acts + gt + 3 * H, o, mask=m)
        tl.debug_barrier()  # h_t must be visible to every thread of the program before step t+1 reads it


@triton.jit
def lstm_backward(
    dout,
    dh_last,
    whh,
    acts,
    cs,
    dgates,
    dc,
    T,
    B,
    H,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """dout (T,B,H); dh_last (B,H); dc (B,H) holds dc_T on entry and dc_0 on exit; dgates (T,B,4H) out."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    mb = rb < B
    for s in range(T):
        t = T - 1 - s
        for h0 in range(0, H, BLOCK_H):
            rh = h0 + tl.arange(0, BLOCK_H)
            mh = rh < H
            m = mb[:, None] & mh[None, :]
            st = t * B * H + rb[:, None] * H + rh[None, :]
            gt = t * B * 4 * H + rb[:, None] * 4 * H + rh[None, :]
            bh = rb[:, None] * H + rh[None, :]
            dh = tl.load(dout + st, mask=m, other=0.0)
            if t == T - 1:
                dh += tl.load(dh_last + bh, mask=m, other=0.0)
            else:
                dh += _back_dot(
                    dgates + (t + 1) * B * 4 * H,
                    4 * H,
                    whh,
                    rb,
                    mb,
                    rh,
                    mh,
                    H,
                    4 * H,
                    BLOCK_B,
                    BLOCK_H,
                    BLOCK_K,
                    PRECISION,
                )
            i = tl.load(acts + gt, mask=m, other=0.0)
            f = tl.load(acts + gt + H, mask=m, other=0.0)
            g = tl.load(acts + gt + 2 * H, mask=m, other=0.0)
            o = tl.load(acts + gt + 3 * H, mask=m, other=0.0)
            tc = _tanh(tl.load(cs + st + B * H, mask=m, other=0.0))
            d_c = tl.load(dc + bh, mask=m, other=0.0) + dh * o * (1.0 - tc * tc)
            tl.store(dgates + gt, d_c * g * i * (1.0 - i), mask=m)
            tl.store(dgates + gt + H, d_c * tl.load(cs + st, mask=m, other=0.0) * f * (1.0 - f), mask=m)
            tl.store(dgates + gt + 2 * H, d_c * i * (1.0 - g * g), mask=m)
            tl.store(dgates + gt + 3 * H, dh * tc * o * (1.0 - o), mask=m)
            tl.store(dc + bh, d_c * f, mask=m)
        tl.debug_barrier()


@triton.jit
def gru_forward(
    xw,
    whh,
    bhh,
    hs,
    gates,
    hwn,
    T,
    B,
    H,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """xw (T,B,3H) with b_ih only; hs (T+1,B,H); gates (T,B,3H) = r, z, n; hwn (T,B,H) = W_hn h + b_hn."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    mb = rb < B
    for t in range(T):
        for h0 in range(0, H, BLOCK_H):
            rh = h0 + tl.arange(0, BLOCK_H)
            mh = rh < H
            m = mb[:, None] & mh[None, :]
            st = t * B * H + rb[:, None] * H + rh[None, :]
            gt = t * B * 3 * H + rb[:, None] * 3 * H + rh[None, :]
            hw_r = _rec_dot(hs + t * B * H, H, whh, 0, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            hw_z = _rec_dot(hs + t * B * H, H, whh, H, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            hw_n = _rec_dot(hs + t * B * H, H, whh, 2 * H, rb, mb, rh, mh, H, BLOCK_B, BLOCK_H, BLOCK_K, PRECISION)
            hw_n += tl.load(bhh + 2 * H + rh, mask=mh, other=0.0)[None, :]
            r = tl.sigmoid(tl.load(xw + gt, mask=m, other=0.0) + hw_r + tl.load(bhh + rh, mask=mh, other=0.0)[None, :])
            z = tl.load(xw + gt + H, mask=m, other=0.0) + hw_z + tl.load(bhh + H + rh, mask=mh, other=0.0)[None, :]
            z = tl.sigmoid(z)
            n = _tanh(tl.load(xw + gt + 2 * H, mask=m, other=0.0) + r * hw_n)
            h_prev = tl.load(hs + st, mask=m, other=0.0)
            tl.store(hs + st + B * H, n + z * (h_prev - n), mask=m)
            tl.store(gates + gt, r, mask=m)
            tl.store(gates + gt + H, z, mask=m)
            tl.store(gates + gt + 2 * H, n, mask=m)
            tl.store(hwn + st, hw_n, mask=m)
        tl.debug_barrier()


@triton.jit
def gru_backward(
    dout,
    carry,
    whh,
    hs,
    gates,
    hwn,
    dpre_x,
    dpre_h,
    T,
    B,
    H,
    BLOCK_B: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """carry (B,H) holds dh_T on entry and dh_0's direct part (dh_0 * z_0) on exit; dpre_x, dpre_h (T,B,3H) out."""
    rb = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    mb = rb < B
    for s in range(T):
        t = T - 1 - s
        for h0 in range(0, H, BLOCK_H):
            rh = h0 + tl.arange(0, BLOCK_H)
            mh = rh < H
            m = mb[:, None] & mh[None, :]
            st = t * B * H + rb[:, None] * H + rh[None, :]
            gt = t * B * 3 * H + rb[:, None] * 3 * H + rh[None, :]
            bh = rb[:, None] * H + rh[None, :]
            dh = tl.load(dout + st, mask=m, other=0.0) + tl.load(carry + bh, mask=m, other=0.0)
            if t < T - 1:
                dh += _back_dot(
                    dpre_h + (t + 1) * B * 3 * H,
                    3 * H,
                    whh,
                    rb,
                    mb,
                    rh,
                    mh,
                    H,
                    3 * H,
                    BLOCK_B,
                    BLOCK_H,
                    BLOCK_K,
                    PRECISION,
                )
            r = tl.load(gates + gt, mask=m, other=0.0)
            z = tl.load(gates + gt + H, mask=m, other=0.0)
            n = tl.load(gates + gt + 2 * H, mask=m, other=0.0)
            dan = dh * (1.0 - z) * (1.0 - n * n)
            dar = dan * tl.load(hwn + st, mask=m, other=0.0) * r * (1.0 - r)
            daz = dh * (tl.load(hs + st, mask=m, other=0.0) - n) * z * (1.0 - z)
            tl.store(dpre_x + gt, dar, mask=m)
            tl.store(dpre_x + gt + H, daz, mask=m)
            tl.store(dpre_x + gt + 2 * H, dan, mask=m)
            tl.store(dpre_h + gt, dar, mask=m)
            tl.store(dpre_h + gt + H, daz, mask=m)
            tl.store(dpre_h + gt + 2 * H, dan * r, mask=m)
            tl.store(carry + bh, dh * z, mask=m)
        tl.debug_barrier()
