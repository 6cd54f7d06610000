"""The `rnnlab` command line. Thin: parse options -> build configs -> call the library -> draw the result.

Errors a user can cause end in one line on stderr and exit code 2 (UserError, and Typer's own usage errors).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from rnnlab.cli import options as opt
from rnnlab.cli.tables import console, err_console
from rnnlab.errors import CTRL_C, Stopped, UserError

# Typer vendors click in new releases and imports it in old ones: find its exception base either way.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """Every error a user can cause becomes `rnnlab: error: ...` on one line, exit code 2, no traceback."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_EXCEPTION as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}", getattr(exc, "exit_code", 2))
        except UserError as exc:
            _fail(str(exc), exc.exit_code, exc.label)
        except Exception as exc:  # typer's Abort (Ctrl-C at a prompt) has no common base across versions
            if type(exc).__name__ != "Abort":
                raise
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        """Ctrl-C inside a command says so in one line; typer would otherwise exit 130 in silence."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Stopped(CTRL_C) from None


def _fail(message: str, code: int, label: str = "error") -> None:
    err_console.print(f"rnnlab: {label}: {' '.join(message.split())}", markup=False, highlight=False)
    sys.exit(code)


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, compare and look inside recurrent networks (RNN, LSTM, GRU) that read images as sequences.",
)


@app.command()
def train(
    cell: opt.Cell = "lstm",
    layers: opt.Layers = 2,
    hidden: opt.Hidden = "256",
    dropout: opt.Dropout = 0.5,
    bidirectional: opt.Bidirectional = False,
    proj: opt.Proj = 0,
    readout: opt.Readout = "last",
    forget_bias: opt.ForgetBias = 1.0,
    init: opt.Init = "uniform",
    chrono: opt.Chrono = 0,
    dataset: opt.Dataset = "mnist",
    data_dir: opt.DataDir = None,
    sequence: opt.Sequence = "rows",
    permute_seed: opt.PermuteSeed = 0,
    layout: opt.Layout = "batch",
    lengths: opt.Lengths = "full",
    val_fraction: opt.ValFraction = 0.1,
    train_subset: opt.TrainSubset = 0,
    test_subset: opt.TestSubset = 0,
    engine: opt.Engine = "cudnn",
    device: opt.Device = "auto",
    batch_size: opt.BatchSize = 128,
    epochs: Annotated[
        int | None, typer.Option(help="Passes over the training set \\[default: 5].", rich_help_panel=opt.T)
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after N optimiser steps \\[default: 0 = no limit].", rich_help_panel=opt.T)
    ] = None,
    lr: Annotated[
        float, typer.Option(help="Learning rate (the peak, under a schedule).", rich_help_panel=opt.T)
    ] = 1e-3,
    schedule: Annotated[
        str,
        typer.Option(
            help="Learning rate over the run: constant, or cosine / linear decay to --lr x --final-lr-ratio.",
            rich_help_panel=opt.T,
        ),
    ] = "constant",
    warmup: Annotated[
        int, typer.Option(help="Raise the rate linearly to --lr over the first N steps.", rich_help_panel=opt.T)
    ] = 0,
    final_lr_ratio: Annotated[
        float, typer.Option(help="Where cosine/linear decay ends, as a fraction of --lr.", rich_help_panel=opt.T)
    ] = 0.0,
    optimizer: Annotated[str, typer.Option(help="adam, sgd or rmsprop (decay 0.9).", rich_help_panel=opt.T)] = "adam",
    momentum: Annotated[
        float, typer.Option(help="Momentum of sgd and rmsprop (adam has its own).", rich_help_panel=opt.T)
    ] = 0.0,
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay.", rich_help_panel=opt.T)] = 0.0,
    clip: Annotated[float, typer.Option(help="Clip the gradient norm to this; 0 = off.", rich_help_panel=opt.T)] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for parameters, dropout and shuffling.", rich_help_panel=opt.T)] = 0,
    bf16: Annotated[bool, typer.Option(help="bf16 autocast for forward and backward.", rich_help_panel=opt.T)] = False,
    deterministic: Annotated[
        bool, typer.Option(help="Deterministic cuDNN/cuBLAS kernels.", rich_help_panel=opt.T)
    ] = False,
    threads: Annotated[
        int, typer.Option(help="CPU threads for PyTorch; 0 = PyTorch's default.", rich_help_panel=opt.T)
    ] = 0,
    reuse_cpu_memory: opt.ReuseCpuMemory = True,
    on_nan: Annotated[
        str,
        typer.Option(
            help="On a NaN/inf loss: stop (keep the last good checkpoint) or skip the batch.", rich_help_panel=opt.T
        ),
    ] = "stop",
    out: Annotated[
        Path | None, typer.Option(help="Run folder \\[default: runs/<timestamp>].", rich_help_panel=opt.OUT)
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace the run already in --out.", rich_help_panel=opt.OUT)] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its checkpoint.pt (its config is reused; "
            "--epochs and --max-steps may extend it).",
            rich_help_panel=opt.OUT,
        ),
    ] = None,
    log_every: Annotated[
        int, typer.Option(help="Write a metrics.jsonl line every N steps.", rich_help_panel=opt.OUT)
    ] = 50,
    checkpoint_every: Annotated[
        int, typer.Option(help="Also checkpoint every N steps; 0 = at epoch ends only.", rich_help_panel=opt.OUT)
    ] = 0,
    nproc: Annotated[
        int, typer.Option(help="Launch N processes with torchrun on this machine (DDP).", rich_help_panel=opt.T)
    ] = 1,
) -> None:
    """Train a classifier and write a run folder: config.json, metrics.jsonl, checkpoint.pt, best.pt.

    With no flags: seed 001's model (2-layer LSTM-256, dropout 0.5, Adam 1e-3, batch 128) on MNIST rows.
    """
    from rnnlab.cli.tables import RichReporter, results_table
    from rnnlab.config import DataConfig, RunConfig, TrainConfig
    from rnnlab.data import load_sequences
    from rnnlab.runs import folder as runs
    from rnnlab.train import distributed
    from rnnlab.train.loop import fit

    if nproc > 1 and not distributed.launched_by_torchrun():
        from rnnlab.train.distributed import relaunch_with_torchrun

        raise typer.Exit(relaunch_with_torchrun(nproc, out, sys.argv[1:]))
    is_main = int(os.environ.get("RANK", "0")) == 0
    if resume is not None:
        cfg = runs.read_config(resume)
        changes = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
        cfg = replace(cfg, train=replace(cfg.train, **changes))
        run_dir = resume
        if not (run_dir / "checkpoint.pt").is_file():
            raise UserError(f"--resume: {run_dir} has no checkpoint.pt to continue from")
    else:
        data_cfg = DataConfig(
            dataset=dataset,
            data_dir=data_dir,
            sequence=sequence,
            permute_seed=permute_seed,
            layout=layout,
            lengths=lengths,
            val_fraction=val_fraction,
            train_subset=train_subset,
            test_subset=test_subset,
        )
        model_cfg = opt.model_config(
            cell=cell,
            layers=layers,
            hidden=hidden,
            dropout=dropout,
            bidirectional=bidirectional,
            proj=proj,
            readout=readout,
            forget_bias=forget_bias,
            init=init,
            chrono=chrono,
            data=data_cfg,
        )
        train_cfg = TrainConfig(
            epochs=5 if epochs is None else epochs,
            max_steps=max_steps or 0,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            warmup=warmup,
            final_lr_ratio=final_lr_ratio,
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
            clip=clip,
            seed=seed,
            device=device,
            engine=engine,
            bf16=bf16,
            deterministic=deterministic,
            log_every=log_every,
            checkpoint_every=checkpoint_every,
            on_nan=on_nan,
            threads=threads,
            reuse_cpu_memory=reuse_cpu_memory,
        )
        cfg = RunConfig(model_cfg, data_cfg, train_cfg)
        if out is None and distributed.launched_by_torchrun():
            raise UserError("--out: name the run folder when launching with torchrun, so every rank agrees on it")
        run_dir = out or runs.default_run_dir()
        if is_main:
            runs.prepare_new_run(run_dir, force)
    _check_device(cfg.train.device, cfg.train.engine)
    data = load_sequences(cfg.data)  # fails before any file of the run is touched
    if resume is None and is_main:
        runs.clear_run(run_dir)  # fit writes config.json
    result = fit(cfg, run_dir, RichReporter(), resume=resume is not None, data=data)
    if is_main:
        console.print(
            results_table(str(run_dir), result.steps, result.seconds, result.val, result.test, result.best_val_accuracy)
        )
    distributed.shutdown()


def _check_device(device: str, engine: str) -> None:
    from rnnlab.cells import get_engine
    from rnnlab.train.device import resolve_device

    get_engine(engine, resolve_device(device))


@app.command("eval")
def eval_(
    run: Annotated[str, typer.Argument(help="A run folder (its best.pt, else checkpoint.pt) or a checkpoint file.")],
    engine: Annotated[
        str | None, typer.Option(help="Evaluate under this engine \\[default: the one it trained with].")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per batch; 0 = the whole split at once.")] = 1000,
    split: Annotated[str, typer.Option(help="test or val.")] = "test",
    data_dir: opt.DataDir = None,
    device: opt.Device = "auto",
    test_subset: opt.TestSubset = 0,
    reuse_cpu_memory: opt.ReuseCpuMemory = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Evaluate a trained model: accuracy, loss, per-class accuracy, samples/s and peak memory."""
    from rnnlab.cells import get_engine
    from rnnlab.cli.tables import eval_table
    from rnnlab.config import TrainConfig
    from rnnlab.data import load_sequences
    from rnnlab.runs.checkpoint import config_of, load_checkpoint, model_from_checkpoint
    from rnnlab.train.cpu_memory import keep_freed_memory_on
    from rnnlab.train.device import resolve_device
    from rnnlab.train.evaluation import evaluate

    if split not in ("test", "val"):
        raise UserError(f"--split: unknown split {split!r}; choose test or val")
    if batch_size < 0:
        raise UserError(f"--batch-size: must be >= 0 (0 = all at once), got {batch_size}")
    TrainConfig(device=device, engine=engine or "cudnn")  # names a bad --device / --engine
    ckpt = load_checkpoint(run)
    cfg = config_of(ckpt)
    engine = engine or cfg.train.engine
    dev = resolve_device(device)
    get_engine(engine, dev)
    keep_freed_memory_on(dev.type, reuse_cpu_memory)
    model = model_from_checkpoint(ckpt, engine).to(dev)
    data = load_sequences(replace(cfg.data, data_dir=data_dir or cfg.data.data_dir, test_subset=test_subset))
    x, y = getattr(data, split)
    lengths = data.lengths_of(split)
    result = evaluate(model, x, y, batch_size or len(y), cfg.data.layout, dev, data.num_classes, lengths=lengths)
    if as_json:
        print(json.dumps({"checkpoint": ckpt["path"], "engine": engine, "split": split, **result.to_dict()}))
    else:
        console.print(eval_table(ckpt["path"], engine, result))


from rnnlab.cli import lab as _cli_lab  # noqa: E402,F401  (registers compare-cells, gradcheck on `app`)
from rnnlab.cli import look as _cli_viz  # noqa: E402,F401  (registers visualize, compare-runs, inspect)
