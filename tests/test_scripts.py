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
