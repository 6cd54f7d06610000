"""Step functions of RNN, LSTM and GRU in plain tensor ops: the ground truth every engine is tested against.

They follow PyTorch's documented equations and gate orders (LSTM i,f,g,o; GRU r,z,n) and take the input
projection ``xw = x_t W_ih^T + b_ih`` already computed, since engines do that for all steps in one matmul. The
gates are functions of their own, so that what `visualize` draws is what the steps compute.
Legend: B batch, H hidden units; ``xw`` is (B, G*H) with G = 4 (LSTM), 3 (GRU), 1 (RNN).
"""

from __future__ import annotations

import torch
from torch import Tensor

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ()}  # in PyTorch's order; g and n: candidates


def lstm_gates(
    xw: Tensor,  # (B, 4H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (4H, H)
    b_hh: Tensor,  # (4H,)
) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # i, f, g, o: each (B, H), after their activations
    i, f, g, o = (xw + h @ w_hh.t() + b_hh).chunk(4, dim=1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_step(
    xw: Tensor,  # (B, 4H)
    h: Tensor,  # (B, H)
    c: Tensor,  # (B, H)
    w_hh: Tensor,  # (4H, H)
    b_hh: Tensor,  # (4H,)
) -> tuple[Tensor, Tensor]:
    i, f, g, o = lstm_gates(xw, h, w_hh, b_hh)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def gru_gates(
    xw: Tensor,  # (B, 3H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (3H, H)
    b_hh: Tensor,  # (3H,)
) -> tuple[Tensor, Tensor, Tensor]:  # r, z, n: each (B, H), after their activations
    x_r, x_z, x_n = xw.chunk(3, dim=1)
    h_r, h_z, h_n = (h @ w_hh.t() + b_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # the reset gate scales the hidden part *after* its bias, as in PyTorch
    return r, z, n


def gru_step(
    xw: Tensor,  # (B, 3H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (3H, H)
    b_hh: Tensor,  # (3H,)
) -> Tensor:
    _, z, n = gru_gates(xw, h, w_hh, b_hh)
    return (1 - z) * n + z * h


def rnn_step(
    xw: Tensor,  # (B, H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (H, H)
    b_hh: Tensor,  # (H,)
) -> Tensor:
    return torch.tanh(xw + h @ w_hh.t() + b_hh)
