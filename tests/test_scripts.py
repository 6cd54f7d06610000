"""The benchmark scripts at toy size: a script that no test runs is a script that is broken."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the scripts in processes of their own: `make test` runs them, `make test-fast` does not

ROOT = Path(__file__).resolve().parents[1]


def test_bench_cells_quick_grid_writes_a_row_per_shape_and_engine(tmp_path: Path) -> None:
    out = tmp_path / "cells.json"
    engines = ("cudnn", "unrolled", "bptt")
    done = subprocess.run(
        [sys.executable, "scripts/bench_cells.py", "--quick", "--repeats", "1", "--engines", ",".join(engines),
         "--device", "cpu", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert len(rows) == 2 * 2 * len(engines)  # lstm and gru, 1 and 2 layers
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["layout"] for r in rows} == {"time"}
    assert all(r["max_abs_diff_output"] < 1e-5 for r in rows)
    assert report["meta"]["device"] == "cpu"


def _script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bench_help_times_every_command_and_imports_no_torch(tmp_path: Path) -> None:
    out = tmp_path / "help.json"
    done = _script("scripts/bench_help.py", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["command"] == "rnnlab --help" and any(r["command"] == "rnnlab train --help" for r in rows)
    assert all(r["this_median_s"] > 0 and 0 < r["this_peak_mib"] < 200 for r in rows)  # torch alone is ~600 MiB


def test_render_figures_keeps_the_readme_figures_of_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = _script(
        "-m", "rnnlab", "train", "--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "96",
        "--batch-size", "32", "--epochs", "1", "--device", "cpu", "--out", str(run),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    figures = tmp_path / "figures"
    done = _script("scripts/render_figures.py", str(run), "--out", str(figures))
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in figures.iterdir())
    assert names and all(n.startswith("example_") or "curves" in n or "confusion" in n for n in names), names
    assert all(p.suffix == ".png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures.iterdir())


def test_bench_cpu_memory_times_both_allocators_on_both_workloads(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = _script("scripts/bench_cpu_memory.py", "--rounds", "1", "--steps", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    for workload in ("rows", "pixels"):
        row = report[workload]
        assert row["system_step_ms"] > 0 and row["kept_step_ms"] > 0
        assert row["speedup"] == row["system_step_ms"] / row["kept_step_ms"]
        assert len(row["runs"]["system"]) == len(row["runs"]["kept"]) == 1


def test_triton_report_compiles_for_sm_90_without_a_gpu(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    out = tmp_path / "report.json"
    done = _script(
        "scripts/triton_report.py", "--target", "sm_90", "--hidden", "32", "--kernels", "lstm_forward",
        "--precisions", "fp32-tf32", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["variant"] for r in rows} == {"persistent", "stepwise"}
    assert all(r["check"] == "ok" and r["spill_stores"] == 0 and r["shared_bytes"] <= r["shared_limit"] for r in rows)
