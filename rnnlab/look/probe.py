"""What `visualize`, `predict` and `inspect` show, computed from the model: per-step predictions, shapes.

"After step t" means: the prediction the model makes when the sequence ends after step t, i.e. the model run on
the prefix x[:t+1]. For a one-directional model with readout `last` or `state` that is the head applied to
the output at step t (one pass); otherwise (bidirectional, or `mean`) each prefix is run on its own.
Every step's states and gates are in look.steps. Legend: T time steps, I features, H hidden units, C classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnlab.data import batches, layout_shape
from rnnlab.model.classifier import SequenceClassifier


def batched(model: SequenceClassifier, seq: Tensor) -> Tensor:
    """One sequence (T, I) as a batch of one in the model's layout."""
    return seq.unsqueeze(0) if model.layout == "batch" else seq.unsqueeze(1)


def step_probabilities(model: SequenceClassifier, seq: Tensor) -> Tensor:  # (T, C)
    return step_probabilities_of(model, seq.unsqueeze(0))[0]


@torch.no_grad()
def step_probabilities_of(
    model: SequenceClassifier,
    seqs: Tensor,  # (N, T, I)
) -> Tensor:  # (N, T, C)
    """step_probabilities of N sequences at once: a stack of images is one pass per chunk, not one per image."""
    model.eval()
    x = seqs if model.layout == "batch" else seqs.transpose(0, 1)
    if not model.cfg.bidirectional and model.cfg.readout in ("last", "state"):
        outputs = model.trace(x).outputs  # (T, N, H): the output at t is the state after t
        return torch.softmax(model.head(outputs), dim=-1).transpose(0, 1)
    prefix = (lambda t: x[:, : t + 1]) if model.layout == "batch" else (lambda t: x[: t + 1])
    return torch.stack([torch.softmax(model(prefix(t)), dim=-1) for t in range(seqs.shape[1])], dim=1)


def step_note(bidirectional: bool, readout: str) -> str:
    """What "after step t" means for this model, in one line for a figure or a table."""
    if bidirectional:
        return "bidirectional: 'after step t' = the model run anew on steps 1..t only (both directions see that prefix)"
    if readout == "mean":
        return "readout mean: 'after step t' = the head applied to the mean of the outputs of steps 1..t"
    return "'after step t' = the head applied to the state after reading steps 1..t (one pass)"


def shown_steps(top: list[int], budget: int = 28) -> tuple[list[int], str | None]:
    """Which steps a printed table shows (0-based), and a line saying so when that is not every step.

    A sequence of up to ``budget + 12`` steps shows every step. A longer one (pixel MNIST: 784) shows step 1, every
    k-th step (about ``budget`` rows), the last, and the steps where the top class changes (where there are more
    than ``2 * (budget // 3)``, the first and the last ``budget // 3`` of them)."""
    T = len(top)
    if len(top) <= budget + 12:
        return list(range(T)), None
    k = math.ceil(T / budget)
    changes = [t for t in range(1, T) if top[t] != top[t - 1]]
    few = budget // 3
    kept = changes if len(changes) <= 2 * few else changes[:few] + changes[-few:]
    steps = sorted({0, T - 1, *range(k - 1, T, k), *kept})
    what = {0: "no step where", 1: "the 1 step where"}.get(len(changes), f"the {len(changes)} steps where")
    if len(kept) < len(changes):
        what = f"the first and last {few} of the {len(changes)} steps where"
    return steps, f"{T} steps: shown are step 1, every {ordinal(k)} step and {what} the top class changes"


def ordinal(n: int) -> str:
    """2 -> '2nd', 28 -> '28th', 11 -> '11th'."""
    suffix = "th" if n % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@torch.no_grad()
def confusion_matrix(
    model: SequenceClassifier,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    num_classes: int,
    lengths: Tensor | None = None,
    advance: Callable[[int], None] | None = None,
) -> Tensor:
    """(C, C): row = true class, column = predicted class, over every sample of the split (``advance`` is told
    how many samples each batch held, for a progress bar)."""
    model.eval()
    device = next(model.parameters()).device
    matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for xb, yb, lb in batches(x, y, batch_size, model.layout, device=device, lengths=lengths):
        pred = model(xb, lb).argmax(1).cpu()
        matrix += torch.bincount(yb.cpu() * num_classes + pred, minlength=num_classes**2).view(num_classes, num_classes)
        if advance is not None:
            advance(len(yb))
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
