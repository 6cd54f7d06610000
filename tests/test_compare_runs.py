"""compare-runs: each run labelled by the flags in which it differs, numbers as in its metrics.jsonl, a valid PNG."""

import json
from dataclasses import replace

import pytest
from PIL import Image
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.runs.metrics import read_metrics
from rnnlab.train.loop import fit

BASE = RunConfig(
    ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
    DataConfig(dataset="digits", train_subset=256),
    TrainConfig(epochs=2, batch_size=64, lr=1e-3, schedule="constant", clip=0.0),
    RuntimeConfig(device="cpu"),
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    variants = {
        "plain": BASE,
        "chrono": replace(BASE, model=replace(BASE.model, chrono=64)),
        "chrono-sgd": replace(
            BASE, model=replace(BASE.model, chrono=64), train=replace(BASE.train, optimizer="sgd", lr=0.1)
        ),
    }
    for name, cfg in variants.items():
        fit(cfg, root / name)
    return root


def test_labels_name_only_the_differing_flags_and_numbers_come_from_the_logs(runs, tmp_path) -> None:
    out = tmp_path / "figs"  # a folder that does not exist yet
    folders = [str(runs / n) for n in ("plain", "chrono", "chrono-sgd")]
    result = CliRunner().invoke(app, ["compare-runs", *folders, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["runs"]
    assert [r["label"] for r in rows] == [
        "plain --chrono 0 --lr 0.001 --optimizer adam",
        "chrono --chrono 64 --lr 0.001 --optimizer adam",
        "chrono-sgd --chrono 64 --lr 0.1 --optimizer sgd",
    ]
    for row, name in zip(rows, ("plain", "chrono", "chrono-sgd")):
        records = read_metrics(runs / name)
        val = [r["val_accuracy"] for r in records if r["kind"] == "epoch"]
        assert row["val_accuracy_by_epoch"] == val and row["epochs"] == 2
        latest = len(val) - val[::-1].index(max(val))  # best.pt: the latest of equal accuracies
        assert row["best_val_accuracy"] == max(val) and row["best_epoch"] == latest
        assert row["test_accuracy"] == [r["test_accuracy"] for r in records if r["kind"] == "test"][-1]
        assert row["steps"] == 8  # 2 epochs of 256 * 0.9 samples in batches of 64
    assert json.loads(result.stdout)["figure"] == str(out / "runs-compared.png")
    with Image.open(out / "runs-compared.png") as image:
        assert image.format == "PNG" and image.size[0] > 600


def test_the_table_is_the_default_and_one_run_needs_no_flags(runs, tmp_path) -> None:
    result = CliRunner().invoke(app, ["compare-runs", str(runs / "chrono"), "--out", str(tmp_path / "one")])
    assert result.exit_code == 0, result.output
    assert "runs compared" in result.output and "chrono" in result.output and "--chrono" not in result.output


@pytest.mark.parametrize(
    ("target", "out", "expect"),
    [
        ("nowhere", "x.png", "not a folder"),
        ("empty", "x.png", "no config.json"),
        ("no-epoch", "x.png", "not finished an epoch"),
        ("plain", "a-file.txt", "--out"),
    ],
)
def test_bad_input_is_one_line_exit_2(runs, tmp_path, target, out, expect) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file.txt").write_text("not a folder")
    started = tmp_path / "no-epoch"
    started.mkdir()
    (started / "config.json").write_text(json.dumps(BASE.to_dict()))
    (started / "metrics.jsonl").write_text(json.dumps({"kind": "step", "epoch": 0, "step": 1, "loss": 2.0}) + "\n")
    folder = runs / target if target == "plain" else tmp_path / target
    result = CliRunner().invoke(app, ["compare-runs", str(folder), "--out", str(tmp_path / out)])
    assert result.exit_code == 2, result.output
    assert expect in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.png"))


def test_runs_that_cannot_be_compared_are_left_out_with_a_warning(runs, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    args = ["compare-runs", str(runs / "plain"), str(tmp_path / "empty"), str(runs / "chrono"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [r["label"].split()[0] for r in json.loads(result.stdout)["runs"]] == ["plain", "chrono"]
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("rnnlab: warning: ") and "empty" in warning and warning.endswith("left out"), warning
