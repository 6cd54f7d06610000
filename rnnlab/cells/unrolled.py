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
from rnnlab.cells.common import Params, step_mask


def step(cell: str, xw: Tensor, h: Tensor, c: Tensor | None, p: Params) -> tuple[Tensor, Tensor | None]:
    """One time step of ``cell`` with the reference equations; xw = x_t W_ih^T + b_ih, (B, G*H)."""
    if cell == "lstm":
        assert c is not None
        return reference.lstm_step(xw, h, c, p.w_hh, p.b_hh)
    return (reference.gru_step if cell == "gru" else reference.rnn_step)(xw, h, p.w_hh, p.b_hh), None


def gates(cell: str, xw: Tensor, h: Tensor, p: Params) -> tuple[Tensor, ...]:
    """The gate activations a step computes from the state ``h`` before it, each (B, H), named by reference.GATES."""
    if cell == "lstm":
        return reference.lstm_gates(xw, h, p.w_hh, p.b_hh)
    return reference.gru_gates(xw, h, p.w_hh, p.b_hh) if cell == "gru" else ()


def walk(
    cell: str,
    xw: Tensor,  # (T, B, G*H): the input product of every step
    h: Tensor,  # (B, H)
    c: Tensor | None,  # (B, H), LSTM only
    p: Params,
    reverse: bool,
    lengths: Tensor | None,  # (B,)
) -> Iterator[tuple[int, Tensor, Tensor | None, Tensor]]:
    """The steps of one direction in the order it reads them: (t, h, c, output) after each.

    Past a sample's end its state stays put and its output is zero, as pad_packed_sequence gives."""
    for t in range(xw.shape[0] - 1, -1, -1) if reverse else range(xw.shape[0]):
        h_new, c_new = step(cell, xw[t], h, c, p)
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
) -> tuple[Tensor, Tensor, Tensor | None]:
    xw = torch.nn.functional.linear(x, p.w_ih, p.b_ih)  # (T, B, G*H): the input product for all steps at once
    outs: list[Tensor] = [x.new_empty(0)] * x.shape[0]
    for t, h_t, c_t, out in walk(cell, xw, h, c, p, reverse, lengths):
        outs[t] = out
        h, c = h_t, c_t  # the state after the last step read
    return torch.stack(outs), h, c
