"""Training end to end: digits always, real MNIST where RNNLAB_DATA_DIR has it; exact resume on CPU."""

import json
import os
import signal
from dataclasses import replace

import pytest
import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_checkpoint
from rnnlab.runs.metrics import read_metrics
from rnnlab.train import step as stepping
from rnnlab.train.loop import Interrupted, NullReporter, fit
from rnnlab.train.optim import make_optimizer

DIGITS = RunConfig(
    ModelConfig(cell="lstm", input_size=8, hidden=(64,), layers=1, dropout=0.0),
    DataConfig(dataset="digits"),
    TrainConfig(epochs=12, batch_size=32, lr=5e-3, log_every=10, schedule="constant", clip=0.0),
    RuntimeConfig(device="cpu"),
)


def test_digits_end_to_end_reaches_90_percent(tmp_path, digits) -> None:
    result = fit(DIGITS, tmp_path, data=digits)
    assert result.test.accuracy >= 0.90, result.test
    assert result.test.samples == len(digits.test[1])
    log = read_metrics(tmp_path)
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == list(range(12))
    assert log[-1]["kind"] == "test" and log[-1]["test_accuracy"] == result.test.accuracy
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["step"] == result.steps and ckpt["epoch"] == 12 and ckpt["config"] == DIGITS.to_dict()
    assert (tmp_path / "best.pt").is_file()


@pytest.mark.parametrize("stop_at", [17, 31])  # mid-epoch and just past an epoch boundary (30 steps per epoch)
def test_resume_equals_an_uninterrupted_run(tmp_path, stop_at) -> None:
    cfg = replace(
        DIGITS,
        model=replace(DIGITS.model, dropout=0.3, layers=2, hidden=(16,)),  # dropout: the RNG state must resume too
        data=replace(DIGITS.data, train_subset=960),
        train=replace(DIGITS.train, epochs=3, lr=1e-2),
    )
    data = load_sequences(cfg.data)
    whole = fit(cfg, tmp_path / "whole", data=data)
    first = fit(replace(cfg, train=replace(cfg.train, max_steps=stop_at)), tmp_path / "split", data=data)
    assert first.steps == stop_at
    resumed = fit(cfg, tmp_path / "split", resume=True, data=data)
    assert resumed.steps == whole.steps == 90
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "parameters differ after resume"
    # speed and the process's peak RSS are measurements of the run, not results of it
    measured = {"samples_per_s": resumed.test.samples_per_s, "peak_memory_bytes": resumed.test.peak_memory_bytes}
    assert resumed.test == replace(whole.test, **measured)
    strip = lambda log: [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in log]  # noqa: E731
    assert strip(read_metrics(tmp_path / "split")) == strip(read_metrics(tmp_path / "whole"))


class _SignalAt(NullReporter):
    """A reporter that sends this process SIGINT after step N: the real interruption path, mid-run."""

    def __init__(self, at: int) -> None:
        self.at = at

    def step(self, step: int, stats: dict) -> None:
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_resume_under_a_schedule_sets_the_same_rates(tmp_path, schedule) -> None:
    cfg = replace(
        DIGITS,
        model=replace(DIGITS.model, hidden=(16,)),
        data=replace(DIGITS.data, train_subset=960),
        train=replace(DIGITS.train, epochs=2, lr=1e-2, schedule=schedule, warmup=8, final_lr_ratio=0.1, log_every=1),
    )
    data = load_sequences(cfg.data)
    whole = fit(cfg, tmp_path / "whole", data=data)
    with pytest.raises(Interrupted):
        fit(cfg, tmp_path / "split", reporter=_SignalAt(23), data=data)
    resumed = fit(cfg, tmp_path / "split", resume=True, data=data)
    assert resumed.steps == whole.steps == 60
    rates = [r["lr"] for r in read_metrics(tmp_path / "split") if r["kind"] == "step"]
    assert rates == [r["lr"] for r in read_metrics(tmp_path / "whole") if r["kind"] == "step"]
    assert rates[:8] == pytest.approx([1e-2 * k / 8 for k in range(1, 9)])  # warm-up
    assert rates[-1] == pytest.approx(1e-3) and max(rates) == pytest.approx(1e-2)
    a = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "parameters differ after resume"


def test_real_mnist_subset_beats_chance(tmp_path, mnist_dir) -> None:
    cfg = RunConfig(
        ModelConfig(input_size=28, hidden=(64,), layers=1, dropout=0.0),
        DataConfig(dataset="mnist", data_dir=mnist_dir, train_subset=4096, test_subset=2000),
        TrainConfig(epochs=2, batch_size=64, lr=3e-3),
        RuntimeConfig(device="cpu"),
    )
    result = fit(cfg, tmp_path)
    assert result.test.accuracy > 0.6, result.test  # chance is 0.1
    assert result.test.samples == 2000


@pytest.mark.parametrize(("sequence", "lengths"), [("pixels", "full"), ("permuted", "random"), ("cols", "random")])
def test_views_and_lengths_train_and_evaluate_under_every_engine(tmp_path, sequence, lengths) -> None:
    from typer.testing import CliRunner

    from rnnlab.cli import app

    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--sequence", sequence, "--lengths", lengths, "--hidden", "16",
            "--layers", "1", "--epochs", "1", "--permute-seed", "7", "--out", str(out)]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    saved = json.loads((out / "config.json").read_text())["data"]
    assert (saved["sequence"], saved["lengths"], saved["permute_seed"]) == (sequence, lengths, 7)
    accuracies = {
        engine: json.loads(runner.invoke(app, ["eval", str(out), "--json", "--engine", engine]).stdout)["accuracy"]
        for engine in ("cudnn", "unrolled", "bptt")
    }
    assert len(set(accuracies.values())) == 1, accuracies


def test_log_window_rate_counts_only_samples_this_process_timed(monkeypatch) -> None:
    # A window resumed from a checkpoint (or spanning an epoch boundary) already holds 60 samples; 40 more in 2 s.
    monkeypatch.setattr(stepping.time, "perf_counter", lambda: 12.0)
    stats = stepping.window_stats([5.0, 90.0, 100.0], (10.0, 60.0))
    assert stats == {"loss": 0.05, "accuracy": 0.9, "samples_per_s": 20.0}


def test_rmsprop_follows_keras_and_cooijmans_not_torchs_defaults() -> None:
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = make_optimizer(params, replace(DIGITS.train, optimizer="rmsprop", lr=2e-3, momentum=0.5))
    assert isinstance(opt, torch.optim.RMSprop)
    group = opt.param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"], group["momentum"]) == (2e-3, 0.9, 1e-5, 0.5)


@pytest.mark.slow  # trains to an accuracy
def test_identity_init_and_rmsprop_learn_digits_pixel_by_pixel(tmp_path, digits_pixels) -> None:
    """The pixel-MNIST recipe's options, end to end on the offline 64-step task."""
    cfg = replace(
        DIGITS,
        model=replace(DIGITS.model, input_size=1, hidden=(32,), init="identity"),
        data=replace(DIGITS.data, sequence="pixels"),
        train=replace(DIGITS.train, epochs=20, lr=3e-3, clip=1.0, optimizer="rmsprop"),
    )
    result = fit(cfg, tmp_path, data=digits_pixels)
    assert result.test.accuracy >= 0.7, result.test  # 79.9% when written; chance is 10%
    assert load_checkpoint(tmp_path / "best.pt")["config"]["model"]["init"] == "identity"


@pytest.mark.slow  # trains to an accuracy: 40 epochs
def test_the_digits_defaults_reach_95_percent_with_no_other_flag(tmp_path) -> None:
    from typer.testing import CliRunner

    from rnnlab.cli import app

    out = tmp_path / "digits"
    result = CliRunner().invoke(app, ["train", "--dataset", "digits", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["train"]["epochs"], cfg["train"]["batch_size"], cfg["model"]["hidden"]) == (40, 32, [128])
    assert (cfg["train"]["lr"], cfg["train"]["schedule"], cfg["train"]["clip"]) == (3e-3, "cosine", 1.0)
    tests = {r["which"]: r["test_accuracy"] for r in read_metrics(out) if r["kind"] == "test"}
    assert min(tests.values()) >= 0.95, tests  # 97.77% and 97.77% when written; 96.94-98.89% over seeds 0-4


def test_patience_stops_when_validation_stops_improving(tmp_path, digits) -> None:
    cfg = replace(DIGITS, train=replace(DIGITS.train, epochs=10, lr=1e-9, patience=2))  # nothing improves
    result = fit(cfg, tmp_path, data=digits)
    epochs = [r for r in read_metrics(tmp_path) if r["kind"] == "epoch"]
    assert len(epochs) == 3 and result.steps == 3 * 41  # the top reached after epoch 1, then 2 epochs of no rise
    assert len({r["val_accuracy"] for r in epochs}) == 1  # every epoch ties: best.pt holds the latest of them
    assert result.stopped_early.startswith("stopped early after epoch 3: validation accuracy has not risen above")
    assert "(reached after epoch 1) for 2 epochs (--patience 2); best.pt holds the parameters of the latest" in (
        result.stopped_early
    )
    assert result.best.epoch == 3 and load_checkpoint(tmp_path / "best.pt")["epoch"] == 3
    status = json.loads((tmp_path / "config.json").read_text())["status"]
    assert status["state"] == "finished" and "--patience 2" in status["detail"]
    # resumed as it is, it would only score the test set again: refused, naming what would train it on
    with pytest.raises(UserError, match=r"stopped early after epoch 3 \(--patience 2\); to train on, give a larger"):
        fit(cfg, tmp_path, resume=True, data=digits)
    more = replace(cfg, train=replace(cfg.train, patience=4))
    assert fit(more, tmp_path, resume=True, data=digits).steps == 5 * 41  # two more epochs, then it stops again
