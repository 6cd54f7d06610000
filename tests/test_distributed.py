"""torchrun on CPU with 2 processes (gloo): ranks agree, and 2 x batch 64 matches 1 x batch 128 under SGD."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # torchrun processes: `make test` runs them, `make test-fast` does not

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("ddp_worker.py")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT)


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    two, one = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("one")
    done = _torchrun(2, str(WORKER), str(two), "2")
    assert done.returncode == 0, done.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, str(WORKER), str(one), "1"], capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT
    )
    assert single.returncode == 0, single.stderr[-3000:]
    return torch.load(two / "ranks.pt"), torch.load(one / "ranks.pt"), two


def test_parameters_identical_across_ranks(ddp_runs) -> None:
    two, _, _ = ddp_runs
    assert len(two["params"]) == 2
    assert torch.equal(two["params"][0], two["params"][1])


def test_two_by_64_matches_one_by_128_with_sgd(ddp_runs) -> None:
    two, one, _ = ddp_runs
    diff = (two["params"][0] - one["params"][0]).abs()
    torch.testing.assert_close(
        two["params"][0],
        one["params"][0],
        atol=1e-5,
        rtol=1e-4,
        msg=lambda m: f"max |diff| {diff.max():.2e}, mean {diff.mean():.2e}\n{m}",
    )
    assert two["test_samples"] == one["test_samples"] == 359  # every test sample counted exactly once
    assert two["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=1 / 359)


def test_only_rank_zero_writes(ddp_runs) -> None:
    _, _, run = ddp_runs
    lines = (run / "metrics.jsonl").read_text().splitlines()
    steps = [line for line in lines if '"kind": "step"' in line]
    assert len(steps) == 16  # 1024 samples / (2 x 64) = 8 steps per epoch, 2 epochs, one line each, not two
    names = sorted(p.name for p in run.iterdir())
    assert names == ["best.pt", "checkpoint.pt", "config.json", "metrics.jsonl", "ranks.pt"]  # fit writes config.json


def test_a_signal_on_one_rank_stops_every_rank_at_the_same_step(tmp_path) -> None:
    done = _torchrun(2, str(WORKER), str(tmp_path), "signal")
    assert done.returncode == 0, done.stderr[-3000:]
    stopped = torch.load(tmp_path / "stopped.pt")["stopped_at"]
    assert stopped[0] == stopped[1] and stopped[0] in (5, 6), stopped  # the signalled step, or the next one
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == stopped[0]


def test_cli_nproc_launches_torchrun(tmp_path) -> None:
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "rnnlab",
        "train",
        "--nproc",
        "2",
        "--dataset",
        "digits",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # rank 0 alone reports
    assert (out / "checkpoint.pt").is_file() and (out / "config.json").is_file()
