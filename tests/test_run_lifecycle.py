"""A run's life through the CLI: a start that fails leaves nothing, --force replaces only after the first step,
--resume takes the flags a run in progress can take and refuses the others, results name their checkpoint, and
every file says which rnnlab, torch and command made it."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab import __version__
from rnnlab.cli import app
from rnnlab.runs.checkpoint import load_checkpoint
from rnnlab.runs.config_file import read_run_file
from rnnlab.runs.metrics import read_metrics

TINY = ["--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "96", "--batch-size", "32",
        "--epochs", "2", "--device", "cpu", "--log-every", "1"]  # fmt: skip


def train(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def run(tmp_path) -> Path:
    out = tmp_path / "run"
    result = train(*TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_a_start_that_fails_leaves_nothing_and_the_retry_needs_no_force(tmp_path) -> None:
    out = tmp_path / "new"
    failed = train(*TINY, "--engine", "triton", "--lengths", "random", "--out", str(out))  # fails in the first step
    assert failed.exit_code == 2 and "full-length sequences only" in failed.stderr, failed.output
    assert not out.exists(), list(out.iterdir())
    assert train(*TINY, "--out", str(out)).exit_code == 0


def test_force_keeps_the_old_run_intact_when_the_new_start_fails(run) -> None:
    before = snapshot(run)
    failed = train(*TINY, "--engine", "triton", "--lengths", "random", "--out", str(run), "--force")
    assert failed.exit_code == 2, failed.output
    assert snapshot(run) == before, "the old run was touched"
    replaced = train(*TINY, "--epochs", "1", "--out", str(run), "--force")
    assert replaced.exit_code == 0, replaced.output
    assert read_run_file(run).config.train.epochs == 1 and load_checkpoint(run / "checkpoint.pt")["epoch"] == 1


def test_resume_applies_what_a_run_in_progress_can_change_and_records_it(run) -> None:
    result = train("--resume", str(run), "--epochs", "3", "--log-every", "2", "--data-dir", "/elsewhere")
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "at epoch 3/3" in result.output
    record = read_run_file(run)
    assert (record.config.train.epochs, record.config.train.log_every) == (3, 2)
    assert record.config.data.data_dir == "/elsewhere" and record.status["state"] == "finished"
    (resume,) = record.resumes
    assert resume["changes"] == {"--data-dir": [None, "/elsewhere"], "--epochs": [2, 3], "--log-every": [1, 2]}
    assert resume["step"] == 6 and "--resume" in resume["made_by"]["command"]
    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 3


def test_resume_refuses_every_other_flag_and_changes_nothing(run) -> None:
    before = snapshot(run)
    for extra, named in ((["--hidden", "32", "--lr", "0.1"], "--hidden, --lr"), (["--out", "elsewhere"], "--out")):
        result = train("--resume", str(run), *extra)
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"rnnlab: error: --resume: {named} cannot be given with --resume"), line
        assert "--epochs" in line  # says what a resume takes
    assert snapshot(run) == before


def test_results_name_the_last_and_the_best_parameters(run) -> None:
    result = train(*TINY, "--epochs", "3", "--out", str(run), "--force")
    assert result.exit_code == 0, result.output
    assert "checkpoint.pt" in result.output and "best.pt" in result.output and "final scoring" in result.output
    tests = {r["which"]: r for r in read_metrics(run) if r["kind"] == "test"}
    epochs = [r for r in read_metrics(run) if r["kind"] == "epoch"]
    best_epoch = max(range(len(epochs)), key=lambda k: (epochs[k]["val_accuracy"], -k))
    best = load_checkpoint(run / "best.pt")
    assert best["step"] == tests["best"]["step"] == epochs[best_epoch]["step"]
    assert tests["last"]["step"] == load_checkpoint(run / "checkpoint.pt")["step"] == 9
    for path, which in ((run, "best"), (run / "checkpoint.pt", "last")):
        report = json.loads(CliRunner().invoke(app, ["eval", str(path), "--json"]).stdout)
        assert (report["which"], report["step"]) == (which, tests[which]["step"])
        assert report["accuracy"] == pytest.approx(tests[which]["test_accuracy"], abs=1e-9)


def test_a_run_stopped_inside_its_first_epoch_reports_its_validation(tmp_path) -> None:
    out = tmp_path / "short"
    result = train(*TINY, "--max-steps", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    (final,) = [r for r in read_metrics(out) if r["kind"] == "final"]
    assert f"{100 * final['val_accuracy']:.2f}%" in result.output
    assert load_checkpoint(out / "best.pt")["step"] == 2


def test_eval_of_a_run_without_a_checkpoint_says_so(tmp_path, run) -> None:
    young = tmp_path / "young"
    young.mkdir()
    (young / "config.json").write_bytes((run / "config.json").read_bytes())
    result = CliRunner().invoke(app, ["eval", str(young)])
    assert result.exit_code == 2 and "has no checkpoint yet" in result.stderr


def test_every_file_records_what_made_it(run) -> None:
    import torch as torch_module

    for made in (load_checkpoint(run / "checkpoint.pt")["made_by"], read_run_file(run).made_by):
        assert made["rnnlab"] == __version__ and made["torch"].split("+")[0] == torch_module.__version__.split("+")[0]
        assert "train" in made["command"] and "--out" in made["command"] and made["at"]
    raw = torch.load(run / "best.pt", weights_only=True)  # still plain types only
    assert raw["made_by"]["rnnlab"] == __version__
