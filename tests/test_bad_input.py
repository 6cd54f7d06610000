"""Every command fed wrong values: each case must end in one line on stderr, exit code 2, and no file changed."""

import hashlib
import struct
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import save_checkpoint
from rnnlab.runs.config_file import write_config
from rnnlab.train.loop import fit

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
        TrainConfig(epochs=1, batch_size=32, device="cpu"),
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
    return w


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
}
NEEDS_NO_CUDA = {"train-cuda-missing", "eval-cuda-missing"}


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def test_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30


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
    before = _snapshot(world)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnnlab: error: ") and expect in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert _snapshot(world) == before, "a file changed"
    assert list(tmp_path.iterdir()) == [], "something was written"
