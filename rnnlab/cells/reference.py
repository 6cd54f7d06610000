"""Step functions of RNN, LSTM and GRU in plain tensor ops: the ground truth every engine is tested against.

They follow PyTorch's documented equations and gate orders (LSTM i,f,g,o; GRU r,z,n) and take the input
projection ``xw = x_t W_ih^T + b_ih`` already computed, since engines do that for all steps in one matmul. The
gates are functions of their own, so that what `visualize` draws is what the steps compute.

The recurrent regularisers are written here as plainly, with masks drawn by the model (cells.common.Masks):
``drop`` multiplies the state where it enters W_hh (recurrent dropout, Gal & Ghahramani 2016), and
``zoneout`` mixes the step's new state with the one before it (Krueger et al. 2017). DropConnect on W_hh needs no
step of its own: the steps are given the masked W_hh.
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
    drop: Tensor | None = None,  # (B, H): recurrent dropout's mask, scaled; None: none
) -> tuple[Tensor, Tensor, Tensor, Tensor]:  # i, f, g, o: each (B, H), after their activations
    i, f, g, o = (xw + recurrent_input(h, drop) @ w_hh.t() + b_hh).chunk(4, dim=1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_step(
    xw: Tensor,  # (B, 4H)
    h: Tensor,  # (B, H)
    c: Tensor,  # (B, H)
    w_hh: Tensor,  # (4H, H)
    b_hh: Tensor,  # (4H,)
    drop: Tensor | None = None,  # (B, H)
) -> tuple[Tensor, Tensor]:
    i, f, g, o = lstm_gates(xw, h, w_hh, b_hh, drop)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def gru_gates(
    xw: Tensor,  # (B, 3H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (3H, H)
    b_hh: Tensor,  # (3H,)
    drop: Tensor | None = None,  # (B, H)
) -> tuple[Tensor, Tensor, Tensor]:  # r, z, n: each (B, H), after their activations
    x_r, x_z, x_n = xw.chunk(3, dim=1)
    h_r, h_z, h_n = (recurrent_input(h, drop) @ w_hh.t() + b_hh).chunk(3, dim=1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # the reset gate scales the hidden part *after* its bias, as in PyTorch
    return r, z, n


def gru_step(
    xw: Tensor,  # (B, 3H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (3H, H)
    b_hh: Tensor,  # (3H,)
    drop: Tensor | None = None,  # (B, H)
) -> Tensor:
    _, z, n = gru_gates(xw, h, w_hh, b_hh, drop)
    return (1 - z) * n + z * h  # the state itself, not its dropped copy: dropout is on the recurrent input only


def rnn_step(
    xw: Tensor,  # (B, H)
    h: Tensor,  # (B, H)
    w_hh: Tensor,  # (H, H)
    b_hh: Tensor,  # (H,)
    drop: Tensor | None = None,  # (B, H)
) -> Tensor:
    return torch.tanh(xw + recurrent_input(h, drop) @ w_hh.t() + b_hh)


def recurrent_input(h: Tensor, drop: Tensor | None) -> Tensor:
    """The state as W_hh reads it: under recurrent dropout, times one mask per sequence (0 or 1/(1-p)), the same at
    every step, so the dropped units are the same ones all along the sequence."""
    return h if drop is None else h * drop


def zoneout(new: Tensor, old: Tensor, keep: Tensor | None) -> Tensor:
    """The state after a step under zoneout: each unit keeps its previous value with weight ``keep`` (in training a
    fresh 0/1 draw per step and unit, at evaluation the rate itself: the expectation)."""
    return new if keep is None else keep * old + (1 - keep) * new
