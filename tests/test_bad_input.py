"""Every command fed wrong values: each case must end in one line on stderr, exit code 2, and no file changed."""

import contextlib
import errno
import json
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import assert_one_error_line, file_hashes
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.errors import UserError
from rnnlab.model.classifier import build_model
from rnnlab.runs import files as files_module
from rnnlab.runs import metrics as metrics_module
from rnnlab.runs.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.runs.config_file import write_config
from rnnlab.runs.metrics import read_metrics
from rnnlab.train.loop import NullReporter, fit

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def _idx(path: Path, dims: tuple[int, ...], payload: bytes | None = None) -> None:
    """An IDX file (MNIST's format): magic 0x0000 0x08 ndim, big-endian dims, uint8 data."""
    header = struct.pack(">HBB", 0, 8, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    n = 1
    for d in dims:
        n *= d
    path.write_bytes(header + (bytes(n) if payload is None else payload))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    cfg = RunConfig(
        ModelConfig(input_size=8, hidden=(16,), layers=1),
        DataConfig(dataset="digits", train_subset=64),
        TrainConfig(epochs=1, batch_size=32),
        RuntimeConfig(device="cpu"),
    )
    fit(cfg, w / "run")
    write_config(w / "run", cfg)
    # a run whose checkpoint holds another architecture than its config.json says
    other = w / "other"
    other.mkdir()
    write_config(other, cfg)
    wrong = build_model(ModelConfig(input_size=8, hidden=(32,), layers=1), seed=0)
    save_checkpoint(other / "checkpoint.pt", {"config": cfg.to_dict(), "model": wrong.state_dict()})
    # a run whose checkpoint is truncated
    broken = w / "broken"
    broken.mkdir()
    write_config(broken, cfg)
    (broken / "checkpoint.pt").write_bytes((w / "run" / "checkpoint.pt").read_bytes()[:1000])
    (w / "empty_run").mkdir()
    (w / "notes.txt").write_text("not a checkpoint")
    torch.save(wrong.state_dict(), w / "plain_state_dict.pt")
    # MNIST folders: truncated images, and images/labels that disagree in count
    for name, images in (("truncated", b"\x00" * 100), ("disagree", None)):
        raw = w / name / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for split, n in (("train", 60), ("t10k", 10)):
            _idx(raw / f"{split}-images-idx3-ubyte", (n, 28, 28), images)
            _idx(raw / f"{split}-labels-idx1-ubyte", (n - 1 if name == "disagree" else n,))
    (w / "no_mnist").mkdir()
    # runs edited by hand, and one that a live process is training
    live = {"state": "running", "pid": os.getpid(), "host": socket.gethostname()}
    edits = {
        "cfg_list": lambda raw: [1, 2],
        "cfg_float_batch": lambda raw: _set(raw, "train", batch_size=32.5),
        "cfg_nan_lr": lambda raw: _set(raw, "train", lr=float("nan")),
        "live": lambda raw: {**raw, "status": live},
        "finished": lambda raw: {**raw, "status": {"state": "finished"}},
    }
    for name, edit in edits.items():
        shutil.copytree(w / "run", w / name)
        raw = json.loads((w / name / "config.json").read_text())
        (w / name / "config.json").write_text(json.dumps(edit(raw)))
    shutil.copytree(w / "run", w / "broken_best")
    (w / "broken_best" / "best.pt").write_bytes((w / "run" / "best.pt").read_bytes()[:1000])
    for name, key, value in (("ckpt_no_step", "step", None), ("ckpt_bad_sums", "epoch_sums", [1.0])):
        shutil.copytree(w / "run", w / name)
        ckpt = torch.load(w / name / "checkpoint.pt", weights_only=True)
        ckpt.pop(key) if value is None else ckpt.update({key: value})
        torch.save(ckpt, w / name / "checkpoint.pt")
    return w


def _set(raw: dict, section: str, **values) -> dict:
    return {**raw, section: {**raw[section], **values}}


CASES = {
    # train: values of the wrong type or out of range
    "cell": (["train", "--cell", "transformer"], "--cell"),
    "layers-zero": (["train", "--layers", "0"], "--layers"),
    "layers-negative": (["train", "--layers", "-2"], "--layers"),
    "layers-type": (["train", "--layers", "two"], "--layers"),
    "hidden-zero": (["train", "--hidden", "0"], "--hidden"),
    "hidden-type": (["train", "--hidden", "64,x"], "--hidden"),
    "hidden-count": (["train", "--hidden", "8,8,8", "--layers", "2"], "--hidden"),
    "dropout-one": (["train", "--dropout", "1.0"], "--dropout"),
    "dropout-negative": (["train", "--dropout", "-0.5"], "--dropout"),
    "dropout-type": (["train", "--dropout", "half"], "--dropout"),
    "batch-size": (["train", "--batch-size", "0"], "--batch-size"),
    "lr": (["train", "--lr", "-1"], "--lr"),
    "epochs": (["train", "--epochs", "0"], "--epochs"),
    "val-fraction": (["train", "--val-fraction", "1.5"], "--val-fraction"),
    "engine": (["train", "--engine", "warp"], "--engine"),
    "dataset": (["train", "--dataset", "cifar"], "--dataset"),
    "sequence": (["train", "--sequence", "spiral"], "--sequence"),
    "layout": (["train", "--layout", "depth"], "--layout"),
    "optimizer": (["train", "--optimizer", "adagrad"], "--optimizer"),
    "momentum-with-adam": (["train", "--momentum", "0.9"], "--momentum"),
    "init": (["train", "--init", "xavier"], "--init"),
    "chrono-too-short": (["train", "--chrono", "2"], "--chrono"),
    "chrono-on-gru": (["train", "--chrono", "784", "--cell", "gru"], "--chrono"),
    "chrono-with-forget-bias": (["train", "--chrono", "784", "--forget-bias", "2"], "--forget-bias"),
    "schedule": (["train", "--schedule", "step"], "--schedule"),
    "warmup": (["train", "--warmup", "-5"], "--warmup"),
    "final-lr-ratio-without-decay": (["train", "--final-lr-ratio", "0.1"], "--schedule cosine"),
    "device": (["train", "--device", "tpu"], "--device"),
    "on-nan": (["train", "--on-nan", "ignore"], "--on-nan"),
    "unknown-flag": (["train", "--colour", "blue"], "--colour"),
    # train: files and folders
    "out-existing-run": (["train", "--dataset", "digits", "--out", "{w}/run"], "--force"),
    "out-under-a-file": (["train", "--dataset", "digits", "--out", "{w}/notes.txt/run"], "--out"),
    "mnist-missing": (["train", "--data-dir", "{w}/no_mnist"], "train-images-idx3-ubyte"),
    "mnist-truncated": (["train", "--data-dir", "{w}/truncated"], "cannot read mnist"),
    "mnist-disagree": (["train", "--data-dir", "{w}/disagree"], "disagree"),
    "resume-missing": (["train", "--resume", "{w}/nowhere"], "--resume"),
    "resume-no-checkpoint": (["train", "--resume", "{w}/empty_run"], "--resume"),
    "resume-truncated": (["train", "--resume", "{w}/broken"], "not a readable checkpoint"),
    "resume-other-model": (["train", "--resume", "{w}/other"], "holds another model"),
    "train-cuda-missing": (["train", "--dataset", "digits", "--device", "cuda"], "--device cuda"),
    # eval
    "eval-missing": (["eval", "{w}/nowhere.pt"], "does not exist"),
    "eval-empty-folder": (["eval", "{w}/empty_run"], "no best.pt"),
    "eval-text-file": (["eval", "{w}/notes.txt"], "not a readable checkpoint"),
    "eval-truncated": (["eval", "{w}/broken/checkpoint.pt"], "not a readable checkpoint"),
    "eval-plain-state-dict": (["eval", "{w}/plain_state_dict.pt"], "not an rnnlab checkpoint"),
    "eval-other-model": (["eval", "{w}/other"], "holds another model"),
    "eval-engine": (["eval", "{w}/run", "--engine", "warp"], "--engine"),
    "eval-split": (["eval", "{w}/run", "--split", "dev"], "--split"),
    "eval-batch-size": (["eval", "{w}/run", "--batch-size", "-1"], "--batch-size"),
    "eval-cuda-missing": (["eval", "{w}/run", "--device", "cuda"], "--device cuda"),
    # visualize, inspect, compare-cells
    "visualize-index": (["visualize", "{w}/run", "--index", "99999"], "--index"),
    "visualize-digit": (["visualize", "{w}/run", "--digit", "42"], "--digit"),
    "visualize-missing": (["visualize", "{w}/nowhere"], "does not exist"),
    "inspect-hidden": (["inspect", "--hidden", "-1"], "--hidden"),
    "inspect-batch-size": (["inspect", "--batch-size", "0"], "--batch-size"),
    "compare-dtype": (["compare-cells", "--dtype", "float16"], "--dtype"),
    "compare-engines": (["compare-cells", "--engines", "cudnn,warp"], "--engines"),
    "compare-layout": (["compare-cells", "--layout", "diagonal"], "--layout"),
    "compare-seq": (["compare-cells", "--seq", "0"], "--seq"),
    # values that are not finite, and sizes too large to allocate (refused before allocating, saying what they need)
    "lr-nan": (["train", "--lr", "nan"], "--lr: must be a finite number"),
    "lr-inf": (["train", "--lr", "inf"], "--lr: must be a finite number"),
    "dropout-nan": (["train", "--dropout", "nan"], "--dropout"),
    "momentum-inf": (["train", "--optimizer", "sgd", "--momentum", "inf"], "--momentum"),
    "weight-decay-negative": (["train", "--weight-decay", "-1e-4"], "--weight-decay"),
    "clip-negative": (["train", "--clip", "-1"], "--clip"),
    "final-lr-ratio-above-one": (["train", "--schedule", "cosine", "--final-lr-ratio", "1.5"], "--final-lr-ratio"),
    "hidden-huge": (["train", "--dataset", "digits", "--hidden", "1000000"], "needs at least"),
    "batch-huge": (["train", "--dataset", "digits", "--batch-size", "1000000000"], "needs at least"),
    "layers-huge": (["train", "--dataset", "digits", "--hidden", "20000", "--layers", "50"], "needs at least"),
    "epochs-float": (["train", "--epochs", "2.5"], "--epochs"),
    "patience-negative": (["train", "--patience", "-1"], "--patience"),
    "threads-negative": (["train", "--threads", "-2"], "--threads"),
    "log-every-zero": (["train", "--log-every", "0"], "--log-every"),
    "logger-unknown": (["train", "--logger", "wandb"], "--logger"),
    "readout": (["train", "--readout", "first"], "--readout"),
    "proj-negative": (["train", "--proj", "-3"], "--proj"),
    # resume: flags a run in progress cannot take, hand-edited run files, a run another process is training
    "resume-model-flag": (["train", "--resume", "{w}/run", "--hidden", "32"], "--hidden"),
    "resume-out": (["train", "--resume", "{w}/run", "--out", "{w}/elsewhere"], "--out"),
    "resume-force": (["train", "--resume", "{w}/run", "--force"], "--force"),
    "resume-live": (["train", "--resume", "{w}/live"], "being trained right now"),
    "resume-config-list": (["train", "--resume", "{w}/cfg_list"], "expected an object"),
    "resume-config-float-batch": (
        ["train", "--resume", "{w}/cfg_float_batch"],
        "train.batch_size: expected a whole number",
    ),
    "resume-config-nan-lr": (["train", "--resume", "{w}/cfg_nan_lr"], "train.lr: must be a finite number"),
    "resume-checkpoint-no-step": (["train", "--resume", "{w}/ckpt_no_step"], "step: expected a whole number"),
    "resume-checkpoint-bad-sums": (["train", "--resume", "{w}/ckpt_bad_sums"], "epoch_sums: expected three numbers"),
    "compare-runs-config-list": (["compare-runs", "{w}/cfg_list"], "expected an object"),
    # the other commands
    "eval-batch-size-float": (["eval", "{w}/run", "--batch-size", "2.5"], "--batch-size"),
    "eval-device": (["eval", "{w}/run", "--device", "tpu"], "--device"),
    "compare-repeats": (["compare-cells", "--repeats", "0"], "--repeats"),
    "compare-batch-size": (["compare-cells", "--batch-size", "0"], "--batch-size"),
    "compare-hidden": (["compare-cells", "--hidden", "0"], "--hidden"),
    "gradcheck-engine": (["gradcheck", "--engine", "warp"], "--engine"),
    "gradcheck-cell": (["gradcheck", "--cell", "transformer"], "--cell"),
    "gradcheck-seq": (["gradcheck", "--seq", "0"], "--seq"),
    "gradcheck-cell-of-another-engine": (["gradcheck", "--engine", "triton", "--cell", "rnn"], "--cell"),
    "runs-not-a-folder": (["runs", "{w}/notes.txt"], "not a folder"),
    "inspect-run-with-model-flags": (["inspect", "{w}/run", "--layers", "3"], "--layers"),
    "resume-fewer-steps": (["train", "--resume", "{w}/run", "--max-steps", "1"], "--max-steps above 2"),
    "resume-finished": (["train", "--resume", "{w}/finished"], "has finished 1 epoch(s), 2 steps"),
    "compare-json-file-folder": (["compare-cells", "--json-file", "{w}/run"], "--json-file: "),
    "compare-json-file-under-a-file": (["compare-cells", "--json-file", "{w}/notes.txt/x.json"], "--json-file"),
    "nproc-zero": (["train", "--nproc", "0"], "--nproc: must be >= 1"),
    "epochs-text": (["train", "--epochs", "ten"], "--epochs: expected a whole number"),
    "eval-batch-size-text": (["eval", "{w}/run", "--batch-size", "many"], "--batch-size: expected a whole number"),
    "triton-lengths-random": (["train", "--engine", "triton", "--lengths", "random"], "--lengths random"),
    "triton-rnn": (["train", "--engine", "triton", "--cell", "rnn"], "--cell rnn"),
    "data-dir-file": (["train", "--data-dir", "{w}/notes.txt"], "--data-dir: "),
    "mnist-download-fails-and-leaves-no-folder": (["train", "--data-dir", "{w}/new/data"], "downloading it failed"),
    "resume-broken-best": (["train", "--resume", "{w}/broken_best", "--epochs", "2"], "move it aside"),
    "seed-huge": (["train", "--seed", "99999999999999999999"], "--seed: must be in [0, 9,223,372,036,854,775,807]"),
    "permute-seed-negative": (["train", "--sequence", "permuted", "--permute-seed", "-1"], "--permute-seed"),
    "compare-json-file-name-too-long": (["compare-cells", "--json-file", "{w}/new/" + "a" * 300], "--json-file"),
    # paths the file system refuses, and a run another process is training
    "out-name-too-long": (["train", "--dataset", "digits", "--out", "{w}/" + "a" * 300], "--out: cannot create"),
    "out-in-proc": (["train", "--dataset", "digits", "--out", "/proc/rnnlab-run"], "--out: cannot write to /proc"),
    "force-live": (["train", "--dataset", "digits", "--out", "{w}/live", "--force"], "being trained right now"),
    "eval-name-too-long": (["eval", "{w}/" + "a" * 300], "cannot use"),
    "runs-name-too-long": (["runs", "{w}/" + "a" * 300], "cannot use"),
    "visualize-out-too-long": (["visualize", "{w}/run", "--out", "{w}/" + "a" * 300], "--out: cannot create"),
}
NEEDS_NO_CUDA = {"train-cuda-missing", "eval-cuda-missing"}


@pytest.mark.parametrize("case", [pytest.param(k, marks=NO_CUDA) if k in NEEDS_NO_CUDA else k for k in CASES])
def test_bad_input(case, world, tmp_path, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr("torchvision.datasets.MNIST.download", offline)
    monkeypatch.chdir(tmp_path)  # a train without --out would write runs/ here
    args, expect = CASES[case]
    args = [a.replace("{w}", str(world)) for a in args]
    if args[0] == "train" and "--out" not in args and "--resume" not in args:
        args += ["--out", str(tmp_path / "new_run")]
    before = file_hashes(world)
    assert_one_error_line(CliRunner().invoke(app, args), expect)
    assert file_hashes(world) == before, "a file changed"
    assert list(tmp_path.iterdir()) == [], "something was written"


# ---- a full disk: one line, and what was written before stays intact --------------------------------------------

TINY_RUN = RunConfig(
    ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
    DataConfig(dataset="digits", train_subset=96),
    TrainConfig(epochs=4, batch_size=32, lr=0.05, log_every=1),
    RuntimeConfig(device="cpu"),
)


@contextlib.contextmanager
def small_disk(path: Path, size: int) -> Iterator[bool]:
    """A tmpfs of ``size`` bytes at ``path`` where this process may mount one (root); False where it may not, and
    the test injects ENOSPC instead."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


class _Full:
    """A file on a disk that has just filled up."""

    def __init__(self, real) -> None:
        self.real = real

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.real.close()


class _FillUp(NullReporter):
    """Fills the disk (real: a filler file; injected: every later write fails) at a chosen moment: at the second
    epoch's end, after best.pt and before checkpoint.pt; or after step 4, before its metrics line."""

    def __init__(self, run: Path, real_disk: bool, monkeypatch, target: str) -> None:
        self.run, self.real_disk, self.monkeypatch, self.target = run, real_disk, monkeypatch, target

    def epoch(self, record: dict, new_best: bool) -> None:
        if self.target == "checkpoint" and record["epoch"] == 1:
            self.fill()

    def step(self, step: int, stats: dict) -> None:
        if self.target == "metrics" and step == 4:
            self.fill()

    def fill(self) -> None:
        if self.real_disk:
            with contextlib.suppress(OSError), (self.run.parent / "filler").open("wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        elif self.target == "metrics":
            self.monkeypatch.setattr(metrics_module, "open", _full_open, raising=False)
        else:
            real = files_module.os.fdopen
            self.monkeypatch.setattr(files_module.os, "fdopen", lambda *a, **k: _Full(real(*a, **k)))


def _full_open(*args, **kwargs) -> _Full:
    return _Full(open(*args, **kwargs))  # noqa: SIM115 (closed by _Full.__exit__)


@pytest.mark.parametrize("disk", ["tmpfs", "injected"])
@pytest.mark.parametrize(("target", "file"), [("checkpoint", "checkpoint.pt"), ("metrics", "metrics.jsonl")])
def test_a_full_disk_is_one_line_and_keeps_what_was_written(tmp_path, monkeypatch, disk, target, file) -> None:
    # metrics: 40 steps an epoch, so that the lines after the fill outgrow the page tmpfs had left in the file
    cfg = TINY_RUN if target == "checkpoint" else replace(TINY_RUN, data=replace(TINY_RUN.data, train_subset=1280))
    data = load_sequences(cfg.data)
    with small_disk(tmp_path / "disk", 1 << 20) as mounted:
        if disk == "tmpfs" and not mounted:
            pytest.skip("this process may not mount a tmpfs (not root); the injected case covers the same path")
        run = tmp_path / "disk" / "run"
        with pytest.raises(UserError) as stop:
            fit(cfg, run, reporter=_FillUp(run, disk == "tmpfs", monkeypatch, target), data=data)
        message = str(stop.value)
        kept = (
            "the previous checkpoint.pt is intact" if file == "checkpoint.pt" else "the lines written before are intact"
        )
        assert message == f"no space left on the device writing {run / file}; {kept}", message
        monkeypatch.undo()
        assert not list(run.glob(".*.tmp")), "a temporary file was left behind"
        assert not read_metrics(run).damaged and len(read_metrics(run)) >= 3  # what was written before is whole
        if target == "checkpoint":
            assert load_checkpoint(run / "checkpoint.pt")["step"] == 3
            assert load_checkpoint(run / "best.pt")["step"] in (3, 6)
