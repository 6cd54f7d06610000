"""compare-cells: one model, every engine swapped in turn (nothing copied), against the float64 reference.

For each engine and layout: the max |difference| of outputs/states and of all gradients against the ``unrolled``
engine run in float64 on the same parameters, the median forward and forward+backward times, the ratio to
``cudnn``, and peak memory (CUDA: max_memory_allocated; CPU: bytes autograd saves for backward).
Legend: T time steps, B batch, I input features, H hidden units.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.cells import ENGINES, available_engines
from rnnlab.config.commands import CompareConfig
from rnnlab.data import layout_shape
from rnnlab.model.classifier import SequenceClassifier, build_model

REFERENCE = "unrolled"
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


class Traced(nn.Module):
    """Lets functional_call return the whole trace, not only the logits."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.m = model

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Any, ...]:
        return tuple(self.m.trace(x, lengths))


def _flat_states(states: list[Any]) -> Tensor:
    parts = [t for s in states for t in (s if isinstance(s, tuple) else (s,))]
    return torch.cat([p.reshape(-1) for p in parts])


def engine_results(
    model: SequenceClassifier, engine: str, x: Tensor, dtype: torch.dtype, lengths: Tensor | None = None
) -> dict[str, Tensor]:
    """Outputs, final states and the gradients of x and every parameter, with ``engine`` and the model's own
    parameters viewed in ``dtype`` (no copy when the dtype already matches)."""
    params = {f"m.{k}": p.detach().to(dtype).requires_grad_() for k, p in model.named_parameters()}
    xin = x.detach().to(dtype).requires_grad_()
    previous, model.engine = model.engine, engine
    try:
        logits, outputs, states = torch.func.functional_call(Traced(model), params, (xin, lengths))
    finally:
        model.engine = previous
    flat = _flat_states(states)
    g = torch.Generator().manual_seed(0)  # fixed random weights: every output and state shapes the gradient
    weights = [torch.randn(t.shape, generator=g, dtype=torch.float64).to(t) for t in (logits, outputs, flat)]
    loss = sum((t * w).sum() for t, w in zip((logits, outputs, flat), weights))
    grads = torch.autograd.grad(loss, [xin, *params.values()])
    result = {"output": outputs.detach(), "state": flat.detach(), "grad:x": grads[0]}
    result.update({f"grad:{k[2:]}": gr for k, gr in zip(params, grads[1:])})
    return result


def max_abs_diffs(got: dict[str, Tensor], ref: dict[str, Tensor]) -> tuple[float, float]:
    """(max |diff| over outputs and states, max |diff| over all gradients)."""

    def worst(prefix: bool) -> float:
        keys = [k for k in ref if k.startswith("grad:") == prefix]
        return max((got[k].double() - ref[k].double()).abs().max().item() for k in keys)

    return worst(False), worst(True)


def in_turns(
    fns: dict[str, Callable[[], Any]], device: torch.device, warmup: int, repeats: int, times: dict[str, list[float]]
) -> None:
    """Each fn's ``repeats`` times in ms into ``times``, the fns taking turns (every repeat of every fn interleaved),
    so that a slow spell of a shared machine lands on all of them rather than on one engine's block of repeats.
    Stopped (Ctrl-C), ``times`` holds the repeats done."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times.update({name: [] for name in fns})
    for _ in range(repeats):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3)


def saved_for_backward_bytes(fn: Callable[[], Tensor], exclude: list[Tensor]) -> int:
    """Bytes of the distinct storages autograd keeps for backward, leaving out parameters and the input."""
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip and ptr not in seen:
            seen.add(ptr)
            sizes.append(t.untyped_storage().nbytes())
        return t

    sizes: list[int] = []
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn().backward()
    return sum(sizes)


def measure(cfg: CompareConfig, progress: Callable[[str], None] = lambda msg: None) -> Iterator[dict[str, Any]]:
    """One row per engine and layout: each engine checked against float64, then all of a layout's engines timed in
    turns (a stopped comparison keeps the rows of the layouts it finished)."""
    device = torch.device(cfg.device)
    dtype = TORCH_DTYPES[cfg.dtype]
    names = list(cfg.engines or default_engines(device))
    reasons = available_engines(device)
    for layout in cfg.layouts:
        # One model per layout, shared by all engines; dropout off, so every engine computes the same function.
        # With recurrent regularisers, in training mode with its masks fixed by the seed: the same for every engine.
        model = build_model(cfg.model, layout=layout, seed=cfg.seed).to(device).train(bool(cfg.model.regularisers))
        model.mask_seed = cfg.seed if cfg.model.regularisers else None
        g = torch.Generator().manual_seed(cfg.seed + 1)
        x = torch.randn(layout_shape(cfg.batch_size, cfg.seq, cfg.model.input_size, layout), generator=g).to(device)
        ref = engine_results(model, REFERENCE, x, torch.float64) if any(reasons[n] is None for n in names) else {}
        model.to(dtype)
        runs = []
        for name in names:
            cells, computes = ENGINES[name].cells, ENGINES[name].regularisers
            missing = [r for r in cfg.model.regularisers if r not in computes]
            if reasons[name] is None and cfg.model.cell not in cells:
                reasons[name] = f"implements {', '.join(cells)}, not {cfg.model.cell}"
            elif reasons[name] is None and missing:
                reasons[name] = f"does not compute --{', --'.join(missing)}"
            if reasons[name] is not None:
                yield {"engine": name, "layout": layout, "status": f"unavailable: {reasons[name]}"}
                continue
            progress(f"{name} / {layout}: against float64")
            runs.append(_EngineRun(name, model, x, dtype, max_abs_diffs(engine_results(model, name, x, dtype), ref)))
        if runs:
            progress(f"{', '.join(r.name for r in runs)} / {layout}: timed in turns")
            fns = {f"{r.name} {kind}": fn for r in runs for kind, fn in (("fwd", r.fwd), ("fwdbwd", r.fwdbwd))}
            times: dict[str, list[float]] = {}
            try:
                in_turns(fns, device, cfg.warmup, cfg.repeats, times)
            except KeyboardInterrupt:  # the engines timed at least once are kept, with the repeats they have
                for r in runs:
                    if times.get(f"{r.name} fwd") and times.get(f"{r.name} fwdbwd"):
                        yield r.row(cfg, times[f"{r.name} fwd"], times[f"{r.name} fwdbwd"], device)
                raise
            for r in runs:
                yield r.row(cfg, times[f"{r.name} fwd"], times[f"{r.name} fwdbwd"], device)
        model.to(torch.float32)


def default_engines(device: torch.device) -> list[str]:
    """Every registered engine that runs compiled on ``device``: an interpreted one takes minutes, so it is named."""
    return [name for name, engine in ENGINES.items() if not engine.interpreted(device)]


class _EngineRun:
    """One engine on the layout's shared model: its forward and forward+backward calls, each setting the engine
    first (the engines take turns on one model), and its differences against float64."""

    def __init__(
        self, name: str, model: SequenceClassifier, x: Tensor, dtype: torch.dtype, diffs: tuple[float, float]
    ) -> None:
        self.name, self.model, self.dtype, self.diffs = name, model, dtype, diffs
        self.xd = x.to(dtype)
        self.xg = self.xd.clone().requires_grad_()

    def fwd(self) -> None:
        self.model.engine = self.name
        with torch.no_grad():
            self.model(self.xd)

    def loss(self) -> Tensor:
        self.model.engine = self.name
        return self.model(self.xg).float().square().mean()

    def fwdbwd(self) -> None:
        self.model.zero_grad(set_to_none=True)
        self.loss().backward()

    def row(self, cfg: CompareConfig, fwd: list[float], fwdbwd: list[float], device: torch.device) -> dict[str, Any]:
        model = self.model
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            self.fwdbwd()
            peak, kind = torch.cuda.max_memory_allocated(device), "cuda max_memory_allocated"
        else:
            peak = saved_for_backward_bytes(self.loss, [self.xg, *model.parameters()])
            kind = "bytes saved for backward"
        engine, sizes = ENGINES[self.name], sorted(set(model.cfg.hidden_sizes))
        found = {engine.variant(model.cfg.cell, cfg.batch_size, h, self.dtype, device) for h in sizes}
        variants = {v for v in found if v is not None}
        return {
            "engine": self.name,
            "layout": model.layout,
            "status": "ok",
            "variant": "; ".join(sorted(variants)) or None,
            "max_abs_diff_output": self.diffs[0],
            "max_abs_diff_grad": self.diffs[1],
            "fwd_ms": statistics.median(fwd),
            "fwdbwd_ms": statistics.median(fwdbwd),
            "fwd_ms_spread": [min(fwd), max(fwd)],  # over the repeats, taken in turns with the other engines
            "fwdbwd_ms_spread": [min(fwdbwd), max(fwdbwd)],
            "repeats": len(fwdbwd),
            "peak_memory_bytes": peak,
            "memory_kind": kind,
        }


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each measured row's forward+backward time over cudnn's in the same layout (None where cudnn has none)."""
    for row in rows:
        base = next(
            (r for r in rows if r["engine"] == "cudnn" and r["layout"] == row["layout"] and r["status"] == "ok"), None
        )
        if row["status"] == "ok":
            row["ratio_to_cudnn"] = row["fwdbwd_ms"] / base["fwdbwd_ms"] if base else None
    return rows


def compare_cells(cfg: CompareConfig, progress: Callable[[str], None] = lambda msg: None) -> list[dict[str, Any]]:
    return with_ratios(list(measure(cfg, progress)))
