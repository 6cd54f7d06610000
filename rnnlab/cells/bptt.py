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

from rnnlab.cells.common import Params, autocast_on, input_product, param_grads


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
        mask: Tensor | None,  # (T, B, 1) 1.0 where the step is valid, in processing order; None: all valid
    ) -> tuple[Tensor, Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.shape[1]
        acts = input_product(x, w_ih, b_ih + b_hh)  # becomes the activated gates i, f, g, o in place
        hs = x.new_empty(T + 1, B, H)
        cs = x.new_empty(T + 1, B, H)
        tcs = x.new_empty(T, B, H)  # tanh(c_t)
        hs[0], cs[0] = h0, c0
        w_hh_t = w_hh.t()
        for t in range(T):
            a = acts[t]
            a.addmm_(hs[t], w_hh_t)
            a[:, : 2 * H].sigmoid_()
            a[:, 2 * H : 3 * H].tanh_()
            a[:, 3 * H :].sigmoid_()
            torch.mul(a[:, H : 2 * H], cs[t], out=cs[t + 1])
            cs[t + 1].addcmul_(a[:, :H], a[:, 2 * H : 3 * H])
            torch.tanh(cs[t + 1], out=tcs[t])
            torch.mul(a[:, 3 * H :], tcs[t], out=hs[t + 1])
            if mask is not None:  # past its end a sample keeps its state
                hs[t + 1].lerp_(hs[t], 1 - mask[t])
                cs[t + 1].lerp_(cs[t], 1 - mask[t])
        ctx.save_for_backward(x, w_ih, w_hh, acts, hs, cs, tcs, mask)
        return _outputs(hs, mask), hs[T].clone(), cs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor, dc_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, acts, hs, cs, tcs, mask = ctx.saved_tensors
        T, B, H = tcs.shape
        i, f, g, o = acts.chunk(4, dim=2)
        # Coefficients for all steps at once: d(pre-activation)/dc for gates i, f, g and d/dh for gate o.
        coef_c = torch.stack((g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g)), dim=2)  # (T, B, 3, H)
        coef_o = tcs * o * (1 - o)  # (T, B, H)
        k_c = o * (1 - tcs * tcs)  # dc += dh * k_c
        dout = dout.contiguous()
        dpre = torch.empty_like(acts)  # (T, B, 4H)
        if mask is not None:
            return _lstm_masked_backward(ctx, dout, dh_T, dc_T, x, w_ih, w_hh, hs, f, coef_c, coef_o, k_c, mask, dpre)
        dh = dout[T - 1] + dh_T
        dc = dc_T.clone()
        for t in range(T - 1, -1, -1):
            dc.addcmul_(dh, k_c[t])
            d = dpre[t]
            torch.mul(coef_c[t], dc.unsqueeze(1), out=d.view(B, 4, H)[:, :3])
            torch.mul(coef_o[t], dh, out=d[:, 3 * H :])
            dc.mul_(f[t])
            dh = torch.addmm(dout[t - 1], d, w_hh) if t > 0 else d @ w_hh
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, hs, w_ih)
        return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, None


def _outputs(hs: Tensor, mask: Tensor | None) -> Tensor:
    """The step outputs: the new state, or zero past a sample's end (as pad_packed_sequence pads)."""
    return hs[1:] if mask is None else hs[1:] * mask


def _lstm_masked_backward(
    ctx: Any,
    dout: Tensor,
    dh_T: Tensor,
    dc_T: Tensor,
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    hs: Tensor,
    f: Tensor,
    coef_c: Tensor,
    coef_o: Tensor,
    k_c: Tensor,
    mask: Tensor,
    dpre: Tensor,
) -> tuple[Tensor | None, ...]:
    """h_{t+1} = m h_new + (1-m) h_t, out_t = m h_new (and c alike): a masked step passes gradients straight by."""
    T, B, H = k_c.shape
    dh_state, dc_state = dh_T.clone(), dc_T.clone()
    for t in range(T - 1, -1, -1):
        m = mask[t]
        dh_new = (dout[t] + dh_state) * m
        dc_new = dc_state * m + dh_new * k_c[t]
        d = dpre[t]
        torch.mul(coef_c[t], dc_new.unsqueeze(1), out=d.view(B, 4, H)[:, :3])
        torch.mul(coef_o[t], dh_new, out=d[:, 3 * H :])
        dc_state = dc_state * (1 - m) + dc_new * f[t]
        dh_state = torch.addmm(dh_state * (1 - m), d, w_hh)
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, hs, w_ih)
    return dx, dh_state, dc_state, dw_ih, dw_hh, db_ih, db_hh, None


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
        mask: Tensor | None,  # (T, B, 1) or None
    ) -> tuple[Tensor, Tensor]:
        T, B, _ = x.shape
        H = w_hh.shape[1]
        xw = input_product(x, w_ih, b_ih)  # (T, B, 3H)
        hw_n = x.new_empty(T, B, H)  # W_hn h + b_hn, which the reset gate scales
        rz = x.new_empty(T, B, 2 * H)
        n = x.new_empty(T, B, H)
        hs = x.new_empty(T + 1, B, H)
        hs[0] = h0
        w_hh_t = w_hh.t()
        for t in range(T):
            hw = torch.addmm(b_hh, hs[t], w_hh_t)
            torch.add(xw[t, :, : 2 * H], hw[:, : 2 * H], out=rz[t]).sigmoid_()
            hw_n[t] = hw[:, 2 * H :]
            torch.addcmul(xw[t, :, 2 * H :], rz[t, :, :H], hw_n[t], out=n[t]).tanh_()
            torch.lerp(n[t], hs[t], rz[t, :, H:], out=hs[t + 1])  # n + z (h - n)
            if mask is not None:
                hs[t + 1].lerp_(hs[t], 1 - mask[t])
        ctx.save_for_backward(x, w_ih, w_hh, rz, n, hw_n, hs, mask)
        return _outputs(hs, mask), hs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, rz, n, hw_n, hs, mask = ctx.saved_tensors
        T, B, H = n.shape
        r, z = rz[..., :H], rz[..., H:]
        a_n = (1 - z) * (1 - n * n)  # d pre_n / dh
        a_r = a_n * hw_n * r * (1 - r)
        a_z = (hs[:-1] - n) * z * (1 - z)
        coef_x = torch.stack((a_r, a_z, a_n), dim=2)  # (T, B, 3, H): input-side pre-activation grads per dh
        coef_h = torch.stack((a_r, a_z, a_n * r), dim=2)  # hidden side: the n part passes through r
        dout = dout.contiguous()
        dpre_x = torch.empty(T, B, 3 * H, dtype=x.dtype, device=x.device)
        dpre_h = torch.empty_like(dpre_x)
        if mask is None:
            dh = dout[T - 1] + dh_T
            for t in range(T - 1, -1, -1):
                torch.mul(coef_x[t], dh.unsqueeze(1), out=dpre_x[t].view(B, 3, H))
                torch.mul(coef_h[t], dh.unsqueeze(1), out=dpre_h[t].view(B, 3, H))
                carry = torch.addcmul(dout[t - 1], dh, z[t]) if t > 0 else dh * z[t]
                dh = carry.addmm_(dpre_h[t], w_hh)
        else:
            dh = dh_T.clone()  # the gradient reaching the state h_{t+1}
            for t in range(T - 1, -1, -1):
                dh_new = (dout[t] + dh) * mask[t]
                torch.mul(coef_x[t], dh_new.unsqueeze(1), out=dpre_x[t].view(B, 3, H))
                torch.mul(coef_h[t], dh_new.unsqueeze(1), out=dpre_h[t].view(B, 3, H))
                dh = (dh * (1 - mask[t])).addcmul_(dh_new, z[t]).addmm_(dpre_h[t], w_hh)
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre_x, dpre_h, x, hs, w_ih)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None


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
        mask: Tensor | None,  # (T, B, 1) or None
    ) -> tuple[Tensor, Tensor]:
        T = x.shape[0]
        hs = torch.cat((h0.unsqueeze(0), input_product(x, w_ih, b_ih + b_hh)))  # (T+1, B, H)
        w_hh_t = w_hh.t()
        for t in range(T):
            hs[t + 1].addmm_(hs[t], w_hh_t).tanh_()
            if mask is not None:
                hs[t + 1].lerp_(hs[t], 1 - mask[t])
        ctx.save_for_backward(x, w_ih, w_hh, hs, mask)
        return _outputs(hs, mask), hs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor) -> tuple[Tensor | None, ...]:
        x, w_ih, w_hh, hs, mask = ctx.saved_tensors
        T = x.shape[0]
        coef = 1 - hs[1:] * hs[1:]  # tanh' where the step is valid (masked steps get no gradient anyway)
        dout = dout.contiguous()
        dpre = torch.empty_like(coef)
        if mask is None:
            dh = dout[T - 1] + dh_T
            for t in range(T - 1, -1, -1):
                torch.mul(coef[t], dh, out=dpre[t])
                dh = torch.addmm(dout[t - 1], dpre[t], w_hh) if t > 0 else dpre[t] @ w_hh
        else:
            dh = dh_T.clone()
            for t in range(T - 1, -1, -1):
                torch.mul(coef[t], (dout[t] + dh) * mask[t], out=dpre[t])
                dh = torch.addmm(dh * (1 - mask[t]), dpre[t], w_hh)
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre, dpre, x, hs, w_ih)
        return dx, dh, dw_ih, dw_hh, db_ih, db_hh, None


def direction(
    cell: str,
    x: Tensor,  # (T, B, I)
    h: Tensor,  # (B, H)
    c: Tensor | None,  # (B, H), LSTM only
    p: Params,
    reverse: bool,
    lengths: Tensor | None,  # (B,)
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction of a one-layer LSTM, GRU or RNN whose backward through time is written by hand, time-major.

    Args:
        cell: "lstm", "gru" or "rnn" (tanh).
        x: (T, B, I) the inputs, every step of every sample.
        h: (B, H) the initial hidden state; c: (B, H) the LSTM's initial cell state, None for a GRU or RNN.
        p: this direction's parameters, nn.LSTM's own tensors (cells.common.layer_params(layer, 0 or 1)).
        reverse: read steps T-1 .. 0 (the backward direction of a bidirectional layer).
        lengths: (B,) the valid steps of each sample (the rest is padding), or None: all T valid.
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
            return direction(cell, x.float(), h.float(), None if c is None else c.float(), p, reverse, lengths)
    mask = None
    if lengths is not None:  # (T, B, 1): step t is valid for sample b while t < lengths[b]
        steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
        mask = (steps < lengths.to(x.device).unsqueeze(0)).to(x.dtype).unsqueeze(2)
    if reverse:  # reading the flipped sequence with the flipped mask starts each sample at its own last step
        x = x.flip(0)
        mask = None if mask is None else mask.flip(0)
    if cell == "lstm":
        out, h_n, c_n = LSTMFunction.apply(x, h, c, *p, mask)
    else:
        fn = GRUFunction if cell == "gru" else RNNFunction
        (out, h_n), c_n = fn.apply(x, h, *p, mask), None
    return (out.flip(0) if reverse else out), h_n, c_n
