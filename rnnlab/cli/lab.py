"""The laboratory commands: compare engines (compare-cells), check gradients (gradcheck), compare runs."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlab import lab, look, runs, runtime
from rnnlab.cli.options import Default, Flags, Json, Verbose, takes
from rnnlab.cli.run_tables import runs_table
from rnnlab.cli.tables import compare_table, console, error_line, gradcheck_summary, gradcheck_table
from rnnlab.config import ModelConfig, RuntimeConfig
from rnnlab.config.commands import CompareConfig, GradcheckConfig, OnADevice
from rnnlab.errors import CTRL_C, Stopped, UserError
from rnnlab.text import json_text, visible

JsonFile = Annotated[
    Path | None, typer.Option("--json-file", help="Also write the JSON object to this file.", metavar="FILE")
]


def _emit(document: dict[str, Any], as_json: bool, json_file: Path | None) -> None:
    if as_json:
        print(json_text(document))
    if json_file is not None:
        json_file.parent.mkdir(parents=True, exist_ok=True)  # checked before measuring (check_file_target)
        runs.files.atomic_write_text(json_file, json_text(document, indent=1) + "\n")
        if not as_json:
            console.print(f"wrote {visible(json_file)}", highlight=False)


@takes(
    ModelConfig,
    CompareConfig,
    RuntimeConfig,
    only=("cell", "layers", "hidden", "bidirectional", "input_size", "zoneout", "zoneout_cell", "recurrent_dropout",
          "weight_drop", "seq", "batch_size", "layout", "dtype", "engines", "repeats", "device", "threads",
          "reuse_cpu_memory"),
    defaults={"layers": Default(1), "hidden": Default((128,))},
)  # fmt: skip
def compare_cells_command(flags: Flags, as_json: Json = False, json_file: JsonFile = None) -> None:
    """Run one model under every engine: differences against the float64 reference, speed and memory.

    Ctrl-C keeps the rows already measured: they are printed (and written where --json-file asks).
    """
    model = ModelConfig(dropout=0.0, **flags.of(ModelConfig))
    flags.check(RuntimeConfig)  # a bad --device
    if json_file is not None:  # before minutes of measuring, not after
        runs.folder.check_file_target(json_file, "--json-file")
    where = flags.view(OnADevice)
    dev = runtime.device.resolve_device(where.device)
    kept = runtime.cpu_memory.keep_freed_memory_on(dev.type, where.reuse_cpu_memory)
    threads = runtime.device.set_threads(where.threads)
    on_cpu = f", {threads} CPU thread{'s' if threads > 1 else ''}" if dev.type == "cpu" else ""
    cfg = CompareConfig(model, device=str(dev), **flags.of(CompareConfig))
    sizes = ",".join(map(str, model.hidden))
    title = (
        f"{model.cell} L={model.layers} H={sizes}{' bidirectional' if model.bidirectional else ''} "
        f"B={cfg.batch_size} T={cfg.seq} I={model.input_size} {cfg.dtype} on {dev}"
        f"{on_cpu}{', freed memory kept' if kept else ''}"
    )
    rows: list[dict[str, Any]] = []
    stopped = False
    try:
        with console.status("measuring", spinner="dots") as status:
            for row in lab.compare_cells.measure(cfg, lambda msg: status.update(f"measuring {msg}")):
                rows.append(row)
    except KeyboardInterrupt:
        stopped = True
    rows = lab.compare_cells.with_ratios(rows)
    if not as_json:
        console.print(compare_table(rows, title))
    _emit({"title": title, "device": str(dev), "stopped": stopped, "rows": rows}, as_json, json_file)
    if stopped:
        raise Stopped(f"{CTRL_C}; the {len(rows)} rows measured before it are kept")


@takes(
    ModelConfig,
    GradcheckConfig,
    only=("cell", "layers", "hidden", "bidirectional", "input_size", "engine", "seq", "batch_size"),
    defaults={
        "cell": Default(None, "every cell the engine implements"),
        "layers": Default(2),
        "hidden": Default((3, 2)),
        "bidirectional": Default(True),
        "input_size": Default(3),
    },
)
def gradcheck_command(flags: Flags, verbose: Verbose = False, as_json: Json = False) -> None:
    """Check an engine's gradients in float64: finite differences, and per parameter the difference to autograd.

    Exit code 1 if any check fails.
    """
    values = flags.of(ModelConfig)
    cell = values.pop("cell")
    cfg = GradcheckConfig(model=ModelConfig(dropout=0.0, readout="state", **values), **flags.of(GradcheckConfig))
    cells = (cell,) if cell else ()
    implemented = lab.gradcheck.cells_of(replace(cfg, cells=()))
    if cell and cell not in implemented:
        raise UserError(f"--cell: --engine {cfg.engine} implements {', '.join(implemented)}; got {cell}")
    cfg = replace(cfg, cells=cells)
    with console.status(f"checking {cfg.engine}'s gradients in float64"):
        rows = lab.gradcheck.run_gradcheck(cfg)
    failed = [r for r in rows if not r.ok]
    if as_json:
        document = {"engine": cfg.engine, "tolerance": lab.gradcheck.TOLERANCE, "rows": [asdict(r) for r in rows]}
        print(json_text(document))
    else:
        console.print(gradcheck_table(rows, cfg.engine) if verbose else gradcheck_summary(rows, cfg.engine))
        console.print(
            f"{len(rows) - len(failed)} of {len(rows)} checks passed "
            f"(tolerance {lab.gradcheck.TOLERANCE:g} on differences)"
        )
        if cfg.engine == "unrolled":  # the reference is what autograd differentiates: only finite differences test it
            console.print(
                "unrolled is the reference: its difference to autograd is 0 by construction (autograd runs through "
                "it); the finite differences are what check it",
                highlight=False,
            )
    if failed:
        raise typer.Exit(1)


def compare_runs_command(
    run_folders: Annotated[
        list[Path], typer.Argument(help="Run folders written by `rnnlab train` (finished or not).", metavar="RUN")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the figure runs-compared.png \\[default: the folder the runs are in].", metavar="DIR"
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Compare runs: validation accuracy per epoch and training loss on shared axes, and a table of best, last
    and test accuracy; each run is labelled by the flags in which it differs from the others.

    The figure is written beside the runs (runs/runs-compared.png for runs/a and runs/b) unless --out names another
    folder; with --json the numbers go to stdout and the figure is drawn only where --out asks for it.
    """
    summaries, left_out = lab.compare_runs.load_runs(run_folders)
    for reason in left_out:
        error_line(reason, "warning")
    for summary in summaries:
        for warning in summary.warnings:
            error_line(warning, "warning")
    for warning in lab.compare_runs.mixed(summaries):
        error_line(warning, "warning")
    figure = None
    if out is not None or not as_json:
        folder = out if out is not None else lab.compare_runs.figure_folder(summaries)
        figure = runs.folder.output_folder(folder) / lab.compare_runs.FIGURE
        look.figures.runs_compared([(r.label, r.records) for r in summaries], figure)
    rows = [r.to_dict() for r in summaries]
    if as_json:
        print(json_text({"runs": rows, "figure": None if figure is None else str(figure)}))
    else:
        console.print(runs_table(rows))
        console.print(f"wrote {visible(figure)}", highlight=False, soft_wrap=True)


COMMANDS = {
    "compare-cells": compare_cells_command,
    "gradcheck": gradcheck_command,
    "compare-runs": compare_runs_command,
}
