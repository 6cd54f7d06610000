"""What the triton engine's kernels cost on a GPU, read from ahead-of-time compiles (no GPU needed).

    python scripts/triton_report.py                      # every variant the rule can pick, sm_90 and sm_80
    python scripts/triton_report.py --target sm_90 --json triton_report.json
    python scripts/triton_report.py --all                # also the persistent variant where the rule refuses it

Per kernel x variant x precision x H x target: registers, spill bytes, shared memory (and the target's limit),
warps, and the matrix instruction family in the PTX (wgmma, mma.sync, or FMA only). Compiles run in one worker
per CPU (rnnlab.cells.triton.aot). Exit code 1 if a compile fails, or if a variant the rule picks spills (fp32,
bf16) or overflows shared memory: the same checks as tests/test_triton_compile.py.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _check(row: dict, refusal: str | None) -> str:
    if "error" in row:
        return "compile error"
    problems = []
    if row["spill_stores"] or row["spill_loads"]:
        problems.append("spills")
    if row["shared_bytes"] > row["shared_limit"]:
        problems.append("shared memory over the limit")
    if row["variant"] == "persistent" and row["per_sm"] < 1:
        problems.append("no program fits an SM")
    if refusal:
        return "refused by the rule" + (f": {', '.join(problems)}" if problems else "")
    if row["precision"] == "fp64" and problems == ["spills"]:
        return "ok (fp64 spills)"
    return ", ".join(problems) or "ok"


def main() -> int:
    from rnnlab.cells.triton import aot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=tuple(aot.TARGETS), action="append", help="sm_90, sm_80 (default both)")
    parser.add_argument("--hidden", default=",".join(map(str, aot.HIDDEN)), help="comma-separated H")
    parser.add_argument("--kernels", default=",".join(aot.KERNELS))
    parser.add_argument("--precisions", default=",".join(aot.PRECISIONS))
    parser.add_argument("--all", action="store_true", help="also the persistent variant where the rule refuses it")
    parser.add_argument("--workers", type=int, default=None, help="compile processes (default: one per CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    jobs = aot.matrix(
        kernels=tuple(args.kernels.split(",")),
        precisions=tuple(args.precisions.split(",")),
        hidden=tuple(int(h) for h in args.hidden.split(",")),
        targets=tuple(args.target or aot.TARGETS),
        refused=args.all,
    )
    console = Console(width=170)
    started = time.perf_counter()
    with console.status(f"compiling {len(jobs)} kernels"):
        rows = aot.compile_all(jobs, args.workers)
    elapsed = time.perf_counter() - started
    failed = 0
    table = Table(title=f"triton kernels compiled ahead of time ({len(rows)} rows, {elapsed:.0f} s)")
    for col in ("kernel", "variant", "precision", "H", "target", "regs", "spills st/ld", "shared KiB", "limit KiB",
                "warps", "per SM", "family", "W_hh slice KiB", "check"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("kernel", "variant", "check") else "right")
    for job, row in zip(jobs, rows):
        refusal = None
        if job.variant == "persistent":
            refusal = _refusal(job)
        row["check"] = _check(row, refusal)
        row["refusal"] = refusal
        failed += not (row["check"].startswith("ok") or refusal)
        shape = [job.kernel, job.variant, job.precision, str(job.hidden), job.target]
        if "error" in row:
            table.add_row(*shape, "", "", "", "", "", "", "", "", f"[red]{row['error'].splitlines()[0][:60]}[/red]")
            continue
        table.add_row(
            *shape,
            str(row["registers"]),
            f"{row['spill_stores']}/{row['spill_loads']}",
            f"{row['shared_bytes'] / 1024:.0f}",
            f"{row['shared_limit'] / 1024:.0f}",
            str(row["num_warps"]),
            str(row["per_sm"]),
            row["family"],
            f"{row['slice_bytes'] / 1024:.0f}" if row["slice_bytes"] else "-",
            row["check"] if row["check"].startswith("ok") else f"[yellow]{row['check']}[/yellow]",
        )
    console.print(table)
    if args.json is not None:
        import triton

        meta = {"triton": triton.__version__, "python": platform.python_version(), "machine": platform.machine(),
                "date": time.strftime("%Y-%m-%d"), "seconds": round(elapsed, 1)}  # fmt: skip
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        console.print(f"wrote {args.json}")
    if failed:
        console.print(f"[red]{failed} kernel(s) the rule can pick failed their checks[/red]")
    return 1 if failed else 0


def _refusal(job) -> str | None:
    import torch

    from rnnlab.cells.triton import aot
    from rnnlab.cells.triton.variants import persistent_refusal

    op = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}[aot.PRECISIONS[job.precision][1]]
    return persistent_refusal(job.hidden, op, aot.PRECISIONS[job.precision][2], aot.SMS[job.target])


if __name__ == "__main__":
    sys.exit(main())
