"""`rnnlab runs DIR`: one row per run folder with its status, epochs, best validation, test accuracy, engine, when it
started, and the flags in which it differs from the others."""

import json
import os
import socket
from pathlib import Path

from typer.testing import CliRunner

from rnnlab.cli import app

TINY = ["--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "96", "--batch-size", "32",
        "--device", "cpu"]  # fmt: skip


def test_runs_lists_every_run_with_its_status(tmp_path) -> None:
    root = tmp_path / "runs"
    for name, extra in (("a", ["--epochs", "2"]), ("b", ["--epochs", "2", "--lr", "0.01"])):
        assert CliRunner().invoke(app, ["train", *TINY, *extra, "--out", str(root / name)]).exit_code == 0
    # a run that failed, one whose process was killed while it ran, and one still running (this process)
    statuses = {
        "c": {"state": "failed", "detail": "the loss became nan at step 4"},
        "d": {"state": "running", "pid": 2**22 + 12345, "host": socket.gethostname()},  # no process has this pid
        "e": {"state": "running", "pid": os.getpid(), "host": socket.gethostname()},
    }
    for name, status in statuses.items():
        (root / name).mkdir()
        raw = json.loads((root / "a" / "config.json").read_text())
        (root / name / "config.json").write_text(json.dumps({**raw, "status": status}))
    (root / "not-a-run").mkdir()
    result = CliRunner().invoke(app, ["runs", str(root), "--json"])
    assert result.exit_code == 0, result.output
    rows = {os.path.basename(r["run"]): r for r in json.loads(result.stdout)["runs"]}
    assert set(rows) == {"a", "b", "c", "d", "e"}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a": "finished", "b": "finished", "c": "failed", "d": "stopped", "e": "running",
    }  # fmt: skip
    assert "the loss became" in rows["c"]["detail"]
    assert rows["a"]["label"] == "a --lr 0.003" and rows["b"]["label"] == "b --lr 0.01"  # digits: lr 3e-3
    assert rows["a"]["epochs"] == 2 and rows["a"]["epochs_planned"] == 2 and rows["a"]["engine"] == "cudnn"
    assert 0 < rows["a"]["best_val_accuracy"] <= 1 and rows["a"]["test_accuracy"] is not None and rows["a"]["started"]
    table = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", str(root)])
    assert table.exit_code == 0 and "finished" in table.output and "failed" in table.output


def test_runs_of_an_empty_folder_says_so(tmp_path) -> None:
    result = CliRunner().invoke(app, ["runs", str(tmp_path)])
    assert result.exit_code == 0 and "no runs under" in result.output


def test_a_run_stopped_inside_its_first_epoch_has_no_finished_epoch(tmp_path) -> None:
    out = tmp_path / "short"
    assert CliRunner().invoke(app, ["train", *TINY, "--max-steps", "2", "--out", str(out)]).exit_code == 0
    (row,) = json.loads(CliRunner().invoke(app, ["runs", str(tmp_path), "--json"]).stdout)["runs"]
    assert (row["epochs"], row["best_epoch"], row["best_step"]) == (0, None, 2)
    table = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["runs", str(tmp_path)]).output
    assert "(step 2)" in table and "the run: finished; engine cudnn; 40 epochs planned" in table  # digits: 40


def test_a_folder_that_cannot_be_looked_into_is_passed_over_with_a_warning(tmp_path, monkeypatch) -> None:
    root = tmp_path / "runs"
    assert CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(root / "a")]).exit_code == 0
    (root / "locked").mkdir()
    real = Path.iterdir

    def iterdir(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)  # root may read any folder: deny this one as a user's disk would
    result = CliRunner().invoke(app, ["runs", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert [os.path.basename(r["run"]) for r in json.loads(result.stdout)["runs"]] == ["a"]
    (warning,) = result.stderr.strip().splitlines()
    assert warning == f"rnnlab: warning: {root / 'locked'}: cannot be looked into; skipped"


def test_the_listed_best_is_best_pt_even_where_max_steps_ended_the_run_inside_an_epoch(tmp_path) -> None:
    from rnnlab.runs.checkpoint import load_checkpoint

    out = tmp_path / "r"
    args = ["train", *TINY, "--epochs", "3", "--max-steps", "7", "--log-every", "5", "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0  # 3 steps an epoch: the run ends inside epoch 3
    (row,) = json.loads(CliRunner().invoke(app, ["runs", str(tmp_path), "--json"]).stdout)["runs"]
    assert row["steps"] == 7 and row["best_step"] == load_checkpoint(out / "best.pt")["step"]
    validations = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "val_accuracy" in r]
    assert row["best_val_accuracy"] == max(r["val_accuracy"] for r in validations)


def test_steps_count_a_stop_that_fell_between_log_lines(tmp_path) -> None:
    out = tmp_path / "r"
    assert CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(out)]).exit_code == 0
    raw = json.loads((out / "config.json").read_text())
    raw["status"].update(state="stopped", step=60)  # what a Ctrl-C at step 60 writes, the last log line at 50
    (out / "config.json").write_text(json.dumps(raw))
    (row,) = json.loads(CliRunner().invoke(app, ["runs", str(tmp_path), "--json"]).stdout)["runs"]
    assert row["steps"] == 60


def _at_80_columns(monkeypatch) -> None:
    """A terminal 80 columns wide: the tables' console (its width is fixed where output is captured) and typer's."""
    from rnnlab.cli.tables import console

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "width", 80)


def test_at_80_columns_names_are_whole_and_only_flags_that_do_something_show(tmp_path, monkeypatch) -> None:
    root = tmp_path / "runs"
    runs = {
        "digits-max-steps-five-a-long-name": ["--epochs", "2", "--max-steps", "5"],
        "digits-one-epoch-and-no-clipping": ["--epochs", "1", "--clip", "0"],
    }
    for name, extra in runs.items():
        assert CliRunner().invoke(app, ["train", *TINY, *extra, "--out", str(root / name)]).exit_code == 0
    rows = json.loads(CliRunner().invoke(app, ["runs", str(root), "--json"]).stdout)["runs"]
    assert [r["flags"] for r in rows] == [
        ["--epochs 2", "--max-steps 5", "--clip 1.0"],  # digits clips at 1.0
        ["--epochs 1"],  # no --max-steps 0, no --clip 0.0: those do nothing
    ]
    _at_80_columns(monkeypatch)
    result = CliRunner().invoke(app, ["runs", str(root)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in result.output, result.output
    for name in runs:
        assert any(line.split()[:1] == [name] for line in lines), (name, result.output)  # whole, on a line of its own
    flags = [line.split("  ")[0].strip() for line in lines if line.startswith("--")]
    assert flags == ["--epochs 2 --max-steps 5 --clip 1.0", "--epochs 1"], result.output  # under each name
    assert "--max-steps 0" not in result.output and "--clip 0" not in result.output
    assert "every run: finished; engine cudnn" in result.output  # the same for both: said once, no column
    assert "engine " not in lines[1] + lines[2] and "status" not in lines[1] + lines[2]  # the headings


def test_a_status_that_differs_has_its_column(tmp_path, monkeypatch) -> None:
    root = tmp_path / "runs"
    assert CliRunner().invoke(app, ["train", *TINY, "--epochs", "1", "--out", str(root / "a")]).exit_code == 0
    (root / "b").mkdir()
    raw = json.loads((root / "a" / "config.json").read_text())
    (root / "b" / "config.json").write_text(json.dumps({**raw, "status": {"state": "failed", "detail": "nan"}}))
    _at_80_columns(monkeypatch)
    result = CliRunner().invoke(app, ["runs", str(root)])
    assert result.exit_code == 0, result.output
    assert "status" in result.output and "failed" in result.output and "finished" in result.output
    assert "every run: engine cudnn; 1 epoch planned" in result.output
    assert max(map(len, result.output.splitlines())) <= 80
