"""Training steps on CPU under each thread setting, on a free machine and beside busy processes, side by side.

    python scripts/bench_threads.py [--busy 0,1,3] [--rounds 3] [--out threads.json]
    python scripts/bench_threads.py --quick      # a tiny model, one round: checks the script

Each measurement is a process of its own (libgomp reads how its threads wait only when it loads), timing the
default MNIST model's step (LSTM 256 x2, batch 128, 28 steps) and the digits default's (LSTM 128 x2, batch 32,
8 steps). The settings: one thread; every core with libgomp's own long spin (PyTorch's default); every core with
the spin `rnnlab` sets (GOMP_SPINCOUNT=1000, rnnlab.runtime.openmp); every core with OMP_WAIT_POLICY=PASSIVE.
Each figure is the median over the rounds of a round's median step; `mean_ms`, of its mean step, shows the
long tail a median hides (an epoch takes the sum). "Busy" = that many processes spinning in a Python loop beside
it, started before the measurements and stopped after. The settings take turns in each round, so a slow spell of
the machine hits all of them. Each row also gives the share of time the worker's threads waited for a core
(rnnlab.runtime.sharing), the figure that `rnnlab train` turns into its "the CPU is shared" line, and marks the
setting `rnnlab train` takes for that model when --threads is not given.
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

from rnnlab.runtime.sharing import cores

MODELS = {  # name: batch, steps, inputs, hidden, layers, timed steps
    "mnist default": (128, 28, 28, 256, 2, 10),
    "digits default": (32, 8, 8, 128, 2, 60),
}
QUICK = {"tiny": (8, 4, 4, 8, 1, 3)}
WAIT_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")


def settings() -> dict[str, tuple[int, dict[str, str]]]:
    """Setting name -> threads and the environment its worker starts in (no wait setting of the caller's)."""
    from rnnlab.runtime.openmp import wait_briefly

    clean = {k: v for k, v in os.environ.items() if k not in WAIT_SETTINGS}
    rnnlab_env = dict(clean)
    wait_briefly(rnnlab_env)
    n = cores()
    return {
        "1 thread": (1, clean),
        f"{n} threads, libgomp's spin": (n, clean),
        f"{n} threads, rnnlab's spin": (n, rnnlab_env),
        f"{n} threads, passive": (n, {**clean, "OMP_WAIT_POLICY": "PASSIVE"}),
    }


def rnnlab_default(shape: tuple[int, ...], names: list[str]) -> str:
    """The setting `rnnlab train` takes for this model at --threads 0: one thread for a small one
    (rnnlab.runtime.device.training_threads), else every core with rnnlab's spin."""
    from rnnlab.runtime.device import training_threads

    batch, _, _, hidden, _, _ = shape
    return names[0] if training_threads("lstm", batch, hidden) == 1 else names[2]


def worker(shape: list[int], threads: int) -> None:
    """One measurement, in this process: the median step and the share of time spent waiting for a core."""
    import torch

    from rnnlab.config import ModelConfig
    from rnnlab.model.classifier import build_model
    from rnnlab.runtime.sharing import scheduler_times, wait_share

    batch, steps, inputs, hidden, layers, timed = shape
    torch.set_num_threads(threads)
    model = build_model(ModelConfig(input_size=inputs, hidden=(hidden,), layers=layers), seed=0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(batch, steps, inputs), torch.randint(0, 10, (batch,))

    def step() -> None:
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    before, times = scheduler_times(), []
    for _ in range(timed):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    share = wait_share(before, scheduler_times())
    median, mean = 1000 * statistics.median(times), 1000 * statistics.fmean(times)
    print(json.dumps({"median_ms": median, "mean_ms": mean, "wait_share": share}))


def measure(shape: tuple[int, ...], threads: int, env: dict[str, str]) -> dict[str, float | None]:
    args = [sys.executable, __file__, "--worker", ",".join(map(str, shape)), "--threads", str(threads)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, check=True)
    result: dict[str, float | None] = json.loads(done.stdout.splitlines()[-1])
    return result


def busy_processes(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", default="0,1,3", help="numbers of busy processes beside the measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker([int(v) for v in args.worker.split(",")], args.threads)
        return
    models = QUICK if args.quick else MODELS
    rounds = 1 if args.quick else args.rounds
    chosen = settings()
    rows = []
    for busy in [int(v) for v in args.busy.split(",")]:
        others = busy_processes(busy)
        try:
            time.sleep(0.5)
            got: dict[tuple[str, str], list[dict[str, float | None]]] = {}
            for _ in range(rounds):
                for model, shape in models.items():
                    for name, (threads, env) in chosen.items():
                        got.setdefault((model, name), []).append(measure(shape, threads, env))
        finally:
            for p in others:
                p.kill()
                p.wait()
        for model in models:
            medians = {name: statistics.median(r["median_ms"] or 0.0 for r in got[model, name]) for name in chosen}
            best = min(medians.values())
            default = rnnlab_default(models[model], list(chosen))
            for name in chosen:
                shares = [r["wait_share"] for r in got[model, name] if r["wait_share"] is not None]
                mean = statistics.median(r["mean_ms"] or 0.0 for r in got[model, name])  # a long tail shows here
                rows.append({
                    "model": model, "busy": busy, "setting": name, "median_ms": medians[name],
                    "x_best": medians[name] / best, "mean_ms": mean,
                    "wait_share": statistics.median(shares) if shares else None,
                    "rnnlab_default": name == default,
                })  # fmt: skip
                share = f"{100 * rows[-1]['wait_share']:.0f}%" if shares else "-"
                print(f"{model:15} busy {busy}  {name:28} {medians[name]:9.1f} ms  x{medians[name] / best:4.2f}  "
                      f"mean {mean:9.1f} ms"
                      f"  waited {share}{'  <- rnnlab default' if name == default else ''}", flush=True)  # fmt: skip
    if args.out:
        import torch

        meta = {"cores": cores(), "torch": torch.__version__, "python": platform.python_version(),
                "machine": platform.processor() or platform.machine(), "rounds": rounds,
                "date": time.strftime("%Y-%m-%d")}  # fmt: skip
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
