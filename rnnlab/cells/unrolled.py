"""The ``unrolled`` engine: a Python loop over time steps calling the reference cells, step by step.

Autograd differentiates it; it is slow and plain on purpose, the readable ground truth between engines. Its loop,
``walk``, also serves `visualize`, which keeps every step's state and gates.
Legend: T time steps, B batch, I input features, H hidden units, G gates.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from rnnlab.cells import reference
from rnnlab.cells.common import Masks, Params, step_mask


def step(
    cell: str, xw: Tensor, h: Tensor, c: Tensor | None, p: Params, drop: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """One time step of ``cell`` with the reference equations; xw = x_t W_ih^T + b_ih, (B, G*H); ``drop`` (B, H)
    the recurrent dropout mask."""
    if cell == "lstm":
        assert c is not None
        return reference.lstm_step(xw, h, c, p.w_hh, p.b_hh, drop)
    return (reference.gru_step if cell == "gru" else reference.rnn_step)(xw, h, p.w_hh, p.b_hh, drop), None


def gates(cell: str, xw: Tensor, h: Tensor, p: Params, drop: Tensor | None = None) -> tuple[Tensor, ...]:
    """The gate activations a step computes from the state ``h`` before it, each (B, H), named by reference.GATES."""
    if cell == "lstm":
        return reference.lstm_gates(xw, h, p.w_hh, p.b_hh, drop)
    return reference.gru_gates(xw, h, p.w_hh, p.b_hh, drop) if cell == "gru" else ()


def walk(
    cell: str,
    xw: Tensor,  # (T, B, G*H): the input product of every step
    h: Tensor,  # (B, H)
    c: Tensor | None,  # (B, H), LSTM only
    p: Params,
    reverse: bool,
    lengths: Tensor | None,  # (B,)
    masks: Masks | None = None,  # zoneout and recurrent dropout (a weight mask is already in p.w_hh)
) -> Iterator[tuple[int, Tensor, Tensor | None, Tensor]]:
    """The steps of one direction in the order it reads them: (t, h, c, output) after each.

    Under zoneout the state is the mix of the new one and the one before; past a sample's end its state stays put
    and its output is zero, as pad_packed_sequence gives."""
    m = masks or Masks()
    xws = xw.unbind(0)  # one view per step: autograd then stacks their gradients once, where xw[t] would add a
    # full-size zero tensor per step to the backward (quadratic in T: 52 s for one pixel-MNIST batch, not 1 s)
    for t in range(xw.shape[0] - 1, -1, -1) if reverse else range(xw.shape[0]):
        h_new, c_new = step(cell, xws[t], h, c, p, m.drop)
        if m.keep_h is not None:
            h_new = reference.zoneout(h_new, h, m.keep_h[t])
        if m.keep_c is not None and c is not None and c_new is not None:
            c_new = reference.zoneout(c_new, c, m.keep_c[t])
        mask = step_mask(lengths, t)
        if mask is None:
            h, c = h_new, c_new
            yield t, h, c, h
        else:
            h = torch.where(mask, h_new, h)
            c = None if c is None or c_new is None else torch.where(mask, c_new, c)
            yield t, h, c, torch.where(mask, h_new, torch.zeros_like(h_new))


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
    """One direction of a one-layer LSTM, GRU or RNN by the reference cells, one Python step at a time, time-major.

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
        >>> from rnnlab.cells.unrolled import direction
        >>> lstm = torch.nn.LSTM(3, 5)
        >>> x, h0, c0 = torch.randn(7, 2, 3), torch.zeros(2, 5), torch.zeros(2, 5)
        >>> out, h_T, c_T = direction("lstm", x, h0, c0, layer_params(lstm, 0), False, None)
        >>> out.shape, h_T.shape, c_T.shape
        (torch.Size([7, 2, 5]), torch.Size([2, 5]), torch.Size([2, 5]))
        >>> torch.allclose(out, lstm(x)[0], atol=1e-6)
        True
    """
    xw = torch.nn.functional.linear(x, p.w_ih, p.b_ih)  # (T, B, G*H): the input product for all steps at once
    outs: list[Tensor] = [x.new_empty(0)] * x.shape[0]
    for t, h_t, c_t, out in walk(cell, xw, h, c, p, reverse, lengths, masks):
        outs[t] = out
        h, c = h_t, c_t  # the state after the last step read
    return torch.stack(outs), h, c
