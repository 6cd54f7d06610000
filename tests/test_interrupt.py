"""Interruption: SIGINT/SIGTERM checkpoint and exit cleanly mid-epoch; kill -9 never corrupts a checkpoint;
--resume then ends with the metrics of an uninterrupted run. NaN losses stop cleanly or are skipped."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_checkpoint
from rnnlab.runs.config_file import read_run_file
from rnnlab.train.loop import NullReporter, fit

pytestmark = pytest.mark.slow  # real processes, signals and kill -9: `make test` runs them, `make test-fast` does not

ROOT = Path(__file__).resolve().parents[1]
# 1294 digits / batch 8 = 162 steps per epoch: a signal a few steps in lands mid-epoch.
ARGS = [
    "--dataset",
    "digits",
    "--hidden",
    "32",
    "--layers",
    "2",
    "--dropout",
    "0.2",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--device",
    "cpu",
    "--log-every",
    "1",
    "--threads",
    "1",
]


def _start(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rnnlab", "train", *ARGS, "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _wait_for_steps(out: Path, steps: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        log = out / "metrics.jsonl"
        if log.exists() and sum(1 for _ in log.open()) >= steps:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("training never reached the step")


def _final(out: Path) -> dict:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("whole") / "run"
    proc = _start(out)
    assert proc.wait(timeout=300) == 0, proc.communicate()
    return {"final": _final(out), "model": load_checkpoint(out / "checkpoint.pt")["model"]}


def _resume_and_compare(out: Path, uninterrupted: dict) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab", "train", "--resume", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _final(out) == uninterrupted["final"]
    model = load_checkpoint(out / "checkpoint.pt")["model"]
    assert all(torch.equal(model[k], uninterrupted["model"][k]) for k in model)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_checkpoints_mid_epoch_and_resume_matches(tmp_path, uninterrupted, sig, code) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_steps(out, 5, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"rnnlab: stopped: by {sig.name} at step "), stderr
    assert "checkpoint saved" in lines[0] and "--resume" in lines[0], stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert 0 < ckpt["batch_in_epoch"] < 162 and ckpt["epoch"] == 0  # it stopped in the middle of an epoch
    _resume_and_compare(out, uninterrupted)


def test_kill_9_never_leaves_a_corrupt_checkpoint(tmp_path, uninterrupted) -> None:
    out = tmp_path / "run"
    for round_ in range(3):  # kill at a different moment each round, resuming in between
        proc = _start(out, "--checkpoint-every", "1") if round_ == 0 else _resume_proc(out)
        _wait_for_steps(out, 8 + 40 * round_, proc)
        time.sleep(0.013 * (round_ + 1))
        proc.kill()
        proc.wait()
        ckpt = load_checkpoint(out / "checkpoint.pt")  # raises if the file is half-written
        assert ckpt["step"] > 0
    _resume_and_compare(out, uninterrupted)
    assert not list(out.glob(".*.tmp"))


def _resume_proc(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "rnnlab", "train", "--resume", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


NAN_CFG = RunConfig(
    ModelConfig(input_size=8, hidden=(16,), layers=1, dropout=0.0),
    DataConfig(dataset="digits", train_subset=320),
    TrainConfig(epochs=3, batch_size=32, log_every=1),
    RuntimeConfig(device="cpu"),
)


def _poisoned(step_in_epoch_2: int):
    """Digits with one NaN sample, placed where epoch 2 (index 1) will meet it at the given step."""
    data = load_sequences(NAN_CFG.data)
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(range(320), num_replicas=1, rank=0, shuffle=True, seed=0)
    sampler.set_epoch(1)
    victim = list(sampler)[step_in_epoch_2 * 32]
    x = data.train[0].clone()
    x[victim] = float("nan")
    return replace(data, train=(x, data.train[1])), victim


def test_nan_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path) -> None:
    data, _ = _poisoned(4)
    # the NaN sample is also met in epoch 1; train epoch 1 on clean data first, then the poisoned run resumes
    clean = load_sequences(NAN_CFG.data)
    fit(replace(NAN_CFG, train=replace(NAN_CFG.train, epochs=1)), tmp_path, data=clean)
    good = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(UserError, match=r"loss became nan at step 15; stopped, checkpoint.pt \(step 10\) is kept"):
        fit(NAN_CFG, tmp_path, resume=True, data=data)
    after = load_checkpoint(tmp_path / "checkpoint.pt")
    assert after["step"] == good["step"] == 10
    assert all(torch.equal(after["model"][k], good["model"][k]) for k in good["model"])
    status = read_run_file(tmp_path).status  # what `rnnlab runs` shows
    assert status["state"] == "failed" and "the loss became nan" in status["detail"]


def test_nan_before_any_checkpoint_says_none_was_kept_and_eval_says_why(tmp_path) -> None:
    from torch.utils.data.distributed import DistributedSampler

    data = load_sequences(NAN_CFG.data)
    victim = list(DistributedSampler(range(320), num_replicas=1, rank=0, shuffle=True, seed=0))[3 * 32]
    x = data.train[0].clone()
    x[victim] = float("nan")  # met at the first epoch's 4th step: after the folder is written, before a checkpoint
    data = replace(data, train=(x, data.train[1]))
    with pytest.raises(UserError, match=r"step 4; stopped, no checkpoint had been written yet"):
        fit(replace(NAN_CFG, train=replace(NAN_CFG.train, epochs=1)), tmp_path, data=data)
    assert not (tmp_path / "checkpoint.pt").exists()
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "it failed before writing one (the loss became nan" in result.stderr, result.output


def test_nan_skip_drops_the_batch_and_goes_on(tmp_path) -> None:
    data, _ = _poisoned(4)
    result = fit(replace(NAN_CFG, train=replace(NAN_CFG.train, on_nan="skip")), tmp_path, data=data)
    assert result.steps == 30
    assert result.history[-1]["skipped"] >= 1
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


# ---- a second signal stops at once; a signal during the final evaluation; two quick Ctrl-C; a kill -9 storm -----

CLI_ARGS = ["train", "--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "320",
            "--batch-size", "32", "--epochs", "2", "--device", "cpu", "--checkpoint-every", "2"]  # fmt: skip


class _SignalsAt(NullReporter):
    """Sends this process the given signals, one after another, after step N (in-process, the real handlers)."""

    def __init__(self, at: int, *signals: signal.Signals) -> None:
        self.at, self.signals, self.notes = at, signals, []

    def notice(self, message: str) -> None:
        self.notes.append(message)

    def step(self, step: int, stats: dict) -> None:
        if step == self.at:
            for sig in self.signals:
                os.kill(os.getpid(), sig)


def test_a_second_ctrl_c_stops_at_once_keeping_the_last_checkpoint(tmp_path, monkeypatch) -> None:
    reporter = _SignalsAt(5, signal.SIGINT, signal.SIGINT)
    monkeypatch.setattr("rnnlab.cli.training.RichReporter", lambda: reporter)
    result = CliRunner().invoke(app, [*CLI_ARGS, "--out", str(tmp_path / "run")])
    assert result.exit_code == 130, result.output
    assert reporter.notes[0] == "SIGINT: stopping after this step, with a checkpoint (Ctrl-C again to stop now)"
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rnnlab: stopped: by SIGINT (a second signal) at step 5; the last checkpoint, of step 4,")
    assert "--resume" in line
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 4
    assert read_run_file(tmp_path / "run").status["state"] == "stopped"


def test_sigterm_during_the_final_evaluation_ends_like_sigterm_in_training(tmp_path, monkeypatch) -> None:
    import rnnlab.train.loop as loop

    real = loop.final_scores

    def terminated(trainer):
        os.kill(os.getpid(), signal.SIGTERM)
        return real(trainer)

    monkeypatch.setattr(loop, "final_scores", terminated)
    result = CliRunner().invoke(app, [*CLI_ARGS, "--out", str(tmp_path / "run")])
    assert result.exit_code == 143, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"rnnlab: stopped: by SIGTERM during the final evaluation; checkpoint.pt holds all 20 steps: score it with "
        f"`rnnlab eval {tmp_path / 'run'}`"
    )
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 20


def test_two_quick_ctrl_c_end_in_one_line_and_no_traceback(tmp_path) -> None:
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for_steps(out, 3, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr + stdout
    (line,) = [line for line in stderr.splitlines() if line.strip()]
    assert line.startswith("rnnlab: stopped: by SIGINT"), stderr


def test_a_storm_of_kill_9_never_costs_exactness(tmp_path, uninterrupted) -> None:
    """Killed at random moments (seeded), resumed each time; the end is bit-identical to an uninterrupted run."""
    rng = random.Random(20261123)
    out = tmp_path / "run"
    for kill in range(6):
        proc = _start(out, "--checkpoint-every", "1") if kill == 0 else _resume_proc(out)
        lines = sum(1 for _ in (out / "metrics.jsonl").open()) if (out / "metrics.jsonl").exists() else 0
        _wait_for_steps(out, lines + rng.randint(1, 25), proc)
        time.sleep(rng.uniform(0, 0.05))
        proc.kill()
        proc.wait()
    _resume_and_compare(out, uninterrupted)
    assert not list(out.glob(".*.tmp"))
