"""The ``unrolled`` engine: a Python loop over time steps calling the reference cells (the seeds' "method two").

Autograd differentiates it; it is slow and plain on purpose, the readable ground truth between engines.
Legend: T time steps, B batch, I input features, H hidden units.
"""

from __future__ import annotations

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
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in steps:
        h_new, c_new = step(cell, xw[t], h, c, p)
        mask = step_mask(lengths, t)
        if mask is None:
            h, c = h_new, c_new
            outs[t] = h
        else:  # past a sample's end its state stays put and its output is zero, as pad_packed_sequence gives
            h = torch.where(mask, h_new, h)
            c = None if c is None or c_new is None else torch.where(mask, c_new, c)
            outs[t] = torch.where(mask, h_new, torch.zeros_like(h_new))
    return torch.stack(outs), h, c
