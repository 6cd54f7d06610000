"""The recurrent regularisers' masks, drawn here once per forward pass, outside the engine, so that every engine
computes with the same ones (cells.common.Masks says what each holds).

zoneout (Krueger et al. 2017): in training a fresh 0/1 draw per step and unit, 1 with the rate (the unit keeps its
previous state); at evaluation the rate itself, the draw's expectation. recurrent dropout (Gal & Ghahramani 2016):
one mask per sequence on the state W_hh reads, the same at every step. DropConnect (Merity et al. 2018): one mask
on W_hh per batch. Both scale what they keep by 1/(1-p) and do nothing at evaluation. Each layer and direction
draws its own masks.
Legend: T time steps, B batch, H hidden units, G gates.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.cells.common import Masks
from rnnlab.config import ModelConfig


def layer_masks(
    cfg: ModelConfig,
    rnn: nn.RNNBase,
    x: Tensor,  # (T, B, ...): the layer's input, whose steps, batch, device and dtype the masks follow
    training: bool,
    generator: torch.Generator | None = None,  # a CPU generator: the same masks on every call that passes one
) -> tuple[Masks, ...] | None:
    """One Masks per direction of ``rnn``, or None where nothing is on in this mode."""
    T, B, H = x.shape[0], x.shape[1], rnn.hidden_size
    zone_h, zone_c = cfg.zoneout, cfg.zoneout_cell if isinstance(rnn, nn.LSTM) else 0.0
    if not (zone_h or zone_c or (training and (cfg.recurrent_dropout or cfg.weight_drop))):
        return None

    def draw(*shape: int) -> Tensor:
        if generator is None:
            return torch.rand(shape, device=x.device)
        return torch.rand(shape, generator=generator).to(x.device)

    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32  # bf16 would round 1/(1-p)

    def keep(rate: float) -> Tensor | None:
        if not rate:
            return None
        if training:
            return (draw(T, B, H) < rate).to(dtype)
        return torch.full((1, 1, 1), rate, dtype=dtype, device=x.device).expand(T, B, H)

    def dropped(p: float, *shape: int) -> Tensor | None:
        return (draw(*shape) >= p).to(dtype) / (1 - p) if training and p else None

    rows = 4 * H if isinstance(rnn, nn.LSTM) else (3 * H if isinstance(rnn, nn.GRU) else H)  # G*H: W_hh's rows
    directions = 2 if rnn.bidirectional else 1
    return tuple(
        Masks(keep(zone_h), keep(zone_c), dropped(cfg.recurrent_dropout, B, H), dropped(cfg.weight_drop, rows, H))
        for _ in range(directions)
    )
