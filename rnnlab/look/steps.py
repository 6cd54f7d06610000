"""Every step of every layer and direction: the states and gate activations that engines compute and throw away.

The layers are stepped with the reference equations through the unrolled engine's own loop (cells.unrolled.walk),
whatever engine the model runs, keeping h (and an LSTM's c) after each step and each gate's activations at each
step. As in nn.LSTM's output, index t is the sequence's position t+1 (steps are counted from 1 in everything
shown); a backward direction reads the sequence from its end, so its state at position t has read steps t+1..T.
The model is traced as in evaluation: no dropout; a zoneout model's steps mix in its share of the previous state,
as its evaluation does (model.regularise).
Legend: B batch, T time steps, I features, H hidden units, D directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab.cells import reference, unrolled
from rnnlab.cells.common import Masks, cell_of, layer_params
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.model.regularise import layer_masks

DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class DirectionSteps:
    """What one direction of one layer did at every step."""

    layer: int  # counted from 1
    direction: str  # forward or backward
    h: Tensor  # (T, B, H): the hidden state after each step
    c: Tensor | None  # (T, B, H): an LSTM's cell state after each step; None for GRU and RNN
    gates: dict[str, Tensor]  # LSTM i, f, g, o; GRU r, z, n (reference.GATES); RNN none: each (T, B, H)


@dataclass(frozen=True)
class StepTrace:
    cell: str  # lstm, gru or rnn
    layers: list[list[DirectionSteps]]  # per layer (from the first), its directions
    outputs: Tensor  # (T, B, D*H): the last layer's outputs, what the readout reads

    def layer(self, k: int) -> list[DirectionSteps]:
        """Layer ``k``, counted from 1, as --layer counts."""
        if not 1 <= k <= len(self.layers):
            raise ValueError(f"layer {k}: the model has layers 1 to {len(self.layers)}")
        return self.layers[k - 1]


@torch.no_grad()
def trace_steps(
    model: SequenceClassifier,
    x: Tensor,  # (B, T, I) if model.layout == "batch" else (T, B, I): as the model's forward takes it
) -> StepTrace:
    """Run ``model`` on full-length sequences step by step, keeping every layer's states and gates."""
    if model.layout == "batch":
        x = x.transpose(0, 1)  # -> (T, B, I)
    if model.proj is not None:
        x = model.proj(x)
    layers: list[list[DirectionSteps]] = []
    for k, rnn in enumerate(model.rnn_layers):
        cell = cell_of(rnn)
        masks = layer_masks(model.cfg, rnn, x, training=False) if model.regularise else None
        directions = [
            _direction(cell, x, rnn, d, k + 1, None if masks is None else masks[d])
            for d in range(2 if rnn.bidirectional else 1)
        ]
        layers.append(directions)
        x = torch.cat([d.h for d in directions], dim=2)  # the next layer's input, as the engines pass it on
    return StepTrace(model.cfg.cell, layers, x)


def _direction(cell: str, x: Tensor, rnn: torch.nn.RNNBase, d: int, layer: int, masks: Masks | None) -> DirectionSteps:
    p = layer_params(rnn, d)
    T, B, H = x.shape[0], x.shape[1], rnn.hidden_size
    xw = torch.nn.functional.linear(x, p.w_ih, p.b_ih)  # (T, B, G*H)
    h0 = x.new_zeros(B, H)
    c0 = x.new_zeros(B, H) if cell == "lstm" else None
    hs, cs = x.new_empty(T, B, H), (x.new_empty(T, B, H) if c0 is not None else None)
    names = reference.GATES[cell]
    gates = x.new_empty(len(names), T, B, H)
    before = h0
    for t, h, c, _ in unrolled.walk(cell, xw, h0, c0, p, reverse=d == 1, lengths=None, masks=masks):
        for g, value in enumerate(unrolled.gates(cell, xw[t], before, p)):
            gates[g, t] = value
        hs[t] = h
        if cs is not None and c is not None:
            cs[t] = c
        before = h
    return DirectionSteps(layer, DIRECTIONS[d], hs, cs, dict(zip(names, gates)))
