"""Forward and forward+backward medians of every engine over a grid of shapes, with ratios to cudnn.

    python scripts/bench_cells.py                 # the full grid, meant for a GPU
    python scripts/bench_cells.py --quick         # a small grid that runs on CPU in about a minute

Grid: cell in {lstm, gru}, B in {16, 128, 1024}, T in {28, 784}, H in {128, 256}, L in {1, 2}; engines cudnn,
unrolled, bptt, triton; time-major float32, I = 28. Prints a table and writes every row as JSON (--out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from rnnlab.config import ModelConfig
from rnnlab.config.commands import CompareConfig
from rnnlab.lab.compare_cells import compare_cells

FULL = {"cell": ("lstm", "gru"), "batch": (16, 128, 1024), "seq": (28, 784), "hidden": (128, 256), "layers": (1, 2)}
QUICK = {"cell": ("lstm", "gru"), "batch": (16,), "seq": (12,), "hidden": (32,), "layers": (1, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid for a CPU")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--engines", default="cudnn,unrolled,bptt,triton")
    parser.add_argument("--out", type=Path, default=Path("bench_cells.json"))
    args = parser.parse_args()
    grid = QUICK if args.quick else FULL
    machine = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine()
    rows = []
    console = Console(width=160)
    for cell, batch, seq, hidden, layers in itertools.product(*grid.values()):
        model = ModelConfig(cell=cell, input_size=28, hidden=(hidden,), layers=layers, dropout=0.0)
        cfg = CompareConfig(
            model,
            seq=seq,
            batch_size=batch,
            layout="time",
            device=args.device,
            engines=tuple(args.engines.split(",")),
            repeats=args.repeats,
        )
        started = time.perf_counter()
        for row in compare_cells(cfg):
            rows.append({"cell": cell, "batch": batch, "seq": seq, "hidden": hidden, "layers": layers, **row})
        console.print(f"{cell} B={batch} T={seq} H={hidden} L={layers}: {time.perf_counter() - started:.1f}s")
    table = Table(title=f"engines on {machine} ({args.device}), torch {torch.__version__}, time-major float32")
    for col in ("cell", "B", "T", "H", "L", "engine", "fwd ms", "fwd+bwd ms", "x cudnn", "max|Δ| out", "max|Δ| grad"):
        table.add_column(col, justify="right")
    for r in rows:
        shape = [r["cell"], str(r["batch"]), str(r["seq"]), str(r["hidden"]), str(r["layers"]), r["engine"]]
        if r["status"] != "ok":
            table.add_row(*shape, r["status"], "", "", "", "")
            continue
        ratio = r.get("ratio_to_cudnn")
        table.add_row(
            *shape,
            f"{r['fwd_ms']:.3f}",
            f"{r['fwdbwd_ms']:.3f}",
            "-" if ratio is None else f"{ratio:.2f}",
            f"{r['max_abs_diff_output']:.1e}",
            f"{r['max_abs_diff_grad']:.1e}",
        )
    console.print(table)
    meta = {"machine": machine, "device": args.device, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
