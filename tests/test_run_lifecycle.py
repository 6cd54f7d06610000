"""A run's life through the CLI: a start that fails leaves nothing, --force replaces only after the first step,
--resume takes the flags a run in progress can take and refuses the others, results name their checkpoint, and
every file says which rnnlab, torch and command made it."""

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab import __version__
from rnnlab.cli import app
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_checkpoint
from rnnlab.runs.config_file import read_run_file
from rnnlab.runs.metrics import read_metrics
from rnnlab.train import step as stepping
from rnnlab.train.loop import fit

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


@pytest.fixture()
def first_step_fails(monkeypatch):
    """The first optimiser step raises a user error: a setting found wrong only once training runs."""
    real = stepping.train_step

    def fail_once(*args, **kwargs):
        monkeypatch.setattr(stepping, "train_step", real)
        raise UserError("--lr: found wrong in the first step (planted)")

    monkeypatch.setattr(stepping, "train_step", fail_once)


def test_a_start_that_fails_leaves_nothing_and_the_retry_needs_no_force(tmp_path, first_step_fails) -> None:
    out = tmp_path / "new"
    failed = train(*TINY, "--out", str(out))
    assert failed.exit_code == 2 and "found wrong in the first step" in failed.stderr, failed.output
    assert not out.exists(), list(out.iterdir())
    assert train(*TINY, "--out", str(out)).exit_code == 0


def test_force_keeps_the_old_run_intact_when_the_new_start_fails(run, monkeypatch) -> None:
    before = snapshot(run)
    real = stepping.train_step
    monkeypatch.setattr(stepping, "train_step", lambda *a, **k: (_ for _ in ()).throw(UserError("--lr: planted")))
    failed = train(*TINY, "--out", str(run), "--force")
    assert failed.exit_code == 2, failed.output
    assert snapshot(run) == before, "the old run was touched"
    monkeypatch.setattr(stepping, "train_step", real)
    replaced = train(*TINY, "--epochs", "1", "--out", str(run), "--force")
    assert replaced.exit_code == 0, replaced.output
    assert read_run_file(run).config.train.epochs == 1 and load_checkpoint(run / "checkpoint.pt")["epoch"] == 1


def test_a_folder_without_a_run_keeps_its_other_files(tmp_path) -> None:
    out = tmp_path / "thesis"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "plot.png").write_bytes(b"mine")
    (out / "notes.txt").write_text("mine")
    assert train(*TINY, "--epochs", "1", "--out", str(out)).exit_code == 0
    assert (out / "figures" / "plot.png").read_bytes() == b"mine" and (out / "notes.txt").read_text() == "mine"


def test_fit_replaces_a_run_only_when_forced(run) -> None:
    cfg = read_run_file(run).config
    before = snapshot(run)
    with pytest.raises(UserError, match="already holds a run"):
        fit(cfg, run)
    assert snapshot(run) == before
    fit(cfg, run, force=True)
    assert read_run_file(run).status["state"] == "finished"


def test_ctrl_c_before_the_first_step_ends_leaves_the_old_run(run, monkeypatch) -> None:
    before = snapshot(run)
    real = stepping.train_step

    def interrupted(*args, **kwargs):
        monkeypatch.setattr(stepping, "train_step", real)
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the first step runs
        return real(*args, **kwargs)

    monkeypatch.setattr(stepping, "train_step", interrupted)
    result = train(*TINY, "--out", str(run), "--force")
    assert result.exit_code == 130, result.output
    assert "before the first step ended; nothing was written" in result.stderr
    assert snapshot(run) == before


def test_a_resume_that_fails_leaves_the_run_as_it_was(run, first_step_fails) -> None:
    before = snapshot(run)
    result = train("--resume", str(run), "--epochs", "3", "--engine", "bptt")
    assert result.exit_code == 2, result.output
    assert snapshot(run) == before, "a failed resume changed the run"
    assert train("--resume", str(run), "--epochs", "3").exit_code == 0  # and it can be resumed as it was


def test_a_resume_with_another_number_of_processes_is_refused(run) -> None:
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    torch.save({**ckpt, "world_size": 2}, run / "checkpoint.pt")
    before = snapshot(run)
    result = train("--resume", str(run), "--epochs", "3")
    assert result.exit_code == 2 and "resume it with --nproc 2" in result.stderr, result.output
    assert snapshot(run) == before


def test_a_signal_after_the_last_step_ends_as_a_stop(tmp_path, monkeypatch) -> None:
    import rnnlab.train.loop as loop

    real = loop.validation_record

    def signalled(trainer, kind, seconds):
        if trainer.st.step == trainer.total:
            os.kill(os.getpid(), signal.SIGTERM)  # during the last validation, after the last step's check
        return real(trainer, kind, seconds)

    monkeypatch.setattr(loop, "validation_record", signalled)
    out = tmp_path / "run"
    result = train(*TINY, "--out", str(out))
    assert result.exit_code == 143, result.output
    assert "after the last step; checkpoint.pt holds all 6 steps" in result.stderr
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 6


def test_validation_cannot_be_switched_off(tmp_path) -> None:
    result = train(*TINY, "--val-fraction", "0", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and "--val-fraction: must be in (0, 1)" in result.stderr


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
    best_epoch = max(range(len(epochs)), key=lambda k: (epochs[k]["val_accuracy"], k))  # the latest of equals
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
