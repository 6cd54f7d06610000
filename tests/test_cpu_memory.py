"""Freed memory stays in the process after keep_freed_memory (glibc); train, eval, compare-cells ask for it on CPU."""

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import RuntimeConfig
from rnnlab.runtime import cpu_memory
from rnnlab.runtime import device as train_module

GLIBC = (getattr(os, "confstr", lambda name: "")("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

# Allocate, touch and free 64 MB five times with glibc's own malloc, counting the page faults of each round.
PROBE = """
import ctypes, resource, sys
from rnnlab.runtime.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds = []
for _ in range(5):
    before = faults()
    p = libc.malloc(64 << 20)
    libc.memset(p, 1, 64 << 20)
    libc.free(p)
    rounds.append(faults() - before)
print(" ".join(map(str, rounds)))
"""


def _fault_rounds(mode: str) -> list[int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return [int(n) for n in out.stdout.split()]


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    system, keep = _fault_rounds("system"), _fault_rounds("keep")
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert keep[0] >= pages // 2, keep  # the first round maps its memory either way
    assert max(keep[1:]) < pages // 20, keep  # later rounds reuse it
    if system[0] >= pages // 2:  # (transparent huge pages can hide the faults of the control)
        assert min(system[1:]) >= pages // 2, system  # without it every round faults its memory in again


def test_no_glibc_means_nothing_is_changed(monkeypatch) -> None:
    monkeypatch.setattr(cpu_memory, "_applied", False)
    monkeypatch.setattr(cpu_memory.os, "confstr", lambda name: "", raising=False)
    assert cpu_memory.keep_freed_memory() is False


@pytest.mark.parametrize("reuse", [True, False])
def test_training_keeps_freed_memory_on_cpu_unless_told_not_to(monkeypatch, reuse) -> None:
    calls = []
    monkeypatch.setattr(cpu_memory, "keep_freed_memory", lambda: calls.append(1) or True)
    tc = RuntimeConfig(device="cpu", reuse_cpu_memory=reuse)
    train_module.configure_torch(tc, train_module.torch.device("cpu"))
    assert bool(calls) is reuse


def test_a_cuda_run_leaves_the_host_allocator_alone(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(cpu_memory, "keep_freed_memory", lambda: calls.append(1) or True)
    train_module.configure_torch(RuntimeConfig(), train_module.torch.device("cuda"))
    assert not calls


@pytest.mark.parametrize("flag", ["--reuse-cpu-memory", "--no-reuse-cpu-memory"])
def test_eval_and_compare_cells_keep_freed_memory_on_cpu_unless_told_not_to(monkeypatch, tmp_path, flag) -> None:
    runner = CliRunner()
    out = tmp_path / "r"
    tiny = ["--hidden", "8", "--device", "cpu"]
    trained = runner.invoke(
        app, ["train", "--dataset", "digits", "--layers", "1", "--epochs", "1", "--out", str(out), *tiny]
    )
    assert trained.exit_code == 0, trained.output
    calls = []
    monkeypatch.setattr(cpu_memory, "keep_freed_memory", lambda: calls.append(1) or True)
    evaluated = runner.invoke(app, ["eval", str(out), "--device", "cpu", flag])
    assert evaluated.exit_code == 0, evaluated.output
    one_engine = ["--engines", "cudnn", "--layout", "batch", "--seq", "3", "--batch-size", "2", "--repeats", "1"]
    compared = runner.invoke(app, ["compare-cells", *one_engine, *tiny, flag])
    assert compared.exit_code == 0, compared.output
    kept = flag == "--reuse-cpu-memory"
    assert len(calls) == (2 if kept else 0)
    assert ("freed memory kept" in compared.output) is kept
