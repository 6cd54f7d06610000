"""What keeping freed memory (rnnlab.runtime.cpu_memory) does to CPU training steps: fresh processes, taking turns.

    python scripts/bench_cpu_memory.py [--rounds 3] [--steps 12] [--out cpu_memory.json]

mallopt cannot be undone inside a process, so each measurement is its own process, and the two settings take
turns (system, kept, system, kept, ...) so that a slow spell of the machine hits both. Two workloads, each the
bare step (forward, backward, optimiser) of a real rnnlab model on random data of the real shapes:
rows: the default model (2-layer LSTM-256, dropout 0.5, Adam, B=128, T=28, I=28);
pixels: the pixel-MNIST recipe (1-layer LSTM-100, identity init, RMSprop, B=100, T=784, I=1).
Reports the median step time of each, their ratio, and the resident memory at the end of each process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKLOADS = {
    # name: (ModelConfig kwargs, optimizer, lr, batch, steps T, inputs I)
    "rows": ({}, "adam", 1e-3, 128, 28, 28),
    "pixels": ({"input_size": 1, "hidden": (100,), "layers": 1, "dropout": 0.0, "init": "identity"}, "rmsprop",
               1e-3, 100, 784, 1),
}  # fmt: skip


def child(workload: str, mode: str, steps: int) -> dict[str, float]:
    import torch

    from rnnlab.config import ModelConfig, TrainConfig
    from rnnlab.model.classifier import build_model
    from rnnlab.runtime.cpu_memory import keep_freed_memory
    from rnnlab.train.optim import make_optimizer

    if mode == "kept" and not keep_freed_memory():
        raise SystemExit("this machine's C library is not glibc: nothing to compare")
    kwargs, optimizer, lr, b, t, i = WORKLOADS[workload]
    model = build_model(ModelConfig(**kwargs), seed=0)
    opt = make_optimizer(model.parameters(), TrainConfig(optimizer=optimizer, lr=lr))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(b, t, i, generator=g), torch.randint(0, 10, (b,), generator=g)
    times = []
    for k in range(steps + 3):
        began = time.perf_counter()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k >= 3:
            times.append(time.perf_counter() - began)
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return {"step_ms": 1e3 * statistics.median(times), "rss_mb": pages * os.sysconf("SC_PAGE_SIZE") / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps)))
        return
    runs: dict[str, dict[str, list[dict[str, float]]]] = {w: {"system": [], "kept": []} for w in WORKLOADS}
    for _ in range(args.rounds):
        for workload in WORKLOADS:
            for mode in ("system", "kept"):
                cmd = [sys.executable, __file__, "--child", workload, mode, "--steps", str(args.steps)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                runs[workload][mode].append(json.loads(out.strip().splitlines()[-1]))
    rows = {}
    for workload, modes in runs.items():
        med = {m: statistics.median(r["step_ms"] for r in rs) for m, rs in modes.items()}
        rss = {m: statistics.median(r["rss_mb"] for r in rs) for m, rs in modes.items()}
        rows[workload] = {
            "system_step_ms": med["system"],
            "kept_step_ms": med["kept"],
            "speedup": med["system"] / med["kept"],
            "system_rss_mb": rss["system"],
            "kept_rss_mb": rss["kept"],
            "runs": modes,
        }
        print(
            f"{workload:>7}: system {med['system']:7.1f} ms, kept {med['kept']:7.1f} ms per step "
            f"({med['system'] / med['kept']:.2f}x); resident {rss['system']:.0f} -> {rss['kept']:.0f} MB"
        )
    if args.out:
        import torch

        rows["meta"] = {"rounds": args.rounds, "steps": args.steps, "threads": torch.get_num_threads(),
                        "torch": torch.__version__}  # fmt: skip
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
