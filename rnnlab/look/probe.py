"""What `visualize` and `inspect` show, computed from the model: per-step predictions, states, shapes.

"After step t" means: the prediction the model makes when the sequence ends after step t, i.e. the model run on
the prefix x[:t+1]. For a one-directional model with readout `last` or `state` that is the head applied to
the output at step t (one pass); otherwise (bidirectional, or `mean`) each prefix is run on its own.
Legend: T time steps, I features, H hidden units, D directions, C classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells import get_engine, unrolled
from rnnlab.cells.common import Params, layer_params
from rnnlab.data import batches, layout_shape
from rnnlab.model.classifier import SequenceClassifier


def _batched(model: SequenceClassifier, seq: Tensor) -> Tensor:
    """One sequence (T, I) as a batch of one in the model's layout."""
    return seq.unsqueeze(0) if model.layout == "batch" else seq.unsqueeze(1)


@torch.no_grad()
def step_probabilities(model: SequenceClassifier, seq: Tensor) -> Tensor:  # (T, C)
    model.eval()
    if not model.cfg.bidirectional and model.cfg.readout in ("last", "state"):
        outputs = model.trace(_batched(model, seq)).outputs[:, 0]  # (T, H): the output at t is the state after t
        return torch.softmax(model.head(outputs), dim=-1)
    return torch.cat([torch.softmax(model(_batched(model, seq[: t + 1])), dim=-1) for t in range(seq.shape[0])])


@torch.no_grad()
def last_layer_states(model: SequenceClassifier, seq: Tensor) -> tuple[Tensor, Tensor | None]:
    """Hidden states h_t (T, D*H) of the last layer at every step, and for an LSTM its cell states c_t too.

    The layers below run on the model's engine; the last one is stepped with the reference cells so that every
    intermediate state can be kept (engines return only the outputs and the final state)."""
    model.eval()
    x = seq.unsqueeze(1)  # (T, 1, I)
    if model.proj is not None:
        x = model.proj(x)
    engine = get_engine(model.engine, x.device)
    for rnn in model.rnns[:-1]:
        x, _ = engine.run(rnn, x, None, None)
    last = model.rnns[-1]
    hs, cs = [], []
    for d in range(2 if last.bidirectional else 1):
        h_d, c_d = _step_through(model.cfg.cell, x, layer_params(last, d), reverse=d == 1, hidden=last.hidden_size)
        hs.append(h_d)
        cs.append(c_d)
    return torch.cat(hs, dim=1), (torch.cat(cs, dim=1) if model.cfg.cell == "lstm" else None)


def _step_through(cell: str, x: Tensor, p: Params, reverse: bool, hidden: int) -> tuple[Tensor, Tensor]:
    """The unrolled engine's steps, keeping every state (T, H); c stays zero for GRU and RNN."""
    T = x.shape[0]
    xw = torch.nn.functional.linear(x, p.w_ih, p.b_ih)  # (T, 1, G*H)
    h = x.new_zeros(1, hidden)
    c: Tensor | None = x.new_zeros(1, hidden) if cell == "lstm" else None
    hs, cs = x.new_zeros(T, hidden), x.new_zeros(T, hidden)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        h, c = unrolled.step(cell, xw[t], h, c, p)
        hs[t] = h[0]
        if c is not None:
            cs[t] = c[0]
    return hs, cs


@torch.no_grad()
def confusion_matrix(
    model: SequenceClassifier, x: Tensor, y: Tensor, batch_size: int, num_classes: int, lengths: Tensor | None = None
) -> Tensor:
    """(C, C): row = true class, column = predicted class, over every sample of the split."""
    model.eval()
    device = next(model.parameters()).device
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for xb, yb, lb in batches(x, y, batch_size, model.layout, device=device, lengths=lengths):
        pred = model(xb, lb).argmax(1).cpu()
        matrix += torch.bincount(yb.cpu() * num_classes + pred, minlength=num_classes**2).view(num_classes, num_classes)
    return matrix


@torch.no_grad()
def shape_walk(model: SequenceClassifier, batch_size: int, seq_len: int) -> list[tuple[str, list[tuple[str, tuple]]]]:
    """Every stage of a forward pass on a real batch, with the shape of each tensor it produced."""
    model.eval()
    x = torch.zeros(layout_shape(batch_size, seq_len, model.cfg.input_size, model.layout))
    stages: list[tuple[str, list[tuple[str, tuple]]]] = []

    def watch(stage: str, value: Any) -> None:
        if isinstance(value, tuple):  # (outputs, state)
            out, state = value
            named = [("outputs", out)] + (
                [("h", state[0]), ("c", state[1])] if isinstance(state, tuple) else [("h", state)]
            )
            stages.append((stage, [(n, tuple(t.shape)) for n, t in named]))
        else:
            stages.append((stage, [("", tuple(value.shape))]))

    model.trace(x, watch=watch)
    return stages
