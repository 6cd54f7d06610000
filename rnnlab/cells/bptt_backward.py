"""The ``bptt`` engine's backward through time, written by hand: the gradients of one direction of a layer from what
its forward kept (``bptt``'s residuals), one function per cell, each run as the op ``rnnlab::bptt_<cell>_backward``.

Backward walks time in reverse doing one matmul and a few fused elementwise ops per step; every coefficient that
does not depend on the incoming gradient is computed for all steps at once before the loop, and the weight
gradients are one matmul each after it. No autograd runs inside.
Legend: T time steps, B batch, I input features, H hidden units; G gates (4 LSTM i,f,g,o; 3 GRU r,z,n; 1 RNN).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.common import param_grads

Grads = tuple[Tensor | None, ...]  # dx (None unless asked), dh0, [dc0,] dW_ih, dW_hh, db_ih, db_hh


def lstm(
    grads: tuple[Tensor, ...],  # dout (T, B, H), dh_T (B, H), dc_T (B, H)
    inputs: tuple[Any, ...],  # the forward's: x, h0, c0, w_ih, w_hh, b_ih, b_hh, valid, keep_h, keep_c, drop
    kept: tuple[Tensor, ...],  # acts (T, B, 4H), hs (T+1, B, H), cs (T+1, B, H), tcs (T, B, H), h_in (T, B, H) or empty
    need_dx: bool,
) -> Grads:
    dout, dh_T, dc_T = grads
    x, _, _, w_ih, w_hh, _, _, valid, keep_h, keep_c, drop = inputs
    acts, hs, cs, tcs, h_in = kept
    h_in = hs[:-1] if drop is None else h_in  # what W_hh read at each step
    T, B, H = tcs.shape
    i, f, g, o = acts.chunk(4, dim=2)
    # Coefficients for all steps at once: d(pre-activation)/dc for gates i, f, g and d/dh for gate o.
    coef_c = torch.stack((g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g)), dim=2)  # (T, B, 3, H)
    coef_o = tcs * o * (1 - o)  # (T, B, H)
    k_c = o * (1 - tcs * tcs)  # dc += dh * k_c
    dout = dout.contiguous() if valid is None else dout * valid  # a padded step's output is a constant zero
    dpre = torch.empty_like(acts)  # (T, B, 4H)
    if keep_h is not None or keep_c is not None or drop is not None:
        dh, dc = _lstm_kept(dout, dh_T, dc_T, w_hh, f, coef_c, coef_o, k_c, (keep_h, keep_c, drop), dpre)
    else:
        dh = dout[T - 1] + dh_T
        dc = dc_T.clone()
        for t in range(T - 1, -1, -1):
            dc.addcmul_(dh, k_c[t])
            d = dpre[t]
            torch.mul(coef_c[t], dc.unsqueeze(1), out=d.view(B, 4, H)[:, :3])
            torch.mul(coef_o[t], dh, out=d[:, 3 * H :])
            dc.mul_(f[t])
            dh = torch.addmm(dout[t - 1], d, w_hh) if t > 0 else d @ w_hh
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(need_dx, dpre, dpre, x, h_in, w_ih)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


def _lstm_kept(
    dout: Tensor,  # (T, B, H), zero at padded steps
    dh_T: Tensor,
    dc_T: Tensor,
    w_hh: Tensor,
    f: Tensor,
    coef_c: Tensor,
    coef_o: Tensor,
    k_c: Tensor,
    masks: tuple[Tensor | None, Tensor | None, Tensor | None],  # keep_h, keep_c, drop
    dpre: Tensor,  # (T, B, 4H), filled here
) -> tuple[Tensor, Tensor]:
    """h_{t+1} = (1-k) h_new + k h_t (and c alike, k the share kept: zoneout's draw, 1 where padded); W_hh reads
    h_t * drop. A kept share passes its gradient straight back to the state before. Returns dh0, dc0."""
    keep_h, keep_c, drop = masks
    T, B, H = k_c.shape
    if keep_h is not None:  # the new h's share, folded into its coefficients once for all steps
        coef_o, k_c = coef_o * (1 - keep_h), k_c * (1 - keep_h)
    new_c = None if keep_c is None else 1 - keep_c
    dh_state, dc_state = dh_T.clone(), dc_T.clone()  # the gradients reaching h_{t+1}, c_{t+1}
    for t in range(T - 1, -1, -1):
        dh_total = dout[t] + dh_state
        dc_new = (dc_state if new_c is None else dc_state * new_c[t]).addcmul_(dh_total, k_c[t])
        d = dpre[t]
        torch.mul(coef_c[t], dc_new.unsqueeze(1), out=d.view(B, 4, H)[:, :3])
        torch.mul(coef_o[t], dh_total, out=d[:, 3 * H :])
        dc_state = dc_new * f[t] if keep_c is None else torch.addcmul(dc_new * f[t], dc_state, keep_c[t])
        dh_rec = d @ w_hh if drop is None else (d @ w_hh).mul_(drop)
        dh_state = dh_rec if keep_h is None else dh_rec.addcmul_(dh_total, keep_h[t])
    return dh_state, dc_state


def gru(
    grads: tuple[Tensor, ...],  # dout (T, B, H), dh_T (B, H)
    inputs: tuple[Any, ...],  # x, h0, w_ih, w_hh, b_ih, b_hh, valid, keep_h, drop
    kept: tuple[Tensor, ...],  # rz (T, B, 2H), n (T, B, H), hw_n (T, B, H), hs (T+1, B, H), h_in (T, B, H) or empty
    need_dx: bool,
) -> Grads:
    dout, dh_T = grads
    x, _, w_ih, w_hh, _, _, valid, keep_h, drop = inputs
    rz, n, hw_n, hs, h_in = kept
    h_in = hs[:-1] if drop is None else h_in
    T, B, H = n.shape
    r, z = rz[..., :H], rz[..., H:]
    a_n = (1 - z) * (1 - n * n)  # d pre_n / dh
    a_r = a_n * hw_n * r * (1 - r)
    a_z = (hs[:-1] - n) * z * (1 - z)
    coef_x = torch.stack((a_r, a_z, a_n), dim=2)  # (T, B, 3, H): input-side pre-activation grads per dh
    coef_h = torch.stack((a_r, a_z, a_n * r), dim=2)  # hidden side: the n part passes through r
    dout = dout.contiguous() if valid is None else dout * valid
    dpre_x = torch.empty(T, B, 3 * H, dtype=x.dtype, device=x.device)
    dpre_h = torch.empty_like(dpre_x)
    if keep_h is None and drop is None:
        dh = dout[T - 1] + dh_T
        for t in range(T - 1, -1, -1):
            torch.mul(coef_x[t], dh.unsqueeze(1), out=dpre_x[t].view(B, 3, H))
            torch.mul(coef_h[t], dh.unsqueeze(1), out=dpre_h[t].view(B, 3, H))
            carry = torch.addcmul(dout[t - 1], dh, z[t]) if t > 0 else dh * z[t]
            dh = carry.addmm_(dpre_h[t], w_hh)
    else:  # h_{t+1} = (1-k) h_new + k h_t; W_hh reads h_t * drop
        carry = z  # what of the gradient at h_{t+1} reaches h_t directly: z (1-k) + k
        if keep_h is not None:  # the new h's share, folded into the coefficients once for all steps
            new_h = (1 - keep_h).unsqueeze(2)
            coef_x, coef_h, carry = coef_x * new_h, coef_h * new_h, torch.lerp(z, torch.ones_like(z), keep_h)
        dh = dh_T.clone()  # the gradient reaching the state h_{t+1}
        for t in range(T - 1, -1, -1):
            dh_total = dout[t] + dh
            torch.mul(coef_x[t], dh_total.unsqueeze(1), out=dpre_x[t].view(B, 3, H))
            torch.mul(coef_h[t], dh_total.unsqueeze(1), out=dpre_h[t].view(B, 3, H))
            dh_rec = dpre_h[t] @ w_hh if drop is None else (dpre_h[t] @ w_hh).mul_(drop)
            dh = dh_rec.addcmul_(dh_total, carry[t])
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(need_dx, dpre_x, dpre_h, x, h_in, w_ih)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


def rnn(
    grads: tuple[Tensor, ...],  # dout (T, B, H), dh_T (B, H)
    inputs: tuple[Any, ...],  # x, h0, w_ih, w_hh, b_ih, b_hh, valid, keep_h, drop
    kept: tuple[Tensor, ...],  # hs (T+1, B, H), new (T, B, H) or empty, h_in (T, B, H) or empty
    need_dx: bool,
) -> Grads:
    dout, dh_T = grads
    x, _, w_ih, w_hh, _, _, valid, keep_h, drop = inputs
    hs, new, h_in = kept
    new = hs[1:] if keep_h is None else new  # without zoneout (and padding) each step's new state is the state
    h_in = hs[:-1] if drop is None else h_in
    T = x.shape[0]
    coef = 1 - new * new  # tanh' of each step's own new state
    dout = dout.contiguous() if valid is None else dout * valid
    dpre = torch.empty_like(coef)
    if keep_h is None and drop is None:
        dh = dout[T - 1] + dh_T
        for t in range(T - 1, -1, -1):
            torch.mul(coef[t], dh, out=dpre[t])
            dh = torch.addmm(dout[t - 1], dpre[t], w_hh) if t > 0 else dpre[t] @ w_hh
    else:
        if keep_h is not None:  # the new h's share, folded in once
            coef = coef * (1 - keep_h)
        dh = dh_T.clone()
        for t in range(T - 1, -1, -1):
            dh_total = dout[t] + dh
            torch.mul(coef[t], dh_total, out=dpre[t])
            dh = dpre[t] @ w_hh if drop is None else (dpre[t] @ w_hh).mul_(drop)
            if keep_h is not None:
                dh.addcmul_(dh_total, keep_h[t])
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(need_dx, dpre, dpre, x, h_in, w_ih)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh
