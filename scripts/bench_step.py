"""The default `rnnlab train` step on CPU against its arithmetic floor, measured side by side in one process.

    python scripts/bench_step.py [--steps 40] [--out step.json] [--profile 10] [--engine cudnn] [--system-malloc]
    python scripts/bench_step.py --quick          # the same measurements of a 16-unit model, in seconds (a check)

Floor = the step's matmul FLOPs (counted from the model's shapes) / the sgemm rate measured here, now, on the
same threads. Then the step is timed three ways: the bare forward+backward+Adam step (taking turns with the same step
using PyTorch's nn.Dropout, whose CPU masks rnnlab's Dropout replaces), the trainer's own step
(rnnlab.train.step.train_step: loss check, clipping switch, accuracy), and whole epochs of `fit` (data pipeline,
logging, per-epoch validation), as samples/s over a slice of MNIST-sized random data.
--profile N adds where the bare step's time goes: the N operators with the most self time under
torch.profiler, in ms per step. Like `rnnlab train` on CPU, the process keeps freed memory for reuse
(rnnlab.runtime.cpu_memory) unless --system-malloc is given; scripts/bench_cpu_memory.py compares the two.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import SequenceData
from rnnlab.data.preprocess import CLASS_NAMES, Preprocessing
from rnnlab.model.classifier import build_model
from rnnlab.runtime.cpu_memory import keep_freed_memory
from rnnlab.runtime.distributed import DistInfo
from rnnlab.train.loop import fit
from rnnlab.train.optim import make_optimizer
from rnnlab.train.state import TrainState
from rnnlab.train.step import train_step

B, T, I, H, L, C = 128, 28, 28, 256, 2, 10  # noqa: E741  (the legend: batch, steps, inputs, ...)


def step_flops(hidden: int = H) -> float:
    """Matmul FLOPs of one training step: forward, plus backward at twice the forward (dX and dW)."""
    fwd = 0.0
    inputs = I
    for _ in range(L):
        fwd += 2 * T * B * inputs * 4 * hidden  # input products of all steps
        fwd += 2 * T * B * hidden * 4 * hidden  # recurrent products
        inputs = hidden
    fwd += 2 * B * hidden * C
    return 3 * fwd


def sgemm_gflops(seconds: float = 2.0) -> float:
    """Measured rate of a square float32 matmul large enough to run near peak."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    rates = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        a @ b
        rates.append(2 * 1024**3 / (time.perf_counter() - t) / 1e9)
    return statistics.median(rates)


def profile_ops(fn, steps: int, top: int) -> list[dict[str, float | str]]:
    """Self CPU time per step of the ``top`` costliest operators over ``steps`` calls of ``fn``."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [
        {
            "op": e.key,
            "ms_per_step": e.self_cpu_time_total / 1e3 / steps,
            "share": e.self_cpu_time_total / total,
            "calls_per_step": e.count / steps,
        }
        for e in events[:top]
    ]


def time_interleaved(
    fns: dict[str, Callable[[], None]], steps: int, rounds: int = 5, warmup: int = 1
) -> dict[str, float]:
    """Median step time of each fn, taking turns in ``rounds`` so that a slow spell of the machine hits all."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(max(steps // rounds, 1)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def time_steps(fn: Callable[[], None], steps: int) -> float:
    """Median time of ``steps`` calls of one fn, after three warm-up calls."""
    return time_interleaved({"fn": fn}, steps, rounds=1, warmup=3)["fn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="list the N costliest operators")
    parser.add_argument("--engine", default="cudnn", help="the engine every timing uses")
    parser.add_argument("--system-malloc", action="store_true", help="leave glibc's allocator as it is")
    parser.add_argument("--quick", action="store_true", help="a 16-unit model and little data: checks the script")
    args = parser.parse_args()
    kept = not args.system_malloc and keep_freed_memory()
    cfg = ModelConfig(hidden=(16,)) if args.quick else ModelConfig()  # the default: 2-layer LSTM-256, dropout 0.5
    hidden = cfg.hidden[0]
    gemm_s = 0.2 if args.quick else 2.0
    tc = TrainConfig()
    model = build_model(cfg, args.engine, seed=0)
    opt = make_optimizer(model.parameters(), tc)
    x, y = torch.randn(B, T, I), torch.randint(0, C, (B,))

    # the same model with PyTorch's own dropout (bernoulli_ masks), to measure what rnnlab's CPU dropout saves
    torch_drop = build_model(cfg, args.engine, seed=0)
    torch_drop.drop = torch.nn.Dropout(cfg.dropout)
    torch_opt = make_optimizer(torch_drop.parameters(), tc)

    def bare_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        def step() -> None:
            torch.nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    bare = bare_step(model, opt)
    state = TrainState()
    rate_before = sgemm_gflops(gemm_s)
    pair = time_interleaved({"rnnlab": bare, "torch": bare_step(torch_drop, torch_opt)}, args.steps)
    bare_s = pair["rnnlab"]
    trainer_s = time_steps(
        lambda: train_step(model, opt, x, y, None, tc, DistInfo(), torch.device("cpu"), state, False), args.steps
    )
    rate_after = sgemm_gflops(gemm_s)
    n = 128 * (3 if args.quick else 60)  # steps per epoch of random MNIST-shaped data, validation on 10 batches
    val = 128 * (1 if args.quick else 10)
    data = SequenceData(
        (torch.randn(n, T, I), torch.randint(0, C, (n,))),
        (torch.randn(val, T, I), torch.randint(0, C, (val,))),
        (torch.randn(128, T, I), torch.randint(0, C, (128,))),
        C,
        Preprocessing("mnist", (28, 28), 0.0, 1.0, "rows", 0, CLASS_NAMES["mnist"]),
    )
    run = RunConfig(
        cfg, DataConfig(), TrainConfig(epochs=2), RuntimeConfig(device="cpu", engine=args.engine, reuse_cpu_memory=kept)
    )
    started = time.perf_counter()
    result = fit(run, Path("/tmp") / f"rnnlab-bench-step-{time.time_ns()}", data=data)
    fit_s = (time.perf_counter() - started) / result.steps
    rate = statistics.median([rate_before, rate_after])
    floor_s = step_flops(hidden) / (rate * 1e9)
    rows = {
        "hidden": hidden,
        "step_gflop": step_flops(hidden) / 1e9,
        "sgemm_gflops": rate,
        "sgemm_gflops_before_after": [rate_before, rate_after],
        "floor_ms": floor_s * 1e3,
        "bare_step_ms": bare_s * 1e3,
        "bare_step_torch_dropout_ms": pair["torch"] * 1e3,
        "trainer_step_ms": trainer_s * 1e3,
        "fit_ms_per_step": fit_s * 1e3,
        "bare_over_floor": bare_s / floor_s,
        "trainer_over_floor": trainer_s / floor_s,
        "fit_over_floor": fit_s / floor_s,
        "engine": args.engine,
        "cpu_memory": "kept for reuse" if kept else "system malloc",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if args.profile:
        rows["profile"] = profile_ops(bare, 10, args.profile)
    for k, v in rows.items():
        if k == "profile":
            for op in v:
                print(f"{op['op']:>40}: {op['ms_per_step']:7.2f} ms/step {100 * op['share']:5.1f}%")
        else:
            print(f"{k:>26}: {v:.3f}" if isinstance(v, float) else f"{k:>26}: {v}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
