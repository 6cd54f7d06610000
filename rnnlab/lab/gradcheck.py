"""`rnnlab gradcheck`: an engine's gradients in float64, against finite differences and against autograd.

Two checks per cell and layout, on a small random model (by default 2 bidirectional layers of sizes 3 and 2):
torch.autograd.gradcheck of the whole model under the engine (finite differences), and per parameter the max
difference between the engine's gradient and autograd's gradient of the ``unrolled`` engine (the reference).
For ``bptt`` that checks the backward written by hand; for ``triton``, its backward kernels. Each check runs
plain and again with every recurrent regulariser the engine computes on (zoneout, recurrent dropout, DropConnect:
the model in training mode, its masks fixed by a seed, the same for the engine and for autograd).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from rnnlab.cells import ENGINES
from rnnlab.config.commands import GradcheckConfig
from rnnlab.data import layout_shape
from rnnlab.lab.compare_cells import Traced, engine_results
from rnnlab.model.classifier import SequenceClassifier, build_model

TOLERANCE = 1e-10  # float64: an engine's gradients and autograd's agree to rounding


@dataclass(frozen=True)
class GradcheckRow:
    cell: str
    layout: str
    name: str  # a parameter, "x" (the input), or "gradcheck" (finite differences)
    max_abs_diff: float | None  # None on the finite-difference row, which has no one difference
    ok: bool
    regularisers: str = "none"  # the recurrent regularisers on, by their flags


# the rates each regulariser is checked at: large enough that every mask drops or keeps a good share
RATES: dict[str, dict[str, Any]] = {
    "zoneout": {"zoneout": 0.3, "zoneout_cell": 0.4},
    "recurrent-dropout": {"recurrent_dropout": 0.4},
    "weight-drop": {"weight_drop": 0.3},
}


def _model(cfg: GradcheckConfig, cell: str, layout: str, regularisers: tuple[str, ...] = ()) -> SequenceClassifier:
    rates = {k: v for r in regularisers for k, v in RATES[r].items() if k != "zoneout_cell" or cell == "lstm"}
    model = build_model(replace(cfg.model, cell=cell, **rates), engine=cfg.engine, layout=layout, seed=0).double()
    if regularisers:  # training mode, so the masks are drawn; the same ones on every call
        model.train()
        model.mask_seed = 3
    return model


def finite_difference_check(cfg: GradcheckConfig, cell: str, layout: str, regularisers: tuple[str, ...] = ()) -> bool:
    model = _model(cfg, cell, layout, regularisers)
    g = torch.Generator().manual_seed(1)
    shape = layout_shape(cfg.batch_size, cfg.seq, cfg.model.input_size, layout)
    x = torch.randn(shape, dtype=torch.float64, generator=g, requires_grad=True)
    names = [f"m.{k}" for k, _ in model.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    traced = Traced(model)

    def f(x: torch.Tensor, *ps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, outputs, states = torch.func.functional_call(traced, dict(zip(names, ps)), (x,))
        return logits, outputs, *[t for s in states for t in (s if isinstance(s, tuple) else (s,))]

    return torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5, raise_exception=False)


def gradient_table(
    cfg: GradcheckConfig, cell: str, layout: str, regularisers: tuple[str, ...] = ()
) -> list[GradcheckRow]:
    model = _model(cfg, cell, layout, regularisers)
    shape = layout_shape(cfg.batch_size, cfg.seq, cfg.model.input_size, layout)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = engine_results(model, cfg.engine, x, torch.float64)
    auto = engine_results(model, "unrolled", x, torch.float64)
    rows = []
    for key in (k for k in auto if k.startswith("grad:")):
        diff = (got[key] - auto[key]).abs().max().item()
        rows.append(GradcheckRow(cell, layout, key[5:], diff, diff <= TOLERANCE, _named(regularisers)))
    return rows


def _named(regularisers: tuple[str, ...]) -> str:
    return ", ".join(regularisers) or "none"


def cells_of(cfg: GradcheckConfig) -> tuple[str, ...]:
    """The cells asked for, else every cell the engine implements."""
    return cfg.cells or ENGINES[cfg.engine].cells


def run_gradcheck(cfg: GradcheckConfig = GradcheckConfig()) -> list[GradcheckRow]:
    rows: list[GradcheckRow] = []
    for cell in cells_of(cfg):
        for regularisers in ((), ENGINES[cfg.engine].regularisers):
            for layout in cfg.layouts:
                ok = finite_difference_check(cfg, cell, layout, regularisers)
                rows.append(GradcheckRow(cell, layout, "gradcheck", None, ok, _named(regularisers)))
                rows.extend(gradient_table(cfg, cell, layout, regularisers))
    return rows
