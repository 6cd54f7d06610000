"""The ``bptt`` engine: backpropagation through time written by hand (``bptt_backward``), the forward here.

Forward keeps what backward needs (activated gates, states) and returns it beside the outputs. Each cell's forward
and backward are ``torch.library`` custom ops (``rnnlab::bptt_lstm`` and ``rnnlab::bptt_lstm_backward``, ...; see
``ops``), so that ``torch.compile`` and ``torch.export`` take a direction as one node rather than break their graph
at it. A reverse direction runs on the time-flipped input. No autograd runs inside.
Legend: T time steps, B batch, I input features, H hidden units; G gates (4 LSTM i,f,g,o; 3 GRU r,z,n; 1 RNN).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.cells import bptt_backward
from rnnlab.cells.common import Masks, Params, autocast_on, input_product, keep_share, valid_steps
from rnnlab.cells.ops import define, placeholder

# Every cell's op takes its layer's tensors and then the masks, each None where it is off:
#   valid (T, B, 1) 1.0 where the step is valid, in processing order; keep_h (T, B, H or 1) the share of the previous
#   h a step keeps (zoneout, padding); keep_c the same for an LSTM's c; drop (B, H) recurrent dropout's mask on the h
#   that W_hh reads
_LSTM_ARGS = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")
_RNN_ARGS = ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")


def _schema(tensors: tuple[str, ...], masks: tuple[str, ...]) -> list[str]:
    return [f"Tensor {n}" for n in tensors] + [f"Tensor? {n}" for n in masks]


def lstm_forward(
    x: Tensor,  # (T, B, I), already in processing order
    h0: Tensor,  # (B, H)
    c0: Tensor,  # (B, H)
    w_ih: Tensor,  # (4H, I)
    w_hh: Tensor,  # (4H, H)
    b_ih: Tensor,  # (4H,)
    b_hh: Tensor,  # (4H,)
    valid: Tensor | None,  # (T, B, 1) or None
    keep_h: Tensor | None,  # (T, B, H or 1) or None
    keep_c: Tensor | None,  # (T, B, H or 1) or None
    drop: Tensor | None,  # (B, H) or None
) -> tuple[Tensor, ...]:  # out, h_T, c_T; kept: acts, hs, cs, tcs, h_in (empty without drop: hs[:-1])
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
    kept_h_in = placeholder(x) if drop is None else h_in
    return _outputs(hs, valid), hs[T].clone(), cs[T].clone(), acts, hs, cs, tcs, kept_h_in


def _lstm_fake(
    x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, *rest: Tensor | None
) -> tuple[Tensor, ...]:
    T, B, _ = x.shape
    H = w_hh.shape[1]
    drop = rest[-1]
    h_in = placeholder(x) if drop is None else x.new_empty(T, B, H)
    e = x.new_empty
    return e(T, B, H), e(B, H), e(B, H), e(T, B, 4 * H), e(T + 1, B, H), e(T + 1, B, H), e(T, B, H), h_in


def _outputs(hs: Tensor, valid: Tensor | None) -> Tensor:
    """The step outputs: the new state, or zero past a sample's end (as pad_packed_sequence pads); a copy, never
    a view of the states the backward keeps."""
    return hs[1:].clone() if valid is None else hs[1:] * valid


def gru_forward(
    x: Tensor,  # (T, B, I)
    h0: Tensor,  # (B, H)
    w_ih: Tensor,  # (3H, I)
    w_hh: Tensor,  # (3H, H)
    b_ih: Tensor,  # (3H,)
    b_hh: Tensor,  # (3H,)
    valid: Tensor | None,  # (T, B, 1) or None
    keep_h: Tensor | None,  # (T, B, H or 1) or None
    drop: Tensor | None,  # (B, H) or None
) -> tuple[Tensor, ...]:  # out, h_T; kept: rz, n, hw_n, hs, h_in (empty without drop)
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
    return _outputs(hs, valid), hs[T].clone(), rz, n, hw_n, hs, placeholder(x) if drop is None else h_in


def _gru_fake(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, *rest: Tensor | None) -> tuple[Tensor, ...]:
    T, B, _ = x.shape
    H = w_hh.shape[1]
    e = x.new_empty
    h_in = placeholder(x) if rest[-1] is None else e(T, B, H)
    return e(T, B, H), e(B, H), e(T, B, 2 * H), e(T, B, H), e(T, B, H), e(T + 1, B, H), h_in


def rnn_forward(
    x: Tensor,  # (T, B, I)
    h0: Tensor,  # (B, H)
    w_ih: Tensor,  # (H, I)
    w_hh: Tensor,  # (H, H)
    b_ih: Tensor,  # (H,)
    b_hh: Tensor,  # (H,)
    valid: Tensor | None,  # (T, B, 1) or None
    keep_h: Tensor | None,  # (T, B, H or 1) or None
    drop: Tensor | None,  # (B, H) or None
) -> tuple[Tensor, ...]:  # out, h_T; kept: hs, new (empty without keep_h: hs[1:]), h_in (empty without drop)
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
    kept_new = placeholder(x) if keep_h is None else new
    return _outputs(hs, valid), hs[T].clone(), hs, kept_new, placeholder(x) if drop is None else h_in


def _rnn_fake(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, *rest: Tensor | None) -> tuple[Tensor, ...]:
    T, B, _ = x.shape
    H = w_hh.shape[1]
    e = x.new_empty
    keep_h, drop = rest[-2], rest[-1]
    new = placeholder(x) if keep_h is None else e(T, B, H)
    return e(T, B, H), e(B, H), e(T + 1, B, H), new, placeholder(x) if drop is None else e(T, B, H)


# (out, h_T[, c_T]) = lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, valid, keep_h, keep_c, drop); gru and rnn alike,
# without c: differentiable through the backward written by hand
lstm = define("bptt_lstm", _schema(_LSTM_ARGS, ("valid", "keep_h", "keep_c", "drop")), 7, (3, 5), lstm_forward,
              _lstm_fake, bptt_backward.lstm)  # fmt: skip
gru = define("bptt_gru", _schema(_RNN_ARGS, ("valid", "keep_h", "drop")), 6, (2, 5), gru_forward, _gru_fake,
             bptt_backward.gru)  # fmt: skip
rnn = define("bptt_rnn", _schema(_RNN_ARGS, ("valid", "keep_h", "drop")), 6, (2, 3), rnn_forward, _rnn_fake,
             bptt_backward.rnn)  # fmt: skip


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
        out, h_n, c_n = lstm(x, h, c, *p, valid, keep_h, keep_c, drop)
    else:
        (out, h_n), c_n = (gru if cell == "gru" else rnn)(x, h, *p, valid, keep_h, drop), None
    return (out.flip(0) if reverse else out), h_n, c_n
