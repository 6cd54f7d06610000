"""Files and names that someone hands you: a checkpoint, config.json, metrics.jsonl, an image or a file name made to
crash, hang, exhaust memory, escape a folder or write to the terminal. A refusal is one line on stderr, exit code 2,
no traceback, no file outside the folders named written or changed; a name is shown as written; where size is the
attack, the peak memory of the process is bounded."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_one_error_line, file_hashes
from PIL import Image
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.train.loop import fit

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A trained digits run, and hostile copies of its files."""
    w = tmp_path_factory.mktemp("hostile")
    cfg = RunConfig(
        ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
        DataConfig(dataset="digits", train_subset=64),
        TrainConfig(epochs=1, batch_size=32),
        RuntimeConfig(device="cpu"),
    )
    fit(cfg, w / "run")
    best = torch.load(w / "run" / "best.pt", weights_only=True)

    def checkpoint(name: str, edit) -> None:
        ckpt = copy.deepcopy(best)
        edit(ckpt)
        torch.save(ckpt, w / name)

    pre = best["preprocessing"]
    names = ("[/]", "[red]zero", "\x1b]0;owned\x07title", "\x1b[2Jclear", "$\\frac{$", "5", "6", "7", "8", "9")
    checkpoint("names.pt", lambda c: c.update(preprocessing={**pre, "class_names": names}))
    checkpoint("model[final].pt", lambda c: None)
    deep: list = []
    for _ in range(200):  # deeper than rnnlab writes; the check walks it without recursing, as it would 200,000
        deep = [deep]
    checkpoint("nested-mean.pt", lambda c: c.update(preprocessing={**pre, "mean": deep}))
    checkpoint("huge-hidden.pt", lambda c: c["config"]["model"].update(hidden=[200_000]))
    checkpoint("huge-image.pt", lambda c: c.update(preprocessing={**pre, "image_size": [100_000, 100_000]}))
    checkpoint("seed-huge.pt", lambda c: c.update(preprocessing={**pre, "permute_seed": 2**70}))
    checkpoint("seed-negative.pt", lambda c: c.update(preprocessing={**pre, "permute_seed": -5}))
    checkpoint("std-zero.pt", lambda c: c.update(preprocessing={**pre, "std": 0.0}))
    checkpoint("std-nan.pt", lambda c: c.update(preprocessing={**pre, "std": float("nan")}))
    nan = {k: torch.full_like(v, float("nan")) for k, v in best["model"].items()}
    checkpoint("nan-weights.pt", lambda c: c.update(model=nan))
    for kind, value in (("int", 3), ("none", None), ("text", "weights")):
        checkpoint(f"model-{kind}.pt", lambda c, value=value: c.update(model=value))

    def run(name: str, edit) -> None:
        shutil.copytree(w / "run", w / name)
        raw = json.loads((w / name / "config.json").read_text())
        edit(raw)
        (w / name / "config.json").write_text(json.dumps(raw))

    run("epochs-huge", lambda r: r["train"].update(epochs=10**20))
    run("threads-million", lambda r: r["train"].update(threads=1_000_000))
    run("linked-figures", lambda r: None)
    (w / "elsewhere").mkdir()
    (w / "linked-figures" / "figures").symlink_to(w / "elsewhere")
    sparse = {k: v.to_sparse() for k, v in best["model"].items()}
    checkpoint("sparse.pt", lambda c: c.update(model=sparse))
    expanded = {k: torch.zeros(1).expand(v.shape) for k, v in best["model"].items()}
    checkpoint("expanded.pt", lambda c: c.update(model=expanded))
    run("resumes-garbage", lambda r: r.update(resumes=[1, "x", None]))
    run("pid-huge", lambda r: r.update(status={"state": "running", "pid": 2**70, "host": os.uname().nodename}))
    run("at-number", lambda r: r["made_by"].update(at=12345))
    run("nested-config", lambda r: None)
    for name, edit in (
        ("rng-garbage", lambda c: c.update(rng={"torch": torch.zeros(3)})),
        ("adam-shape", lambda c: next(iter(c["optimizer"]["state"].values())).update(exp_avg=torch.zeros(2, 2))),
    ):
        shutil.copytree(w / "run", w / name)
        last = torch.load(w / name / "checkpoint.pt", weights_only=True)
        edit(last)
        torch.save(last, w / name / "checkpoint.pt")
    shutil.copytree(w / "run", w / "blank-lines")
    with open(w / "blank-lines" / "metrics.jsonl", "a") as f:
        f.write("\n   \n")
    (w / "nested-config" / "config.json").write_text('{"model": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    shutil.copytree(w / "run", w / "nested-metrics")
    with open(w / "nested-metrics" / "metrics.jsonl", "a") as f:
        f.write("[" * 200_000 + "]" * 200_000 + "\n")  # longer than any line rnnlab writes
        f.write("[" * 20_000 + "]" * 20_000 + "\n")  # short enough to be read, too deep to be parsed
    return w


def _refused(world: Path, args: list[str], expect: str) -> str:
    """The command ends in one error line containing ``expect``, exit code 2, no traceback, nothing changed."""
    before = file_hashes(world)
    line = assert_one_error_line(CliRunner().invoke(app, [a.replace("{w}", str(world)) for a in args]), expect)
    assert file_hashes(world) == before, "a file changed"
    return line


REFUSED = {
    "config-asks-for-200000-hidden-units": (["eval", "{w}/huge-hidden.pt"], "holds another model than its config"),
    "image-size-100000-squared": (["eval", "{w}/huge-image.pt"], "image_size"),
    "permute-seed-2-to-the-70": (["eval", "{w}/seed-huge.pt"], "permute_seed: must be in [0,"),
    "permute-seed-negative": (["eval", "{w}/seed-negative.pt"], "permute_seed: must be in [0,"),
    "std-zero": (["eval", "{w}/std-zero.pt"], "std: must be > 0"),
    "std-nan": (["eval", "{w}/std-nan.pt"], "std: expected a finite number"),
    "weights-all-nan": (["eval", "{w}/nan-weights.pt"], "holds NaN or infinite values"),
    "model-entry-int": (["eval", "{w}/model-int.pt"], "holds no model weights (its model entry is int"),
    "model-entry-none": (["eval", "{w}/model-none.pt"], "its model entry is NoneType"),
    "model-entry-text": (["eval", "{w}/model-text.pt"], "its model entry is str"),
    "epochs-10-to-the-20": (["train", "--resume", "{w}/epochs-huge"], "train.epochs: must fit in 64 bits"),
    "resumes-garbage": (["train", "--resume", "{w}/resumes-garbage"], "resumes[0]: expected an object"),
    "pid-2-to-the-70": (["train", "--resume", "{w}/pid-huge"], "status.pid: expected a whole number"),
    "rng-state-not-torch-s": (["train", "--resume", "{w}/rng-garbage", "--epochs", "2"], "RNG states"),
    "adam-state-of-another-shape": (["train", "--resume", "{w}/adam-shape", "--epochs", "2"], "its exp_avg is (2, 2)"),
    "config-nested-100000-deep": (["train", "--resume", "{w}/nested-config"], "nested deeper than 32 levels"),
    "threads-a-million": (["train", "--resume", "{w}/threads-million"], "train.threads: must be in [0, 1024]"),
    "figures-a-symbolic-link": (["visualize", "{w}/linked-figures"], "is a symbolic link"),
    "sparse-weights": (["eval", "{w}/sparse.pt"], "not dense floating-point tensors"),
    "stride-0-weights": (["eval", "{w}/expanded.pt"], "not dense floating-point tensors"),
    "model-too-large-for-memory": (["inspect", "--hidden", "300000"], "is free on cpu"),
    "checkpoint-nested-200-deep": (["eval", "{w}/nested-mean.pt"], "nested deeper than 32 levels"),
    "device-file-as-image": (["predict", "{w}/run", "/dev/zero"], "not a regular file"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_hostile_file_is_refused_in_one_line(case: str, world: Path) -> None:
    _refused(world, *REFUSED[case])


@pytest.mark.parametrize("folder", ["pid-huge", "at-number", "nested-config"])
def test_runs_passes_over_a_hostile_run_with_a_warning_and_lists_the_others(folder: str, world: Path) -> None:
    result = CliRunner().invoke(app, ["runs", str(world), "--json"])
    assert result.exit_code == 0 and result.exception is None, result.output
    listed = [Path(r["run"]).name for r in json.loads(result.stdout)["runs"]]
    assert "run" in listed and folder not in listed
    assert any(line.startswith("rnnlab: warning: ") and folder in line for line in result.stderr.splitlines())


def test_a_metrics_line_nested_200000_deep_is_skipped_unparsed(world: Path) -> None:
    result = CliRunner().invoke(app, ["runs", str(world / "nested-metrics")])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "line 4 is longer than any rnnlab writes (over 65,536 bytes); skipped" in result.stderr
    assert "line 5 is nested deeper than 32 levels; skipped" in result.stderr


def test_names_from_a_checkpoint_are_shown_as_written_in_the_terminal_and_in_figures(world: Path, tmp_path) -> None:
    digit = tmp_path / "seven.npy"
    np.save(digit, np.eye(8, dtype=np.float32))
    result = CliRunner().invoke(app, ["predict", str(world / "names.pt"), str(digit), "--figure", str(tmp_path / "f")])
    assert result.exit_code == 0 and result.exception is None, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output  # no escape reaches the terminal raw
    columns = result.stdout
    for shown in ("[/]", "[red]zero", "\\x1b]0;owned\\x07title", "\\x1b[2Jclear", "$\\frac{$"):
        assert shown in columns.replace("\n", ""), shown
    figure = tmp_path / "f" / "seven_steps.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_checkpoint_file_name_with_brackets_is_shown_whole(world: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(world / "model[final].pt"), "--test-subset", "16"])
    assert result.exit_code == 0, result.output
    assert "model[final].pt" in result.stdout


def test_an_image_name_with_terminal_escapes_reaches_stderr_made_visible(world: Path, tmp_path) -> None:
    name = tmp_path / "\x1b[2J\x1b]0;owned\x07.png"
    line = _refused(world, ["predict", "{w}/run", str(name)], "no such file")
    assert "\\x1b[2J\\x1b]0;owned\\x07.png" in line and "\x1b" not in line


def test_a_figure_never_escapes_the_folder_named(tmp_path, world: Path) -> None:
    """The sweep's case exactly: `predict RUN 'esc/p[q/../../outside/t]' --figure esc/figs`, a real file there."""
    (tmp_path / "esc" / "p[q").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    picture = np.zeros((40, 40), dtype=np.uint8)
    picture[8:32, 18:22] = 255
    Image.fromarray(picture).save(tmp_path / "outside" / "t]", format="PNG")
    before = file_hashes(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab", "predict", str(world / "run"), "esc/p[q/../../outside/t]", "--figure",
         "esc/figs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = {k for k, v in file_hashes(tmp_path).items() if before.get(k) != v}
    kinds = ("steps", "layer1_hidden_states", "layer1_cell_states", "layer1_gates")  # predict --figure's figures
    assert written == {"esc/figs", *(f"esc/figs/t]_{kind}.png" for kind in kinds)}, written


@pytest.mark.parametrize("kind", ["checkpoint", "image"])
def test_a_fifo_is_refused_not_waited_on(kind: str, world: Path, tmp_path) -> None:
    fifo = tmp_path / ("fifo.pt" if kind == "checkpoint" else "fifo.png")
    os.mkfifo(fifo)
    args = ["eval", str(fifo)] if kind == "checkpoint" else ["predict", str(world / "run"), str(fifo)]
    done = subprocess.run([sys.executable, "-m", "rnnlab", *args], capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "not a regular file" in lines[0], done.stderr


def _measured(args: list[str]) -> tuple[int, str, str, int]:
    """Exit code, stdout (its end), stderr and peak resident memory in bytes of ``rnnlab ARGS``, measured by a fresh
    Python whose only child is the command, so that no earlier child counts."""
    probe = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run([sys.executable, '-m', 'rnnlab', *sys.argv[1:]], capture_output=True, text=True);"
        "print(json.dumps([p.returncode, p.stdout[-20000:], p.stderr, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024]))"
    )
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=900)
    code, out, err, peak = json.loads(done.stdout)
    return code, out, err, peak


@pytest.mark.slow
def test_size_attacks_take_bounded_memory(world: Path, tmp_path) -> None:
    """A 13,000 x 13,000 PNG (a few hundred KiB on disk), a metrics.jsonl of 1.2 million lines, and a .npy stack of
    20,000 digits, each against the peak memory of the same command on a file of ordinary size."""
    base_code, _, _, base = _measured(["runs", str(world / "run"), "--json"])
    assert base_code == 0
    big = tmp_path / "big-metrics"
    shutil.copytree(world / "run", big)
    line = json.dumps({"kind": "step", "epoch": 0, "step": 1, "loss": 1.0, "accuracy": 0.5, "lr": 0.1}) + "\n"
    with open(big / "metrics.jsonl", "a") as f:
        for _ in range(12):
            f.write(line * 100_000)
    assert (big / "metrics.jsonl").stat().st_size > 90_000_000
    code, out, err, peak = _measured(["runs", str(big), "--json"])
    assert code == 0 and json.loads(out)["runs"][0]["steps"] >= 1, err
    assert peak < base + 200 * 2**20, (peak / 2**20, base / 2**20)  # the whole file parsed: over 1 GiB more

    small = tmp_path / "small.npy"
    np.save(small, np.eye(8, dtype=np.float32))
    base_code, _, _, base = _measured(["predict", str(world / "run"), str(small)])
    assert base_code == 0
    png = tmp_path / "huge.png"
    Image.new("L", (13_000, 13_000)).save(png)
    assert png.stat().st_size < 2**20
    code, out, err, peak = _measured(["predict", str(world / "run"), str(png)])
    assert code == 2 and "larger than rnnlab reads" in err and "Traceback" not in err, err
    assert peak < base + 200 * 2**20, (peak / 2**20, base / 2**20)  # decoded: 6 GiB

    stack = tmp_path / "stack.npy"
    rng = np.random.default_rng(0)
    np.save(stack, rng.integers(0, 256, size=(20_000, 8, 8), dtype=np.uint8))
    code, out, err, peak = _measured(["predict", str(world / "run"), str(stack), "--json"])
    assert code == 0, err
    assert peak < base + 400 * 2**20, (peak / 2**20, base / 2**20)


def test_blank_lines_in_metrics_are_passed_over(world: Path) -> None:
    result = CliRunner().invoke(app, ["runs", str(world / "blank-lines"), "--json"])
    assert result.exit_code == 0 and result.exception is None and not result.stderr, result.output


def test_a_file_name_cannot_forge_a_line_show_emoji_or_break_on_bytes_that_are_not_utf8(world: Path, tmp_path) -> None:
    digit = np.eye(8, dtype=np.float32)
    names = ["ev\nrnnlab: error: forged.npy", ":thumbs_up:.npy", os.fsdecode(b"bad\xff.npy")]
    for name in names:
        np.save(tmp_path / name, digit)
    result = CliRunner().invoke(
        app, ["predict", str(world / "run"), *(str(tmp_path / n) for n in names), "--figure", str(tmp_path / "f")]
    )
    assert result.exit_code == 0 and result.exception is None, result.output
    lines = result.stdout.splitlines()
    assert not any(line.lstrip("│ ").startswith("rnnlab: error: forged") for line in lines)  # no forged line
    assert "ev\\x0arnnlab: error: forged.npy" in result.stdout and ":thumbs_up:.npy" in result.stdout
    assert "\U0001f44d" not in result.stdout and "bad\\xff.npy" in result.stdout
    stems = {p.name.rsplit("_", 1)[0].removesuffix("_layer1_cell").removesuffix("_layer1_hidden").removesuffix(
        "_layer1") for p in (tmp_path / "f").iterdir()}  # fmt: skip
    assert stems == {":thumbs_up:", "bad_", "ev_rnnlab: error: forged"}, stems


def test_a_long_stack_streams_valid_json_on_stdout_whatever_the_progress_bar_does(world: Path, tmp_path) -> None:
    stack = tmp_path / "stack.npy"
    np.save(stack, np.random.default_rng(0).integers(0, 256, size=(300, 8, 8), dtype=np.uint8))
    result = CliRunner().invoke(app, ["predict", str(world / "run"), str(stack), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert len(document["images"]) == 300 and document["images"][299]["source"].endswith("stack.npy[299]")


def test_an_unusable_figure_folder_is_refused_before_any_json_is_printed(world: Path, tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    digit = tmp_path / "d.npy"
    np.save(digit, np.eye(8, dtype=np.float32))
    result = CliRunner().invoke(
        app, ["predict", str(world / "run"), str(digit), "--json", "--figure", str(tmp_path / "a-file")]
    )
    assert result.exit_code == 2 and result.stdout == "", result.output


def test_metrics_records_keep_bounded_size_and_sane_values() -> None:
    from rnnlab.runs.metrics import parse

    fat = {"kind": "step", "epoch": 0, "step": 1, "loss": 1.0, "accuracy": 0.5, "lr": 0.1, "x": [{}] * 10_000}
    many = {**fat, "x": 0, **{f"k{i}": i for i in range(2_000)}}
    huge = {"kind": "epoch", "epoch": 0, "step": 1, "train_loss": 1e308, "train_accuracy": 0.5, "val_loss": 1.0,
            "val_accuracy": 0.5, "seconds": 1.0}  # fmt: skip
    metrics = parse("".join(json.dumps(r) + "\n" for r in (fat, many, huge)))
    assert [len(r) for r in metrics] == [6, 6 + 16]  # the lists go; 16 undeclared keys are kept
    assert "a loss in [0, 1e30]" in metrics.warnings(Path("m"))[0]
