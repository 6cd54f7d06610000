"""The CLI through typer's CliRunner: what each command hands to the library, and how it fails."""

import json
import sys

import pytest
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import RunConfig

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_train_builds_the_config_from_flags(tmp_path, monkeypatch) -> None:
    seen = {}

    def fake_fit(cfg, run_dir, reporter=None, resume=False, data=None, command=None, force=False, epoch_figure=None):
        seen.update(cfg=cfg, run_dir=run_dir, resume=resume, data=data, epoch_figure=epoch_figure)
        raise SystemExit(0)

    monkeypatch.setattr("rnnlab.train.loop.fit", fake_fit)
    out = tmp_path / "r"
    result = run(
        "train",
        "--dataset",
        "digits",
        "--cell",
        "gru",
        "--layers",
        "3",
        "--hidden",
        "8,16,32",
        "--bidirectional",
        "--dropout",
        "0.25",
        "--layout",
        "time",
        "--engine",
        "bptt",
        "--epochs",
        "7",
        "--lr",
        "0.01",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    cfg: RunConfig = seen["cfg"]
    assert (cfg.model.cell, cfg.model.layers, cfg.model.hidden, cfg.model.bidirectional) == (
        "gru",
        3,
        (8, 16, 32),
        True,
    )
    assert (cfg.model.dropout, cfg.model.input_size, cfg.data.layout) == (0.25, 8, "time")
    assert (cfg.runtime.engine, cfg.train.epochs, cfg.train.lr) == ("bptt", 7, 0.01)
    assert seen["run_dir"] == out and seen["resume"] is False
    from rnnlab.look.epoch import epoch_figure

    assert seen["epoch_figure"] is epoch_figure  # the trainer is handed the figure it draws; train/ never imports look/


def test_default_train_is_seed_001s_model(tmp_path, monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr("rnnlab.train.loop.fit", lambda cfg, *a, **k: (seen.update(cfg=cfg), exit(0)))
    monkeypatch.setattr("rnnlab.data.load_sequences", lambda cfg: None)
    assert run("train", "--out", str(tmp_path / "r")).exit_code == 0
    cfg = seen["cfg"]
    assert (cfg.model.cell, cfg.model.layers, cfg.model.hidden_sizes, cfg.model.dropout) == ("lstm", 2, (256, 256), 0.5)
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.batch_size, cfg.data.dataset) == ("adam", 1e-3, 128, "mnist")


def test_train_then_eval_on_digits(tmp_path) -> None:
    out = tmp_path / "r"
    result = run("train", "--dataset", "digits", "--hidden", "32", "--layers", "1", "--epochs", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "results" in result.output and "test" in result.output
    saved = RunConfig.from_dict(json.loads((out / "config.json").read_text()))  # written by fit, for every caller
    assert (saved.data.dataset, saved.model.hidden, saved.train.epochs) == ("digits", (32,), 2)
    for batch in ("7", "0", "1000"):  # one that does not divide the test set, the whole set at once, and more than it
        r = run("eval", str(out), "--json", "--batch-size", batch)
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        assert report["samples"] == 359 and 0 <= report["accuracy"] <= 1 and len(report["per_class_accuracy"]) == 10
        for key in ("loss", "samples_per_s", "peak_memory_bytes"):
            assert key in report
    by_engine = {
        e: json.loads(run("eval", str(out), "--json", "--engine", e).stdout)["accuracy"]
        for e in ("cudnn", "unrolled", "bptt")
    }
    assert len(set(by_engine.values())) == 1, by_engine


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["train", "--cell", "transformer"], "--cell"),
        (["train", "--layers", "0"], "--layers"),
        (["train", "--layers", "two"], "--layers"),
        (["train", "--hidden", "0"], "--hidden"),
        (["train", "--dropout", "1"], "--dropout"),
        (["train", "--engine", "warp"], "--engine"),
        (["train", "--dataset", "cifar"], "--dataset"),
        (["eval", "/no/such/run"], "does not exist"),
        (["train", "--bogus-flag"], "bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, expect, tmp_path) -> None:
    result = run(*args, "--out", str(tmp_path / "r")) if args[0] == "train" else run(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rnnlab: error:") and expect in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_existing_run_is_never_overwritten_without_force(tmp_path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text("precious")
    result = run("train", "--dataset", "digits", "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (out / "config.json").read_text() == "precious"


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("train", "Passes over the training set. [default: 5; digits: 40]"),
        ("train", "Run folder [default: runs/<timestamp>]."),
        ("eval", "[default: the one it trained with]"),
        ("compare-cells", "[default: every engine that runs compiled here; an interpreted one runs only when named]"),
        ("visualize", "Folder for what the command writes [default: RUN/figures]."),
        ("train", "Folder holding <Dataset>/raw/*-ubyte [default: $RNNLAB_DATA_DIR, else ~/.cache/rnnlab]."),
    ],
)
def test_help_keeps_bracketed_defaults(command: str, expect: str, monkeypatch) -> None:
    # rich reads "[default: ...]" as a markup tag and drops it unless escaped
    monkeypatch.setenv("COLUMNS", "250")
    result = run(command, "--help")
    assert result.exit_code == 0
    assert expect in " ".join(result.output.split())


class _InterruptImport:
    """A meta-path finder that behaves as a Ctrl-C arriving while `rnnlab.cli` (and so torch) is importing."""

    def find_spec(self, name, path=None, target=None):
        if name == "rnnlab.cli":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_cli_imports_ends_in_one_line(monkeypatch, capsys) -> None:
    from rnnlab import __main__ as entry

    monkeypatch.delitem(sys.modules, "rnnlab.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as stop:
        entry.main()
    assert stop.value.code == 130
    assert capsys.readouterr().err.splitlines() == ["rnnlab: stopped: by SIGINT (Ctrl-C)"]


def test_ctrl_c_inside_a_command_ends_in_one_line(tmp_path, monkeypatch, capfd) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlab.train.loop.fit", interrupted)
    with pytest.raises(SystemExit) as stop:
        app(["train", "--dataset", "digits", "--out", str(tmp_path / "run")], prog_name="rnnlab")
    assert stop.value.code == 130
    assert capfd.readouterr().err.strip() == "rnnlab: stopped: by SIGINT (Ctrl-C)"


def _render(renderable, width: int) -> str:
    import io

    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _train_result(steps: int, first_step: int):
    from types import SimpleNamespace

    def scored(which):
        score = SimpleNamespace(accuracy=0.7014, loss=1.0155)
        return SimpleNamespace(which=which, epoch=0, step=steps, val=score, test=score)

    return SimpleNamespace(
        run_dir="runs/d1",
        last=scored("last"),
        best=scored("best"),
        steps=steps,
        first_step=first_step,
        seconds=1.0,
        eval_seconds=0.1,
        stopped_early="",
    )


@pytest.mark.parametrize("width", [80, 120])
def test_tables_titles_captions_and_headings_read_whole(width) -> None:
    from types import SimpleNamespace

    import torch

    from rnnlab.cli.look_tables import step_table
    from rnnlab.cli.tables import compare_table, eval_table, results_table

    text = _render(results_table(_train_result(30, 29)), width)  # stopped by --max-steps inside the first epoch
    lines = text.splitlines()
    assert lines[0] == "results: runs/d1"
    for heading in ("last (checkpoint.pt)", "best validation (best.pt)", "epochs completed", "test accuracy"):
        assert heading in text, text
    assert "…" not in text and "1 step in this session (resumed at step 29), 30 in all" in text
    scores = SimpleNamespace(
        per_class_accuracy=[0.9] * 10,
        accuracy=0.9,
        loss=0.3,
        samples=359,
        samples_per_s=12000.0,
        peak_memory_bytes=2**20,
        peak_memory_kind="CPU resident",
    )
    text = _render(eval_table("runs/d1/best.pt", "best: epoch 3, step 123", "cudnn", scores), width)
    assert text.splitlines()[0] == "eval: runs/d1/best.pt (best: epoch 3, step 123; engine cudnn)"
    assert len(text.splitlines()) <= 1 + 16 + 2  # the title, the table, and its summary on one or two lines
    text = _render(step_table(torch.full((8, 10), 0.1), 7, "test sample 0", "a note", list(range(8)), None), width)
    assert text.splitlines()[0] == "per-step prediction, test sample 0 (true class 7)"
    text = _render(compare_table([], "lstm L=1 H=128 B=64 T=28 I=28 float32 on cpu"), width)  # Ctrl-C before a row
    assert " ".join(text.split()).endswith(
        "times are medians of repeats the engines take in turns (± half their range)"
    )


def test_a_stop_inside_an_epoch_says_its_step_once(monkeypatch) -> None:
    import io

    from rich.console import Console

    from rnnlab.cli import progress

    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, width=200))
    reporter = progress.RichReporter()
    reporter.epochs = 2
    record = {"train_loss": 2.04, "train_accuracy": 0.27, "val_loss": 1.82, "val_accuracy": 0.35, "seconds": 0.2}
    reporter.epoch({**record, "kind": "final", "step": 30}, new_best=False)
    reporter.epoch({**record, "kind": "epoch", "epoch": 0, "step": 41}, new_best=False)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("stopped at step 30: train loss 2.0400") and "(step" not in lines[0]
    assert lines[1].startswith("epoch 1/2 (step 41): train loss")


def test_an_epoch_whose_batches_were_all_skipped_shows_no_mean(monkeypatch) -> None:
    import io

    from rich.console import Console

    from rnnlab.cli import progress

    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, width=200))
    reporter = progress.RichReporter()
    reporter.epochs = 2
    record = {"kind": "epoch", "val_loss": 2.3, "val_accuracy": 0.1, "seconds": 0.1}
    reporter.epoch({**record, "epoch": 0, "step": 41, "train_loss": 2.29, "train_accuracy": 0.22,
                    "samples_per_s": 900.0, "skipped": 40}, new_best=False)  # fmt: skip
    reporter.epoch({**record, "epoch": 1, "step": 82, "train_loss": 0.0, "train_accuracy": 0.0,
                    "samples_per_s": 0.0, "skipped": 81}, new_best=False)  # fmt: skip
    first, second = out.getvalue().splitlines()
    assert "train loss 2.2900 acc 22.00% (40 batches skipped so far)" in first
    assert "train: every batch skipped, the loss not finite (81 so far)" in second and "0.0000" not in second
