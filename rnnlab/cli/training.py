"""The run commands: train a model into a run folder, and evaluate it."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from rnnlab import look, runs, runtime, train
from rnnlab.cli.options import Default, Flags, Json, Run, takes
from rnnlab.cli.progress import RichReporter
from rnnlab.cli.run_tables import run_list_table
from rnnlab.cli.tables import console, error_line, eval_table, results_table
from rnnlab.config import (
    DataConfig,
    ModelConfig,
    RunConfig,
    RuntimeConfig,
    TrainConfig,
    flag_for,
    flagged_fields,
    model_for,
)
from rnnlab.config.commands import EvalConfig, OnARun
from rnnlab.config.flags import OUTPUT, TRAINING
from rnnlab.config.run import DATASET_DEFAULTS, SECTIONS
from rnnlab.errors import UserError, flag_name
from rnnlab.text import json_text, visible

RESUMABLE = [flag_name(f.name) for c in SECTIONS.values() for f in flagged_fields(c) if flag_for(f).resumable]


def _dataset_defaults() -> dict[str, Default]:
    """Each field some dataset sets its own default for, shown in --help as `5; digits: 30`."""
    shown: dict[str, Default] = {}
    for dataset, values in DATASET_DEFAULTS.items():
        for name, value in values.items():
            cls = next(c for c in SECTIONS.values() if name in {f.name for f in dataclasses.fields(c)})
            field = next(f for f in dataclasses.fields(cls) if f.name == name)
            flag = flag_for(field)
            text = (flag.show or str)(value)
            base = shown[name].shown if name in shown else (flag.show or str)(field.default)
            shown[name] = Default(field.default, f"{base}; {dataset}: {text}")
    return shown


def _resumed_config(flags: Flags, run: Path, out: Path | None, force: bool) -> RunConfig:
    """The run's own config, with the flags a run in progress can take applied; any other flag is refused."""
    fields = {f.name: f for cls in SECTIONS.values() for f in dataclasses.fields(cls)}
    refused = [flag_name(n) for n in flags.values if n in flags.given and not flag_for(fields[n]).resumable]
    refused += [flag for flag, given in (("--out", out is not None), ("--force", force)) if given]
    if refused:
        raise UserError(
            f"--resume: {', '.join(refused)} cannot be given with --resume (the run keeps its own settings); "
            f"a resume takes only {', '.join(RESUMABLE)}"
        )
    cfg = runs.config_file.read_config(run, "--resume")
    parts = {
        section: replace(getattr(cfg, section), **flags.of(cls, typed_only=True)) for section, cls in SECTIONS.items()
    }
    return RunConfig(**parts)


@takes(ModelConfig, DataConfig, TrainConfig, RuntimeConfig, defaults=_dataset_defaults())
def train_command(
    flags: Flags,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder \\[default: runs/<timestamp>].", rich_help_panel=OUTPUT, metavar="DIR"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace the run already in --out (only once the new run has taken its first step).",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its checkpoint.pt, with its own settings; only "
            f"{', '.join(RESUMABLE)} may be given with it.",
            rich_help_panel=OUTPUT,
            metavar="RUN",
        ),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(min=1, help="Launch N processes with torchrun on this machine (DDP).", rich_help_panel=TRAINING),
    ] = 1,
) -> None:
    """Train a classifier and write a run folder: config.json, metrics.jsonl, checkpoint.pt, best.pt.

    With no flags: a 2-layer LSTM-256 (dropout 0.5, Adam 1e-3, batch 128) reading MNIST row by row, the model of
    the classic TensorFlow MNIST RNN tutorial (98.58% there after 2000 steps). Ctrl-C stops after the current step
    with a checkpoint (a second Ctrl-C stops at once); `--resume RUN` continues exactly where it stopped.
    """
    if nproc > 1 and not runtime.distributed.launched_by_torchrun():
        chosen = None if out is not None or resume is not None else runs.folder.default_run_dir()
        raise typer.Exit(runtime.distributed.relaunch_with_torchrun(nproc, chosen, sys.argv[1:]))
    is_main = int(os.environ.get("RANK", "0")) == 0
    if resume is not None:
        cfg, run_dir = _resumed_config(flags, resume, out, force), resume
    else:
        data_cfg = DataConfig(**flags.of(DataConfig))
        model_cfg = model_for(data_cfg, **flags.of(ModelConfig))
        cfg = RunConfig(model_cfg, data_cfg, flags.build(TrainConfig), flags.build(RuntimeConfig))
        if out is None and runtime.distributed.launched_by_torchrun():
            raise UserError("--out: name the run folder when launching with torchrun, so every rank agrees on it")
        run_dir = out or runs.folder.default_run_dir()
        if is_main:
            runs.writer.check_new_run(run_dir, force)
    reporter = RichReporter()
    if is_main:
        reporter.doing("loading PyTorch")  # the seconds before anything else can be said
    try:
        result = train.loop.fit(
            cfg,
            run_dir,
            reporter,
            resume=resume is not None,
            command=flags.command,
            force=force,
            epoch_figure=look.epoch.epoch_figure,
        )
    except BaseException:
        reporter.finish()
        runtime.distributed.shutdown(together=False)  # this rank failed: do not wait for the others
        raise
    if is_main:
        console.print(results_table(result))
    runtime.distributed.shutdown()


@takes(
    EvalConfig,
    RuntimeConfig,
    DataConfig,
    only=("split", "batch_size", "engine", "device", "threads", "reuse_cpu_memory", "data_dir", "test_subset"),
    defaults={"engine": Default(None, "the one it trained with")},
)
def eval_command(flags: Flags, run: Run, as_json: Json = False) -> None:
    """Evaluate a trained model: accuracy, loss, per-class accuracy, samples/s and peak memory.

    A run folder means its best.pt (the parameters of its best validation), else its checkpoint.pt (the last);
    the output says which it scored, and at which epoch and step that checkpoint was saved.
    """
    chosen = flags.build(EvalConfig)
    flags.check(RuntimeConfig)  # a bad --device or --engine, before the checkpoint loads
    on = flags.view(OnARun)
    runtime.device.set_threads(on.threads)
    loaded = runs.run.Run.open(
        run,
        on.engine,
        on.device,
        on.data_dir,
        on_device=lambda device: runtime.cpu_memory.keep_freed_memory_on(device.type, on.reuse_cpu_memory),
    )
    result = loaded.evaluate(chosen.split, chosen.batch_size, on.data_dir, on.test_subset)
    plain = None  # a zoneout model is also scored without its evaluation rule, as PyTorch's own layers would
    if "zoneout" in loaded.config.model.regularisers:
        plain = loaded.evaluate(chosen.split, chosen.batch_size, on.data_dir, on.test_subset, plain=True).accuracy
    engine = loaded.model.engine
    if as_json:
        saved = {"which": loaded.which, "epoch": loaded.saved["epoch"], "step": loaded.saved["step"]}
        document = {
            "checkpoint": str(loaded.path),
            **saved,
            "engine": engine,
            "split": chosen.split,
            **result.to_dict(),
            **({} if plain is None else {"accuracy_without_zoneout": plain}),
        }
        print(json_text(document))
    else:
        console.print(eval_table(str(loaded.path), loaded.where, engine, result, plain))


def runs_command(
    folder: Annotated[
        Path,
        typer.Argument(help="A folder of runs (or one run) \\[default: runs].", metavar="DIR", show_default=False),
    ] = Path("runs"),
    as_json: Json = False,
) -> None:
    """List the runs under a folder: status, epochs, best validation, test accuracy, when each started, and the
    flags in which they differ (what every run shares, such as the engine, said once under the table)."""
    if not folder.is_dir():
        raise UserError(f"DIR: {folder} is not a folder; give the folder your runs are in (rnnlab train writes runs/)")
    summaries: list[runs.listing.RunSummary] = []
    unreadable: list[Path] = []
    found = runs.listing.find_runs(folder, unreadable=unreadable)
    for path in unreadable:
        error_line(f"{path}: cannot be looked into; skipped", "warning")
    for path in found:
        try:
            summaries.append(runs.listing.load_run(path))
        except UserError as exc:  # one broken run folder must not hide the others
            error_line(f"{exc}; skipped", "warning")
    for summary in summaries:
        for warning in summary.warnings:
            error_line(warning, "warning")
    rows = [r.to_dict() for r in runs.listing.labelled(summaries)]
    if as_json:
        print(json_text({"folder": str(folder), "runs": rows}))
    elif not rows:
        console.print(f"no runs under {visible(folder)}", highlight=False)
    else:
        console.print(run_list_table(rows, str(folder)))


COMMANDS = {"train": train_command, "eval": eval_command, "runs": runs_command}
