"""compare-runs: each run labelled by the flags in which it differs, numbers as in its metrics.jsonl, a valid PNG."""

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.cli.tables import console
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.errors import UserError
from rnnlab.lab.compare_runs import figure_folder
from rnnlab.runs.metrics import read_metrics
from rnnlab.train.loop import fit

BASE = RunConfig(
    ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
    DataConfig(dataset="digits", train_subset=256),
    TrainConfig(epochs=2, batch_size=64, lr=1e-3, schedule="constant", clip=0.0),
    RuntimeConfig(device="cpu"),
)


ONE_EPOCH = replace(BASE.train, epochs=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    variants = {
        "plain": BASE,
        "chrono": replace(BASE, model=replace(BASE.model, chrono=64)),
        "chrono-sgd": replace(
            BASE, model=replace(BASE.model, chrono=64), train=replace(BASE.train, optimizer="sgd", lr=0.1)
        ),
        "pixels": replace(  # another sequence view: 64 steps of 1 pixel, not 8 rows of 8
            BASE, model=replace(BASE.model, input_size=1), data=replace(BASE.data, sequence="pixels"), train=ONE_EPOCH
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
        "plain --lr 0.001 --optimizer adam",  # --chrono 0 does nothing: left out
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


def test_the_figure_goes_beside_the_runs_and_the_path_is_said(runs, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # not into the current folder unasked
    result = CliRunner().invoke(app, ["compare-runs", str(runs / "plain"), str(runs / "chrono")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"wrote {runs / 'runs-compared.png'}"
    assert (runs / "runs-compared.png").is_file() and not list(tmp_path.iterdir())
    again = CliRunner().invoke(app, ["compare-runs", *map(str, sorted(runs.iterdir())), "--json"])  # runs/*
    assert again.exit_code == 0 and "runs-compared.png" not in again.stderr, again.stderr  # its own figure: passed over
    assert len(json.loads(again.stdout)["runs"]) == 4 and json.loads(again.stdout)["figure"] is None


def test_runs_with_no_folder_in_common_need_out() -> None:
    def at(path: str):
        return SimpleNamespace(path=Path(path))

    assert figure_folder([at("/x/runs/a"), at("/x/runs/b")]) == Path("/x/runs")
    assert figure_folder([at("/x/runs/a"), at("/x/other/b")]) == Path("/x")
    with pytest.raises(UserError, match="--out: these runs have no folder in common but /"):
        figure_folder([at("/x/a"), at("/y/b")])


def test_runs_of_different_sequence_views_are_compared_with_a_warning(runs, tmp_path) -> None:
    args = ["compare-runs", str(runs / "plain"), str(runs / "pixels"), "--out", str(tmp_path), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (warning,) = result.stderr.strip().splitlines()
    assert warning == (
        "rnnlab: warning: these runs are of different sequence views (rows (8 steps): plain; pixels (64 steps): "
        "pixels), drawn on the same axes"
    )
    labels = [r["label"] for r in json.loads(result.stdout)["runs"]]
    assert labels == ["plain --sequence rows --epochs 2", "pixels --sequence pixels --epochs 1"]


def test_runs_of_different_datasets_get_one_warning() -> None:
    from types import SimpleNamespace

    from rnnlab.config import DataConfig
    from rnnlab.lab.compare_runs import mixed

    def run(name: str, dataset: str) -> SimpleNamespace:
        config = SimpleNamespace(data=DataConfig(dataset=dataset))
        return SimpleNamespace(path=Path(name), record=SimpleNamespace(config=config))

    (warning,) = mixed([run("m", "mnist"), run("d", "digits")])  # rows of 28 and of 8 steps: said once
    assert warning == "these runs are of different datasets (mnist: m; digits: d), drawn on the same axes"


def test_at_80_columns_the_table_reads_whole(runs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "width", 80)  # a terminal 80 columns wide (captured output has a fixed width)
    names = ("plain", "chrono", "chrono-sgd", "pixels")
    result = CliRunner().invoke(app, ["compare-runs", *(str(runs / n) for n in names), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    *lines, wrote = result.stdout.splitlines()  # a warning is one line on stderr, and a path one line: however long
    assert max(map(len, lines)) <= 80 and "…" not in result.stdout, result.stdout
    assert wrote == f"wrote {tmp_path / 'runs-compared.png'}"
    blocks: dict[str, list[str]] = {}
    for line in lines:
        first = line.split("  ")[0].strip()  # the run column: its words are one space apart
        if first in names:
            blocks[first] = []  # the name, whole, on a line of its own
        elif first.startswith("--") and blocks:
            blocks[list(blocks)[-1]].append(first)
    rows = json.loads(CliRunner().invoke(app, ["compare-runs", *(str(runs / n) for n in names), "--json"]).stdout)
    assert blocks == {r["name"]: blocks[r["name"]] for r in rows["runs"]}, result.stdout
    for r in rows["runs"]:  # its flags under it, each flag whole (never wrapped between a flag and its value)
        assert " ".join(blocks[r["name"]]) == " ".join(r["flags"]), result.stdout
        assert all(any(flag in line for line in blocks[r["name"]]) for flag in r["flags"]), result.stdout
    assert "--chrono 0" not in result.stdout
