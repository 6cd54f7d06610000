"""What training shows: what it is doing before the first step, the bar and the epoch lines, from the CLI and
from rnnlab.fit, which shows them unless told otherwise."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.train.loop import fit
from rnnlab.train.progress import ProgressBar
from rnnlab.train.results import NullReporter

TINY = RunConfig(
    ModelConfig(input_size=8, hidden=(8,), layers=1), DataConfig(dataset="digits"),
    replace(TrainConfig(), epochs=2, batch_size=256), RuntimeConfig(device="cpu", threads=1),
)  # fmt: skip


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100, color_system=None), out


def test_fit_shows_its_progress_unless_told_not_to(tmp_path: Path, digits, capsys) -> None:
    fit(TINY, tmp_path / "shown", data=digits)
    shown = capsys.readouterr().out
    assert "training lstm x1 on digits (cudnn, cpu, 1 thread): 12 steps." in shown
    assert "epoch 1/2 (step 6): train loss" in shown and "epoch 2/2 (step 12)" in shown
    fit(TINY, tmp_path / "quiet", NullReporter(), data=digits)
    assert capsys.readouterr().out == ""


def test_what_it_is_doing_shows_until_training_starts(tmp_path: Path) -> None:
    console, out = _terminal()
    bar = ProgressBar(console)
    bar.doing("reading digits")
    bar.doing("building the model")
    assert bar.status is not None
    bar.start(10, 0, 2, "lstm x1 on digits (cudnn, cpu)")
    assert bar.status is None  # the spinner gave way to the bar
    bar.finish()
    text = out.getvalue()
    assert "building the model" in text and "training lstm x1" in text  # the first was replaced before it drew


def test_a_failure_before_the_first_step_stops_the_spinner(tmp_path: Path) -> None:
    console, _ = _terminal()
    bar = ProgressBar(console)
    bad = replace(TINY, data=replace(TINY.data, data_dir=str(tmp_path / "absent"), dataset="mnist"))
    try:
        fit(replace(bad, model=replace(bad.model, input_size=28)), tmp_path / "run", bar)
    except Exception as exc:  # the one-line error the CLI shows
        assert "mnist" in str(exc).lower()
    else:
        raise AssertionError("MNIST in an empty folder loaded")
    assert bar.status is None


def test_names_from_files_are_shown_as_written(tmp_path: Path) -> None:
    console, out = _terminal()
    bar = ProgressBar(console)
    bar.notice("a run named [red]x\x1b[2J")
    assert "[red]x\\x1b[2J" in out.getvalue()


def test_an_epoch_line_wraps_between_its_parts_never_inside_one() -> None:
    record = {"kind": "epoch", "epoch": 11, "step": 82, "train_loss": 1.1257, "train_accuracy": 0.6406,
              "val_loss": 1.0155, "val_accuracy": 0.7014, "seconds": 0.8, "samples_per_s": 100.0}  # fmt: skip
    for width, lines in ((120, 1), (80, 2), (40, 4)):
        console, out = _terminal()
        console.width = width
        bar = ProgressBar(console)
        bar.epochs = 40
        bar.epoch(record, new_best=True)
        shown = out.getvalue().rstrip("\n").split("\n")
        assert len(shown) == lines and all(len(line) <= width for line in shown), shown
        assert "val loss 1.0155 acc 70.14%" in out.getvalue() and shown[-1].endswith("new best")
