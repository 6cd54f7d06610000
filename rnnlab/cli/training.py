"""The run commands: train a model into a run folder, evaluate it."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from rnnlab import cells, data, runs, train
from rnnlab.cli.options import Default, Flags, Json, Run, Split, takes
from rnnlab.cli.progress import RichReporter
from rnnlab.cli.tables import console, eval_table, results_table
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig, model_for
from rnnlab.config.flags import OUTPUT, TRAINING
from rnnlab.errors import UserError


@takes(ModelConfig, DataConfig, TrainConfig)
def train_command(
    flags: Flags,
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder \\[default: runs/<timestamp>].", rich_help_panel=OUTPUT, metavar="DIR"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the run already in --out.", rich_help_panel=OUTPUT)
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its checkpoint.pt (its config is reused; "
            "--epochs and --max-steps may extend it).",
            rich_help_panel=OUTPUT,
            metavar="RUN",
        ),
    ] = None,
    nproc: Annotated[
        int, typer.Option(help="Launch N processes with torchrun on this machine (DDP).", rich_help_panel=TRAINING)
    ] = 1,
) -> None:
    """Train a classifier and write a run folder: config.json, metrics.jsonl, checkpoint.pt, best.pt.

    With no flags: a 2-layer LSTM-256 (dropout 0.5, Adam 1e-3, batch 128) reading MNIST row by row, the model of
    the classic TensorFlow MNIST RNN tutorial (98.58% there after 2000 steps).
    """
    if nproc > 1 and not train.distributed.launched_by_torchrun():
        raise typer.Exit(train.distributed.relaunch_with_torchrun(nproc, out, sys.argv[1:]))
    is_main = int(os.environ.get("RANK", "0")) == 0
    if resume is not None:
        cfg = runs.folder.read_config(resume)
        changes = flags.of(TrainConfig, typed_only=True)
        cfg = replace(
            cfg, train=replace(cfg.train, **{k: v for k, v in changes.items() if k in ("epochs", "max_steps")})
        )
        run_dir = resume
        if not (run_dir / "checkpoint.pt").is_file():
            raise UserError(f"--resume: {run_dir} has no checkpoint.pt to continue from")
    else:
        data_cfg = DataConfig(**flags.of(DataConfig))
        cfg = RunConfig(model_for(data_cfg, **flags.of(ModelConfig)), data_cfg, TrainConfig(**flags.of(TrainConfig)))
        if out is None and train.distributed.launched_by_torchrun():
            raise UserError("--out: name the run folder when launching with torchrun, so every rank agrees on it")
        run_dir = out or runs.folder.default_run_dir()
        if is_main:
            runs.folder.prepare_new_run(run_dir, force)
    cells.get_engine(cfg.train.engine, train.device.resolve_device(cfg.train.device))
    sequences = data.load_sequences(cfg.data)  # fails before any file of the run is touched
    if resume is None and is_main:
        runs.folder.clear_run(run_dir)  # fit writes config.json
    result = train.loop.fit(cfg, run_dir, RichReporter(), resume=resume is not None, data=sequences)
    if is_main:
        console.print(
            results_table(str(run_dir), result.steps, result.seconds, result.val, result.test, result.best_val_accuracy)
        )
    train.distributed.shutdown()


@takes(
    TrainConfig,
    DataConfig,
    only=("engine", "device", "reuse_cpu_memory", "data_dir", "test_subset"),
    defaults={"engine": Default(None, "the one it trained with")},
)
def eval_command(
    flags: Flags,
    run: Run,
    batch_size: Annotated[int, typer.Option(help="Samples per batch; 0 = the whole split at once.")] = 1000,
    split: Split = "test",
    as_json: Json = False,
) -> None:
    """Evaluate a trained model: accuracy, loss, per-class accuracy, samples/s and peak memory."""
    if split not in ("test", "val", "train"):
        raise UserError(f"--split: unknown split {split!r}; choose test, val or train")
    if batch_size < 0:
        raise UserError(f"--batch-size: must be >= 0 (0 = all at once), got {batch_size}")
    TrainConfig(**flags.of(TrainConfig, typed_only=True))  # names a bad --device or --engine
    ckpt = runs.checkpoint.load_checkpoint(run)
    cfg = runs.checkpoint.config_of(ckpt)
    engine = flags.values["engine"] or cfg.train.engine
    dev = train.device.resolve_device(flags.values["device"])
    cells.get_engine(engine, dev)
    train.cpu_memory.keep_freed_memory_on(dev.type, flags.values["reuse_cpu_memory"])
    model = runs.checkpoint.model_from_checkpoint(ckpt, engine).to(dev)
    data_cfg = replace(
        cfg.data, data_dir=flags.values["data_dir"] or cfg.data.data_dir, test_subset=flags.values["test_subset"]
    )
    sequences = data.load_sequences(data_cfg)
    x, y = getattr(sequences, split)
    lengths = sequences.lengths_of(split)
    result = train.evaluation.evaluate(
        model, x, y, batch_size or len(y), cfg.data.layout, dev, sequences.num_classes, lengths=lengths
    )
    if as_json:
        print(json.dumps({"checkpoint": ckpt["path"], "engine": engine, "split": split, **result.to_dict()}))
    else:
        console.print(eval_table(ckpt["path"], engine, result))


COMMANDS = {"train": train_command, "eval": eval_command}
