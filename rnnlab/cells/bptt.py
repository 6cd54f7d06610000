"""The ``bptt`` engine: backpropagation through time written by hand, one autograd.Function per cell.

Forward keeps what backward needs (activated gates, states). Backward walks time in reverse doing one matmul
and a few fused elementwise ops per step; every coefficient that does not depend on the incoming gradient is
computed for all steps at once before the loop, and the weight gradients are one matmul each after it.
A reverse direction runs on the time-flipped input. No autograd runs inside.
Legend: T time steps, B batch, I input features, H hidden units; G gates (4 LSTM i,f,g,o; 3 GRU r,z,n; 1 RNN).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.common import Masks, Params, autocast_on, input_product, keep_share, param_grads, valid_steps


class LSTMFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (T, B, I), already in processing order
        h0: Tensor,  # (B, H)
        c0: Tensor,  # (B, H)
        w_ih: Tensor,  # (4H, I)
        w_hh: Tensor,  # (4H, H)
        b_ih: Tensor,  # (4H,)
        b_hh: Tensor,  # (4H,)
        valid: Tensor | None,  # (T, B, 1) 1.0 where the step is valid, in processing order; None: all valid
        keep_h: Tensor | None,  # (T, B, H or 1): the share of the previous h a step keeps (zoneout, padding)
        keep_c: Tensor | None,  # the same for c
        drop: Tensor | None,  # (B, H): recurrent dropout's mask on the h that W_hh reads
    ) -> tuple[Tensor, Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.shape[1]
        acts = input_product(x, w_ih, b_ih + b_hh)  # becomes the activated gates i, f, g, o in place
        hs = x.new_empty(T + 1, B, H)
        cs = x.new_empty(T + 1, B, H)
        tcs = x.new_empty(T, B, H)  # tanh(c_new): of the step's own new c, before zoneout mixes in the old
        hs[0], cs[0] = h0, c0
        h_in = hs[:-1] if drop is None else x.new_empty(T, B, H)  # what W_hh reads at each step
        w_hh_t = w_hh.t()
        for t in range(T):
            if drop is not None:
                torch.mul(hs[t], drop, out=h_in[t])
            a = acts[t]
            a.addmm_(h_in[t], w_hh_t)
            a[:, : 2 * H].sigmoid_()
            a[:, 2 * H : 3 * H].tanh_()
            a[:, 3 * H :].sigmoid_()
            torch.mul(a[:, H : 2 * H], cs[t], out=cs[t + 1])
            cs[t + 1].addcmul_(a[:, :H], a[:, 2 * H : 3 * H])
            torch.tanh(cs[t + 1], out=tcs[t])
            torch.mul(a[:, 3 * H :], tcs[t], out=hs[t + 1])
            if keep_h is not None:  # zoneout, and past its end a sample keeps its whole state
                hs[t + 1].lerp_(hs[t], keep_h[t])
            if keep_c is not None:
                cs[t + 1].lerp_(cs[t], keep_c[t])
        ctx.save_for_backward(x, w_ih, w_hh, acts, hs, cs, tcs, valid, keep_h, keep_c, drop, h_in)
        return _outputs(hs, valid), hs[T].clone(), cs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor, dc_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, acts, hs, cs, tcs, valid, keep_h, keep_c, drop, h_in = ctx.saved_tensors
        T, B, H = tcs.shape
        i, f, g, o = acts.chunk(4, dim=2)
        # Coefficients for all steps at once: d(pre-activation)/dc for gates i, f, g and d/dh for gate o.
        coef_c = torch.stack((g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g)), dim=2)  # (T, B, 3, H)
        coef_o = tcs * o * (1 - o)  # (T, B, H)
        k_c = o * (1 - tcs * tcs)  # dc += dh * k_c
        dout = dout.contiguous() if valid is None else dout * valid  # a padded step's output is a constant zero
        dpre = torch.empty_like(acts)  # (T, B, 4H)
        if keep_h is not None or keep_c is not None or drop is not None:
            masks = (keep_h, keep_c, drop)
            return _lstm_kept_backward(ctx, dout, dh_T, dc_T, x, w_ih, w_hh, h_in, f, coef_c, coef_o, k_c, masks, dpre)
        dh = dout[T - 1] + dh_T
        dc = dc_T.clone()
        for t in range(T - 1, -1, -1):
            dc.addcmul_(dh, k_c[t])
            d = dpre[t]
            torch.mul(coef_c[t], dc.unsqueeze(1), out=d.view(B, 4, H)[:, :3])
            torch.mul(coef_o[t], dh, out=d[:, 3 * H :])
            dc.mul_(f[t])
            dh = torch.addmm(dout[t - 1], d, w_hh) if t > 0 else d @ w_hh
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, h_in, w_ih)
        return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, None, None, None, None


def _outputs(hs: Tensor, valid: Tensor | None) -> Tensor:
    """The step outputs: the new state, or zero past a sample's end (as pad_packed_sequence pads)."""
    return hs[1:] if valid is None else hs[1:] * valid


def _lstm_kept_backward(
    ctx: Any,
    dout: Tensor,  # (T, B, H), zero at padded steps
    dh_T: Tensor,
    dc_T: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    h_in: Tensor,
    f: Tensor,
    coef_c: Tensor,
    coef_o: Tensor,
    k_c: Tensor,
    masks: tuple[Tensor | None, Tensor | None, Tensor | None],  # keep_h, keep_c, drop
    dpre: Tensor,
) -> tuple[Tensor | None, ...]:
    """h_{t+1} = (1-k) h_new + k h_t (and c alike, k the share kept: zoneout's draw, 1 where padded); W_hh reads
    h_t * drop. A kept share passes its gradient straight back to the state before."""
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
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, h_in, w_ih)
    return dx, dh_state, dc_state, dw_ih, dw_hh, db_ih, db_hh, None, None, None, None


class GRUFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (T, B, I)
        h0: Tensor,  # (B, H)
        w_ih: Tensor,  # (3H, I)
        w_hh: Tensor,  # (3H, H)
        b_ih: Tensor,  # (3H,)
        b_hh: Tensor,  # (3H,)
        valid: Tensor | None,  # (T, B, 1) or None
        keep_h: Tensor | None,  # (T, B, H or 1) or None
        drop: Tensor | None,  # (B, H) or None
    ) -> tuple[Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.shape[1]
        xw = input_product(x, w_ih, b_ih)  # (T, B, 3H)
        hw_n = x.new_empty(T, B, H)  # W_hn h + b_hn, which the reset gate scales
        rz = x.new_empty(T, B, 2 * H)
        n = x.new_empty(T, B, H)
        hs = x.new_empty(T + 1, B, H)
        hs[0] = h0
        h_in = hs[:-1] if drop is None else x.new_empty(T, B, H)
        w_hh_t = w_hh.t()
        for t in range(T):
            if drop is not None:
                torch.mul(hs[t], drop, out=h_in[t])
            hw = torch.addmm(b_hh, h_in[t], w_hh_t)
            torch.add(xw[t, :, : 2 * H], hw[:, : 2 * H], out=rz[t]).sigmoid_()
            hw_n[t] = hw[:, 2 * H :]
            torch.addcmul(xw[t, :, 2 * H :], rz[t, :, :H], hw_n[t], out=n[t]).tanh_()
            torch.lerp(n[t], hs[t], rz[t, :, H:], out=hs[t + 1])  # n + z (h - n): the state, not its dropped copy
            if keep_h is not None:
                hs[t + 1].lerp_(hs[t], keep_h[t])
        ctx.save_for_backward(x, w_ih, w_hh, rz, n, hw_n, hs, valid, keep_h, drop, h_in)
        return _outputs(hs, valid), hs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, rz, n, hw_n, hs, valid, keep_h, drop, h_in = ctx.saved_tensors
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
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre_x, dpre_h, x, h_in, w_ih)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


class RNNFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,  # (T, B, I)
        h0: Tensor,  # (B, H)
        w_ih: Tensor,  # (H, I)
        w_hh: Tensor,  # (H, H)
        b_ih: Tensor,  # (H,)
        b_hh: Tensor,  # (H,)
        valid: Tensor | None,  # (T, B, 1) or None
        keep_h: Tensor | None,  # (T, B, H or 1) or None
        drop: Tensor | None,  # (B, H) or None
    ) -> tuple[Tensor, Tensor]:
        T = x.shape[0]
        new = input_product(x, w_ih, b_ih + b_hh)  # (T, B, H): becomes each step's new state, tanh(...)
        hs = torch.cat((h0.unsqueeze(0), new))  # a copy: under zoneout ``new`` stays apart from the states
        new = hs[1:] if keep_h is None else new  # without zoneout (and padding) the new state is the state
        h_in = hs[:-1] if drop is None else x.new_empty(hs[:-1].shape)
        w_hh_t = w_hh.t()
        for t in range(T):
            if drop is not None:
                torch.mul(hs[t], drop, out=h_in[t])
            new[t].addmm_(h_in[t], w_hh_t).tanh_()
            if keep_h is not None:
                torch.lerp(new[t], hs[t], keep_h[t], out=hs[t + 1])
        ctx.save_for_backward(x, w_ih, w_hh, hs, new, valid, keep_h, drop, h_in)
        return _outputs(hs, valid), hs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, hs, new, valid, keep_h, drop, h_in = ctx.saved_tensors
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
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, h_in, w_ih)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def direction(
    cell: str,
    x: Tensor,  # (T, B, I)
    h: Tensor,  # (B, H)
    c: Tensor | None,  # (B, H), LSTM only
    p: Params,
    reverse: bool,
    lengths: Tensor | None,  # (B,)
    masks: Masks | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction of a one-layer LSTM, GRU or RNN whose backward through time is written by hand, time-major.

    Args:
        cell: "lstm", "gru" or "rnn" (tanh).
        x: (T, B, I) the inputs, every step of every sample.
        h: (B, H) the initial hidden state; c: (B, H) the LSTM's initial cell state, None for a GRU or RNN.
        p: this direction's parameters, nn.LSTM's own tensors (cells.common.layer_params(layer, 0 or 1)).
        reverse: read steps T-1 .. 0 (the backward direction of a bidirectional layer).
        lengths: (B,) the valid steps of each sample (the rest is padding), or None: all T valid.
        masks: the recurrent regularisers' masks (cells.common.Masks), or None: none.
    Returns:
        out (T, B, H) the hidden state after each step (zero past a sample's length), h_T (B, H) and c_T (B, H) or
        None: the state after each sample's last valid step.

    Example, against PyTorch's own layer (the parameters are shared, nothing is copied):

        >>> import torch
        >>> from rnnlab.cells.common import layer_params
        >>> from rnnlab.cells.bptt import direction
        >>> lstm = torch.nn.LSTM(3, 5)
        >>> x, h0, c0 = torch.randn(7, 2, 3), torch.zeros(2, 5), torch.zeros(2, 5)
        >>> out, h_T, c_T = direction("lstm", x, h0, c0, layer_params(lstm, 0), False, None)
        >>> out.shape, h_T.shape, c_T.shape
        (torch.Size([7, 2, 5]), torch.Size([2, 5]), torch.Size([2, 5]))
        >>> torch.allclose(out, lstm(x)[0], atol=1e-6)
        True
    """
    if autocast_on(x.device.type):
        # Hand-written kernels run in float32: cast once here (and go on with autocast off) rather than let
        # autocast split the graph.
        with torch.autocast(device_type=x.device.type, enabled=False):
            c = None if c is None else c.float()
            return direction(cell, x.float(), h.float(), c, p, reverse, lengths, masks)
    m = masks or Masks()
    valid = valid_steps(lengths, x)
    keep_h = keep_share(valid, m.keep_h, x.dtype)
    keep_c = keep_share(valid, m.keep_c, x.dtype) if cell == "lstm" else None
    drop = None if m.drop is None else m.drop.to(x.dtype)
    if reverse:  # reading the flipped sequence with the flipped masks starts each sample at its own last step
        x = x.flip(0)
        valid, keep_h, keep_c = (None if k is None else k.flip(0) for k in (valid, keep_h, keep_c))
    if cell == "lstm":
        out, h_n, c_n = LSTMFunction.apply(x, h, c, *p, valid, keep_h, keep_c, drop)
    else:
        fn = GRUFunction if cell == "gru" else RNNFunction
        (out, h_n), c_n = fn.apply(x, h, *p, valid, keep_h, drop), None
    return (out.flip(0) if reverse else out), h_n, c_n
