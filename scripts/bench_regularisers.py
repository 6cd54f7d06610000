"""What each recurrent regulariser costs a training step, and what bptt saves over the Python loop a user would
otherwise write: one forward+backward of a layer stack in training mode, every configuration timed in turns.

    python scripts/bench_regularisers.py [--cell lstm,gru] [--batch 128] [--seq 28] [--hidden 256] [--layers 1]
        [--repeats 9] [--threads 2] [--out FILE] [--quick]

Rows: each engine with no regulariser, then with --zoneout, --recurrent-dropout, --weight-drop and all three
(where it computes them). Ratios: to the same engine without one (goal <= 1.3x), and bptt's time to unrolled's
with the same regulariser (goal: bptt >= 1.5x faster). The masks are drawn every step, as in training.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.cells import ENGINES  # noqa: E402
from rnnlab.config import ModelConfig  # noqa: E402
from rnnlab.lab.compare_cells import in_turns  # noqa: E402
from rnnlab.model.classifier import build_model  # noqa: E402

SETTINGS = {
    "none": {},
    "zoneout": {"zoneout": 0.1, "zoneout_cell": 0.5},
    "recurrent-dropout": {"recurrent_dropout": 0.25},
    "weight-drop": {"weight_drop": 0.5},
    "all three": {"zoneout": 0.1, "zoneout_cell": 0.5, "recurrent_dropout": 0.25, "weight_drop": 0.5},
}
NEEDS = {"none": (), "zoneout": ("zoneout",), "recurrent-dropout": ("recurrent-dropout",),
         "weight-drop": ("weight-drop",), "all three": ("zoneout", "recurrent-dropout", "weight-drop")}  # fmt: skip


def step_fn(cell: str, engine: str, setting: str, args: argparse.Namespace):
    rates = dict(SETTINGS[setting])
    if cell != "lstm":
        rates.pop("zoneout_cell", None)
    cfg = ModelConfig(cell=cell, input_size=28, hidden=(args.hidden,), layers=args.layers, dropout=0.0, **rates)
    model = build_model(cfg, engine=engine, layout="time", seed=0).train()
    x = torch.randn(args.seq, args.batch, 28, generator=torch.Generator().manual_seed(1))

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm,gru")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seq", type=int, default=28)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: PyTorch's default")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="a toy size (what the test suite runs)")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.seq, args.hidden, args.repeats = 4, 5, 8, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for cell in args.cell.split(","):
        fns = {}
        for engine in ("cudnn", "unrolled", "bptt"):
            for setting, needs in NEEDS.items():
                if all(n in ENGINES[engine].regularisers for n in needs):
                    fns[(engine, setting)] = step_fn(cell, engine, setting, args)
        times: dict[str, list[float]] = {}
        named = {f"{e}|{s}": fn for (e, s), fn in fns.items()}
        in_turns(named, torch.device("cpu"), warmup=1, repeats=args.repeats, times=times)
        median = {key: statistics.median(v) for key, v in times.items()}
        for key, ms in median.items():
            engine, setting = key.split("|")
            unrolled = median.get(f"unrolled|{setting}")
            rows.append({
                "cell": cell, "engine": engine, "regulariser": setting, "fwdbwd_ms": ms,
                "spread_ms": [min(times[key]), max(times[key])],
                "vs_same_engine_plain": ms / median[f"{engine}|none"],
                "unrolled_over_bptt": unrolled / ms if engine == "bptt" and unrolled else None,
            })  # fmt: skip
            print(
                f"{cell:4} {engine:8} {setting:17} {ms:9.2f} ms  x{rows[-1]['vs_same_engine_plain']:.2f} plain"
                + (f"  unrolled/bptt {rows[-1]['unrolled_over_bptt']:.2f}" if rows[-1]["unrolled_over_bptt"] else "")
            )
    meta = {
        "command": " ".join(sys.argv), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "batch": args.batch, "seq": args.seq, "hidden": args.hidden,
        "layers": args.layers, "repeats": args.repeats,
    }  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
