"""What every engine shares: reading a layer's parameters by PyTorch's names, and the per-direction loop.

Legend: T time steps, B batch, I input features, H hidden units, D directions (1 or 2), G gates (4 LSTM, 3 GRU, 1 RNN).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnlab.cells import REGULARISERS

# nn.LSTM's state is (h, c); nn.GRU's and nn.RNN's is h. Each tensor is (D, B, H).
State = Tensor | tuple[Tensor, Tensor]

MODES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn"}


class Params(NamedTuple):
    """One direction's parameters, exactly nn.LSTM's tensors (no copy): gate order i,f,g,o (LSTM), r,z,n (GRU)."""

    w_ih: Tensor  # (G*H, I)
    w_hh: Tensor  # (G*H, H)
    b_ih: Tensor  # (G*H,)
    b_hh: Tensor  # (G*H,)


class Masks(NamedTuple):
    """One direction's recurrent regularisers, drawn by the model outside the engine, so that every engine computes
    with the same masks. Each is in time order (index t is step t), whichever way the direction reads."""

    keep_h: Tensor | None = None  # (T, B, H), an expanded view at evaluation: zoneout, the share of h a unit keeps
    keep_c: Tensor | None = None  # the same for an LSTM's c
    drop: Tensor | None = None  # (B, H): recurrent dropout, 0 or 1/(1-p), on h where it enters W_hh, every step
    weight: Tensor | None = None  # (G*H, H): DropConnect, 0 or 1/(1-p), on W_hh itself, for the whole batch

    def regularisers(self) -> tuple[str, ...]:
        """What these masks ask an engine to compute, by REGULARISERS' names."""
        on = (self.keep_h is not None or self.keep_c is not None, self.drop is not None, self.weight is not None)
        return tuple(name for name, used in zip(REGULARISERS, on) if used)


def cell_of(layer: nn.RNNBase) -> str:
    """'lstm', 'gru' or 'rnn' for a one-layer nn.LSTM / nn.GRU / nn.RNN(tanh)."""
    if layer.mode not in MODES:
        raise ValueError(f"unsupported recurrent mode {layer.mode!r}")
    proj_size: int = getattr(layer, "proj_size", 0)
    if layer.num_layers != 1 or not layer.bias or layer.batch_first or proj_size:
        raise ValueError("engines take one-layer, time-major modules with biases and no projection")
    return MODES[layer.mode]


def layer_params(layer: nn.RNNBase, direction: int) -> Params:
    suffix = "_reverse" if direction == 1 else ""
    return Params(*(getattr(layer, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))


def zero_state(layer: nn.RNNBase, x: Tensor) -> State:
    shape = (2 if layer.bidirectional else 1, x.shape[1], layer.hidden_size)
    h = x.new_zeros(shape)
    return (h, h.clone()) if cell_of(layer) == "lstm" else h


# (cell, x (T,B,I), h0 (B,H), c0 (B,H) | None, params, reverse, lengths (B,) | None, masks | None)
#   -> (out (T,B,H), hT, cT | None); the params' W_hh already carries a weight mask (run_directions applies it)
DirectionFn = Callable[
    [str, Tensor, Tensor, Tensor | None, Params, bool, Tensor | None, Masks | None],
    tuple[Tensor, Tensor, Tensor | None],
]


def run_directions(
    layer: nn.RNNBase,
    x: Tensor,  # (T, B, I)
    state: State | None,  # each (D, B, H)
    lengths: Tensor | None,  # (B,) valid steps per sample, or None for all T
    direction_fn: DirectionFn,
    masks: tuple[Masks, ...] | None = None,  # one per direction
) -> tuple[Tensor, State]:
    """Run both directions of a layer with ``direction_fn`` and pack outputs and states as nn.LSTM does; a
    DropConnect mask is applied to W_hh here, for every engine alike (autograd takes the gradient through it)."""
    cell = cell_of(layer)
    if state is None:
        state = zero_state(layer, x)
    h0, c0 = state if isinstance(state, tuple) else (state, None)
    outs: list[Tensor] = []
    hs: list[Tensor] = []
    cs: list[Tensor] = []  # LSTM only: the other cells have no c
    for d in range(2 if layer.bidirectional else 1):
        m = masks[d] if masks else None
        p = layer_params(layer, d)
        if m is not None and m.weight is not None:
            p = p._replace(w_hh=p.w_hh * m.weight)
        out, h, c = direction_fn(cell, x, h0[d], None if c0 is None else c0[d], p, d == 1, lengths, m)
        outs.append(out)
        hs.append(h)
        if c is not None:
            cs.append(c)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    h_n = torch.stack(hs)
    return out, ((h_n, torch.stack(cs)) if cell == "lstm" else h_n)


def valid_steps(lengths: Tensor | None, x: Tensor) -> Tensor | None:
    """(T, B, 1), 1.0 where step t is valid for sample b (t < lengths[b]); None when every sequence is full."""
    if lengths is None:
        return None
    steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
    return (steps < lengths.to(x.device).unsqueeze(0)).to(x.dtype).unsqueeze(2)


def keep_share(valid: Tensor | None, keep: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """(T, B, 1 or H): the share of its previous state a step keeps, zoneout's ``keep`` and the padding in one: a
    padded step keeps all of it (1), a valid one what zoneout says (0 without)."""
    if keep is None:
        return None if valid is None else 1 - valid
    keep = keep.to(dtype)
    return keep if valid is None else 1 - valid * (1 - keep)


def step_mask(lengths: Tensor | None, t: int) -> Tensor | None:
    """(B, 1) bool: which samples still have a valid step at time t; None when every sequence is full length."""
    return None if lengths is None else (t < lengths).unsqueeze(1)


def input_product(x: Tensor, w_ih: Tensor, bias: Tensor) -> Tensor:
    """x W_ih^T + bias for every step at once: one matmul (T*B, I) x (I, G*H), as every engine begins."""
    T, B, _ = x.shape
    return torch.addmm(bias, x.reshape(T * B, -1), w_ih.t()).view(T, B, -1)  # (T, B, G*H)


def param_grads(
    need_dx: bool, dpre: Tensor, dpre_hh: Tensor, x: Tensor, h_in: Tensor, w_ih: Tensor
) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
    """dx (None unless ``need_dx``), dW_ih, dW_hh, db_ih, db_hh from the per-step pre-activation gradients, one matmul
    each; ``h_in`` (T, B, H) is the state each step fed to W_hh."""
    T, B, GH = dpre.shape
    flat = dpre.reshape(T * B, GH)
    flat_hh = flat if dpre_hh is dpre else dpre_hh.reshape(T * B, GH)
    dx = (flat @ w_ih).view(T, B, -1) if need_dx else None
    dw_ih = flat.t() @ x.reshape(T * B, -1)
    dw_hh = flat_hh.t() @ h_in.reshape(T * B, -1)
    return dx, dw_ih, dw_hh, flat.sum(0), flat_hh.sum(0)


def autocast_on(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 took no device type
        return torch.is_autocast_enabled() if device_type == "cuda" else torch.is_autocast_cpu_enabled()
