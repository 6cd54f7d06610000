"""How fast `rnnlab --help` and every `rnnlab COMMAND --help` answer, each in a fresh process: median wall time and
peak memory, optionally beside another checkout measured in turn (before/after a change).

    python scripts/bench_help.py [--repeats 7] [--other OLD_CHECKOUT] [--json FILE]

Each measurement is a new `python -m rnnlab ... --help` process (what a user waits for); the processes of the two
checkouts alternate, so a machine that slows down slows both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "",
    "train",
    "eval",
    "runs",
    "compare-cells",
    "gradcheck",
    "compare-runs",
    "visualize",
    "inspect",
    "predict",
)


def run_once(checkout: Path, command: str) -> tuple[float, int]:
    """(seconds, peak resident bytes) of one `python -m rnnlab [command] --help` run in ``checkout``."""
    args = [sys.executable, "-m", "rnnlab", *([command] if command else []), "--help"]
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "120"}
    began = time.perf_counter()
    proc = subprocess.Popen(args, cwd=checkout, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {checkout}")
    return seconds, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--other", type=Path, help="another checkout to measure in turn (e.g. the code before)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    checkouts = {"this": ROOT, **({"other": args.other.resolve()} if args.other else {})}
    rows = []
    for command in COMMANDS:
        times: dict[str, list[float]] = {k: [] for k in checkouts}
        peaks: dict[str, list[int]] = {k: [] for k in checkouts}
        run_once(ROOT, command)  # warm the file cache once
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                seconds, peak = run_once(checkout, command)
                times[name].append(seconds)
                peaks[name].append(peak)
        row = {"command": f"rnnlab {command} --help".replace("  ", " ")}
        for name in checkouts:
            row[f"{name}_median_s"] = statistics.median(times[name])
            row[f"{name}_peak_mib"] = max(peaks[name]) / 2**20
        rows.append(row)
        cells = "  ".join(f"{k}: {row[f'{k}_median_s']:.3f} s, {row[f'{k}_peak_mib']:.0f} MiB" for k in checkouts)
        print(f"{row['command']:<32} {cells}", flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "repeats": args.repeats,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
