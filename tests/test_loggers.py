"""Live curves: --logger tensorboard writes event files that TensorBoard reads back; --logger csv a table; both
continue across a resume without repeating the steps after the checkpoint."""

import csv
import json

import pytest
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.runs.metrics import read_metrics

TINY = ["--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "96", "--batch-size", "32",
        "--device", "cpu", "--log-every", "1"]  # fmt: skip


def _events(folder):
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = accumulator.EventAccumulator(str(folder), size_guidance={accumulator.SCALARS: 0, accumulator.IMAGES: 0})
    acc.Reload()
    return acc


def test_tensorboard_and_csv_hold_what_metrics_jsonl_holds(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", *TINY, "--epochs", "2", "--logger", "tensorboard,csv", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    records = read_metrics(out)
    acc = _events(out / "logs")
    steps = [r for r in records if r["kind"] == "step"]
    loss = acc.Scalars("train/loss (last log window)")
    assert [e.step for e in loss] == [r["step"] for r in steps]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in steps], rel=1e-6)
    val = acc.Scalars("epoch/validation accuracy")
    assert [e.value for e in val] == pytest.approx([r["val_accuracy"] for r in records if r["kind"] == "epoch"])
    assert {"train/learning rate", "test/best accuracy", "test/last accuracy"} <= set(acc.Tags()["scalars"])
    assert len(acc.Tags()["images"]) >= 1  # the per-step probability figure of each epoch's end
    with (out / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["kind"] == "step"] == [r["step"] for r in steps]
    assert [float(r["val_accuracy"]) for r in rows if r["kind"] == "epoch"] == pytest.approx(
        [r["val_accuracy"] for r in records if r["kind"] == "epoch"]
    )


def test_a_resume_drops_what_came_after_the_checkpoint(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    first = CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--logger", "csv,tensorboard", "--out", str(out)])
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(app, ["train", "--resume", str(out), "--epochs", "2"])
    assert resumed.exit_code == 0, resumed.output
    with (out / "metrics.csv").open(newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["kind"] == "step"]
    assert steps == list(range(1, 7))  # 3 steps an epoch, each once
    loss = _events(out / "logs").Scalars("train/loss (last log window)")
    assert sorted({e.step for e in loss}) == list(range(1, 7))
    assert json.loads((out / "config.json").read_text())["train"]["logger"] == ["csv", "tensorboard"]


def test_without_tensorboard_installed_the_logger_is_one_line(tmp_path, monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--logger", "tensorboard", "--out", str(out)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--logger tensorboard: the tensorboard package is not installed" in line
    assert not out.exists()  # refused before the run began
