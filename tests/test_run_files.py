"""Run files torn by a crash or edited by hand: every command that reads a run folder survives them.

A torn last line of metrics.jsonl (what kill -9 mid-append leaves) is dropped by resume, which then ends with the
parameters of an uninterrupted run; a damaged line elsewhere is skipped with a warning by the commands that only
read; a config.json or checkpoint that does not validate ends in one line naming the file and the setting."""

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.runs.checkpoint import load_checkpoint
from rnnlab.runs.metrics import parse, read_metrics
from rnnlab.train.loop import NullReporter, fit

CFG = RunConfig(
    ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
    DataConfig(dataset="digits", train_subset=96),
    TrainConfig(epochs=2, batch_size=32, lr=1e-2, log_every=1, schedule="constant", clip=0.0),
    RuntimeConfig(device="cpu"),
)  # 3 steps per epoch, 6 in all


class Notes(NullReporter):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def notice(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("runs")
    data = load_sequences(CFG.data)
    fit(CFG, root / "whole", data=data)
    stopped = replace(CFG, train=replace(CFG.train, max_steps=4, checkpoint_every=1))
    fit(stopped, root / "stopped", data=data)  # mid-epoch 2, checkpoint at step 4
    whole_lines = (root / "whole" / "metrics.jsonl").read_text().splitlines()
    next_line = next(line for line in whole_lines if json.loads(line)["step"] == 5) + "\n"
    return {"root": root, "data": data, "next": next_line, "whole": load_checkpoint(root / "whole" / "checkpoint.pt")}


@pytest.mark.slow  # a resume for every byte of the line
def test_a_torn_last_line_at_every_byte_resumes_to_the_uninterrupted_parameters(runs, tmp_path) -> None:
    line = runs["next"].encode()
    assert len(line) > 60
    for cut in range(1, len(line)):
        run = tmp_path / f"cut{cut}"
        shutil.copytree(runs["root"] / "stopped", run)
        with (run / "metrics.jsonl").open("ab") as f:
            f.write(line[:cut])  # a crash while this line was being appended
        notes = Notes()
        fit(CFG, run, reporter=notes, resume=True, data=runs["data"])
        params = load_checkpoint(run / "checkpoint.pt")["model"]
        assert all(torch.equal(params[k], runs["whole"]["model"][k]) for k in params), f"cut at byte {cut}"
        torn = cut < len(line) - 1  # cut just before its newline, the line is whole (and past the checkpoint)
        assert any("cut short" in n for n in notes.notes) == torn, (cut, notes.notes)
        shutil.rmtree(run)


def _damage(run: Path, number: int, text: str) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[number - 1] = text
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


DAMAGE = {
    "garbage": ("not json at all", "is not valid JSON"),
    "no kind": ('{"epoch": 0, "step": 2, "loss": 1.0}', "no known kind"),
    "wrong type": ('{"kind": "step", "epoch": 0, "step": "two", "loss": 1.0, "accuracy": 0.5, "lr": 0.01}', "step"),
    "nan accuracy": (
        '{"kind": "epoch", "epoch": 0, "step": 3, "train_loss": 1, "train_accuracy": NaN, '
        '"val_loss": 1, "val_accuracy": 0.5, "seconds": 1}',
        "train_accuracy",
    ),  # fmt: skip
}


# the four commands and a resume, about 4 s a kind: one kind in `make test-fast`, every kind in `make test`
@pytest.mark.parametrize("kind", [k if k == "garbage" else pytest.param(k, marks=pytest.mark.slow) for k in DAMAGE])
def test_read_only_commands_skip_a_damaged_line_with_a_warning(runs, tmp_path, kind) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["root"] / "whole", run)
    text, reason = DAMAGE[kind]
    _damage(run, 2, text)
    for args in (["compare-runs", str(run), "--json"], ["runs", str(tmp_path), "--json"], ["eval", str(run), "--json"],
                 ["visualize", str(run), "--out", str(tmp_path / "figs")]):  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        if args[0] in ("compare-runs", "runs", "visualize"):
            warnings = [line for line in result.stderr.splitlines() if line.startswith("rnnlab: warning:")]
            assert len(warnings) == 1 and "line 2" in warnings[0] and reason in warnings[0], (args, result.stderr)
    notes = Notes()
    fit(replace(CFG, train=replace(CFG.train, epochs=3)), run, reporter=notes, resume=True, data=runs["data"])
    assert any("line 2" in n and "dropped" in n for n in notes.notes), notes.notes
    assert not read_metrics(run).damaged  # resume rewrote the log without it


def test_the_reader_tells_a_torn_line_from_a_damaged_one() -> None:
    good = json.dumps({"kind": "step", "epoch": 0, "step": 1, "loss": 2.0, "accuracy": 0.1, "lr": 0.01})
    metrics = parse(f"{good}\n{good[:20]}")
    assert len(metrics) == 1 and metrics.damaged[0].torn and metrics.damaged[0].line == 2
    metrics = parse(f"{good[:20]}\n{good}\n")
    assert len(metrics) == 1 and not metrics.damaged[0].torn and metrics.damaged[0].line == 1
    loss_nan = parse(json.dumps({**json.loads(good), "loss": None}) + "\n")
    assert len(loss_nan) == 1 and not loss_nan.damaged  # a loss that was not finite is written as null


CONFIG_EDITS = {
    "a list": ([1, 2, 3], "expected an object"),
    "float batch size": ({"train": {"batch_size": 32.5}}, "train.batch_size: expected a whole number, got 32.5"),
    "nan lr": ({"train": {"lr": math.nan}}, "train.lr: must be a finite number"),
    "unknown setting": ({"model": {"heads": 4}}, "unknown model settings ['heads']"),
    "section not an object": ({"data": "digits"}, "data: expected an object of settings"),
    "not json": (None, "is not valid JSON"),
}


@pytest.mark.parametrize("edit", CONFIG_EDITS)
def test_a_hand_edited_config_json_is_one_line_naming_the_file_and_the_setting(runs, tmp_path, edit) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["root"] / "whole", run)
    value, expect = CONFIG_EDITS[edit]
    path = run / "config.json"
    if value is None:
        path.write_text('{"model": {')
    elif isinstance(value, list):
        path.write_text(json.dumps(value))
    else:
        raw = json.loads(path.read_text())
        for section, settings in value.items():
            raw[section] = settings if not isinstance(settings, dict) else {**raw[section], **settings}
        path.write_text(json.dumps(raw))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for args in (["train", "--resume", str(run)], ["compare-runs", str(run)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        (line,) = result.stderr.strip().splitlines()
        assert str(path) in line and expect in line, line
    listed = CliRunner().invoke(app, ["runs", str(tmp_path)])
    assert listed.exit_code == 0 and "skipped" in listed.stderr and expect in listed.stderr, listed.output
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


CHECKPOINT_EDITS = {
    "no step": (lambda c: c.pop("step"), "step: expected a whole number >= 0, found nothing"),
    "epoch as text": (lambda c: c.update(epoch="one"), "epoch: expected a whole number >= 0, found str"),
    "sums cut": (lambda c: c.update(epoch_sums=[1.0]), "epoch_sums: expected three numbers"),
    "bad config": (lambda c: c["config"]["train"].update(lr=-1.0), "train.lr: must be > 0"),
}


@pytest.mark.parametrize("edit", CHECKPOINT_EDITS)
def test_a_hand_edited_checkpoint_is_one_line_naming_the_file_and_the_setting(runs, tmp_path, edit) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["root"] / "stopped", run)
    change, expect = CHECKPOINT_EDITS[edit]
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    change(ckpt)
    torch.save(ckpt, run / "checkpoint.pt")
    before = (run / "checkpoint.pt").read_bytes()
    commands = [["train", "--resume", str(run)]] + (
        [["eval", str(run / "checkpoint.pt")]] if edit == "bad config" else []
    )
    for args in commands:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        (line,) = result.stderr.strip().splitlines()
        assert "checkpoint.pt" in line and expect in line, line
    assert (run / "checkpoint.pt").read_bytes() == before
