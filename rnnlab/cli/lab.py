"""The laboratory commands: compare-cells and gradcheck (registered on the app in cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rnnlab.cli import app
from rnnlab.cli import options as opt
from rnnlab.cli.tables import console
from rnnlab.errors import UserError


@app.command("compare-cells")
def compare_cells(
    cell: opt.Cell = "lstm",
    layers: opt.Layers = 1,
    hidden: opt.Hidden = "128",
    bidirectional: opt.Bidirectional = False,
    input_size: Annotated[int, typer.Option(help="Features per time step I.")] = 28,
    seq: Annotated[int, typer.Option(help="Time steps T.")] = 28,
    batch: Annotated[int, typer.Option(help="Batch size B.")] = 128,
    layout: Annotated[str, typer.Option(help="batch, time or both.")] = "both",
    device: opt.Device = "auto",
    dtype: Annotated[str, typer.Option(help="float32, float64 or bfloat16.")] = "float32",
    engines: Annotated[
        str | None, typer.Option(help="Comma-separated engines \\[default: every registered engine].")
    ] = None,
    repeats: Annotated[int, typer.Option(help="Timed repetitions per measurement (the median is reported).")] = 10,
    reuse_cpu_memory: opt.ReuseCpuMemory = True,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the rows to this JSON file.")] = None,
) -> None:
    """Run one model under every engine: differences against the float64 reference, speed and memory."""
    from rnnlab.cli.tables import compare_table
    from rnnlab.config import ModelConfig, parse_sizes
    from rnnlab.lab.compare_cells import CompareConfig
    from rnnlab.lab.compare_cells import compare_cells as run_compare
    from rnnlab.train.cpu_memory import keep_freed_memory_on
    from rnnlab.train.device import resolve_device

    if layout not in ("batch", "time", "both"):
        raise UserError(f"--layout: unknown layout {layout!r}; choose batch, time or both")
    model = ModelConfig(
        cell=cell,
        input_size=input_size,
        hidden=parse_sizes(hidden),
        layers=layers,
        dropout=0.0,
        bidirectional=bidirectional,
    )
    names = tuple(e.strip() for e in engines.split(",") if e.strip()) if engines else ()
    dev = resolve_device(device)
    kept = keep_freed_memory_on(dev.type, reuse_cpu_memory)
    cfg = CompareConfig(
        model,
        seq=seq,
        batch=batch,
        layouts=("batch", "time") if layout == "both" else (layout,),
        device=str(dev),
        dtype=dtype,
        engines=names,
        repeats=repeats,
    )
    with console.status("measuring") as status:
        rows = run_compare(cfg, lambda msg: status.update(f"measuring {msg}"))
    title = (
        f"{cell} L={layers} H={hidden}{' bidirectional' if bidirectional else ''} "
        f"B={batch} T={seq} I={input_size} {dtype} on {dev}{', freed memory kept' if kept else ''}"
    )
    console.print(compare_table(rows, title))
    if json_path is not None:
        from rnnlab.runs.files import atomic_write_text

        atomic_write_text(json_path, json.dumps(rows, indent=2) + "\n")
        console.print(f"wrote {json_path}")


@app.command()
def gradcheck() -> None:
    """Check bptt's hand-written backward in float64: gradcheck, and per-parameter differences to autograd.

    Exit code 1 if any check fails.
    """
    from rnnlab.cli.tables import gradcheck_table
    from rnnlab.lab.gradcheck import TOLERANCE, run_gradcheck

    with console.status("checking gradients in float64"):
        rows = run_gradcheck()
    console.print(gradcheck_table(rows))
    failed = [r for r in rows if not r.ok]
    console.print(f"{len(rows) - len(failed)} of {len(rows)} checks passed (tolerance {TOLERANCE:g} on differences)")
    if failed:
        raise typer.Exit(1)
