"""scripts/bench_playground.py at toy size (a tiny digits model, five digits): it serves, times, and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a server and a training in processes of their own

ROOT = Path(__file__).resolve().parents[1]


def test_bench_playground_quick_times_a_drawn_digits_answer(tmp_path: Path) -> None:
    out = tmp_path / "playground.json"
    done = subprocess.run(
        [sys.executable, "scripts/bench_playground.py", "--quick", "--opens", "0", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    [row] = report["rows"]
    assert row["digits"] == 5 and row["steps"] == 8 and row["view"] == "rows"
    assert 0 < row["compute_median_ms"] <= row["median_ms"] <= row["p90_ms"]
    assert row["response_kib"] > 1 and row["paint"] is None
    held = min(2, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 2  # --threads 2, or fewer
    assert report["meta"]["server_cores"] == held and "median" in done.stdout
