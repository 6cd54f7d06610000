"""The looking-inside commands: visualize and inspect (registered on the app in cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnlab.cli import app
from rnnlab.cli import options as opt
from rnnlab.cli.tables import console
from rnnlab.errors import UserError


@app.command()
def visualize(
    run: Annotated[str, typer.Argument(help="A run folder (its best.pt, else checkpoint.pt) or a checkpoint file.")],
    index: Annotated[int | None, typer.Option(help="Sample of the split \\[default: 0, or the first --digit].")] = None,
    digit: Annotated[int | None, typer.Option(help="Show the first sample of this class.")] = None,
    split: Annotated[str, typer.Option(help="test or train.")] = "test",
    out: Annotated[Path | None, typer.Option(help="Folder for the PNGs \\[default: RUN/figures].")] = None,
    engine: Annotated[str | None, typer.Option(help="Engine to run the model with \\[default: its own].")] = None,
    data_dir: opt.DataDir = None,
) -> None:
    """Draw how the net reads one digit: the image, class probabilities after each step, hidden (and cell)
    states, training curves and the test confusion matrix. Prints the paths it wrote."""
    from rnnlab.cli.tables import step_table
    from rnnlab.look.visualize import visualize_run

    if split not in ("test", "train"):
        raise UserError(f"--split: unknown split {split!r}; choose test or train")
    with console.status("computing and drawing"):
        picture = visualize_run(run, out, index, digit, split, engine, data_dir)
    console.print(step_table(picture.probs, picture.label, f"{split} sample {picture.index}", picture.step_note))
    for path in picture.paths:
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command("compare-runs")
def compare_runs(
    runs: Annotated[list[Path], typer.Argument(help="Run folders written by `rnnlab train` (finished or not).")],
    out: Annotated[Path, typer.Option(help="The PNG to write (replaced if it exists).")] = Path("runs-compared.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list instead of the table.")] = False,
) -> None:
    """Compare runs: validation accuracy per epoch and training loss on shared axes, and a table of best, last
    and test accuracy; each run is labelled by the flags in which it differs from the others."""
    import json

    from rnnlab.cli.tables import runs_table
    from rnnlab.lab.compare_runs import load_runs
    from rnnlab.look import figures as viz
    from rnnlab.runs.folder import check_writable

    if out.suffix.lower() != ".png":
        raise UserError(f"--out: {out} must name a .png file")
    if out.is_dir():
        raise UserError(f"--out: {out} is a folder; name a .png file in it")
    summaries = load_runs(runs)
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    viz.runs_compared([(r.label, r.records) for r in summaries], out)
    rows = [r.to_dict() for r in summaries]
    if as_json:
        print(json.dumps(rows))
    else:
        console.print(runs_table(rows))
        console.print(str(out), highlight=False, soft_wrap=True)


@app.command()
def inspect(
    run: Annotated[str | None, typer.Argument(help="A run folder or checkpoint; else the model options below.")] = None,
    batch_size: opt.BatchSize = 128,
    cell: opt.Cell = "lstm",
    layers: opt.Layers = 2,
    hidden: opt.Hidden = "256",
    dropout: opt.Dropout = 0.5,
    bidirectional: opt.Bidirectional = False,
    proj: opt.Proj = 0,
    readout: opt.Readout = "last",
    dataset: opt.Dataset = "mnist",
    sequence: opt.Sequence = "rows",
    layout: opt.Layout = "batch",
) -> None:
    """Print the path a batch takes through the model, every tensor's shape, and every parameter."""
    from rnnlab.cli.tables import parameter_table, shape_table
    from rnnlab.config import DataConfig
    from rnnlab.data import sequence_shape
    from rnnlab.look.probe import shape_walk
    from rnnlab.model.classifier import build_model

    if batch_size <= 0:
        raise UserError(f"--batch-size: must be > 0, got {batch_size}")
    if run is not None:
        from rnnlab.runs.checkpoint import config_of, load_checkpoint

        cfg = config_of(load_checkpoint(run))
        model_cfg, data_cfg = cfg.model, cfg.data
    else:
        data_cfg = DataConfig(dataset=dataset, sequence=sequence, layout=layout)
        model_cfg = opt.model_config(
            cell=cell,
            layers=layers,
            hidden=hidden,
            dropout=dropout,
            bidirectional=bidirectional,
            proj=proj,
            readout=readout,
            forget_bias=1.0,
            data=data_cfg,
        )
    T, _ = sequence_shape(data_cfg.dataset, data_cfg.sequence)
    model = build_model(model_cfg, layout=data_cfg.layout, seed=0)
    console.print(
        shape_table(shape_walk(model, batch_size, T), f"{data_cfg.dataset} {data_cfg.sequence}, B={batch_size}")
    )
    console.print(parameter_table(model))
