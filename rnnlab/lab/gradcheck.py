"""`rnnlab gradcheck`: the hand-written backward of ``bptt`` against autograd, in float64.

Two checks per cell, on small random shapes (2 layers, bidirectional, both layouts): torch.autograd.gradcheck
of the whole model under ``bptt`` (finite differences), and seed 003's table: per parameter, the max
difference between the hand-written gradient and autograd's gradient of the ``unrolled`` engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnlab.config import ModelConfig
from rnnlab.data import layout_shape
from rnnlab.lab.compare_cells import Traced, engine_results
from rnnlab.model.classifier import build_model

TOLERANCE = 1e-10  # float64: hand-written and autograd gradients agree to rounding


@dataclass(frozen=True)
class GradcheckRow:
    cell: str
    layout: str
    name: str  # a parameter, "x" (the input), or "gradcheck" (finite differences)
    max_abs_diff: float
    ok: bool


def _model(cell: str, layout: str) -> torch.nn.Module:
    cfg = ModelConfig(
        cell=cell, input_size=3, hidden=(3, 2), layers=2, dropout=0.0, bidirectional=True, readout="state"
    )
    return build_model(cfg, engine="bptt", layout=layout, seed=0).double()


def finite_difference_check(cell: str, layout: str, seq: int = 4, batch: int = 2) -> bool:
    model = _model(cell, layout)
    g = torch.Generator().manual_seed(1)
    shape = layout_shape(batch, seq, 3, layout)
    x = torch.randn(shape, dtype=torch.float64, generator=g, requires_grad=True)
    names = [f"m.{k}" for k, _ in model.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    traced = Traced(model)

    def f(x: torch.Tensor, *ps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, outputs, states = torch.func.functional_call(traced, dict(zip(names, ps)), (x,))
        return logits, outputs, *[t for s in states for t in (s if isinstance(s, tuple) else (s,))]

    return torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False)


def gradient_table(cell: str, layout: str, seq: int = 5, batch: int = 3) -> list[GradcheckRow]:
    model = _model(cell, layout)
    shape = layout_shape(batch, seq, 3, layout)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    hand = engine_results(model, "bptt", x, torch.float64)
    auto = engine_results(model, "unrolled", x, torch.float64)
    rows = []
    for key in (k for k in auto if k.startswith("grad:")):
        diff = (hand[key] - auto[key]).abs().max().item()
        rows.append(GradcheckRow(cell, layout, key[5:], diff, diff <= TOLERANCE))
    return rows


def run_gradcheck(
    cells: tuple[str, ...] = ("lstm", "gru", "rnn"), layouts: tuple[str, ...] = ("batch", "time")
) -> list[GradcheckRow]:
    rows: list[GradcheckRow] = []
    for cell in cells:
        for layout in layouts:
            ok = finite_difference_check(cell, layout)
            rows.append(GradcheckRow(cell, layout, "gradcheck", float("nan"), ok))
            rows.extend(gradient_table(cell, layout))
    return rows
