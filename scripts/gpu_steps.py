"""The steps of scripts/gpu_check.py, each run in a child process of its own (``gpu_check.py OUT --step NAME``),
so that a step that hangs is killed without taking the others with it. Each returns the JSON its summary keeps.

On a CPU (``dry``: the dry run) every step runs at toy size, the Triton kernels under Triton's interpreter.
Legend: B batch, T time steps, H hidden units, L layers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("cudnn", "unrolled", "bptt", "triton")

# the goal shapes (B, T, H, L): triton >= 5x unrolled and within 1.5x of cuDNN; faster than cuDNN's standard
# algorithm; at H=128, against cuDNN's persistent algorithm, measured
GOALS = {"B128-T28-H256-L2": (128, 28, 256, 2), "B16-T784-H256": (16, 784, 256, 1), "B16-T784-H128": (16, 784, 128, 1)}
TOY = {"B128-T28-H256-L2": (4, 3, 16, 2), "B16-T784-H256": (2, 4, 16, 1), "B16-T784-H128": (2, 4, 8, 1)}


def _device(dry: bool) -> str:
    return "cpu" if dry else "cuda"


def step_versions(dry: bool) -> dict[str, Any]:
    import platform

    import torch

    info: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                            "cuda_available": torch.cuda.is_available()}  # fmt: skip
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError as exc:
        info["triton"] = f"not installed ({exc})"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f"sm_{props.major}{props.minor}", sms=props.multi_processor_count,
                    memory_gib=round(props.total_memory / 2**30, 1))  # fmt: skip
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=10)  # fmt: skip
        info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        info["nvidia_smi"] = f"not run ({exc})"
    return info


def step_smoke(dry: bool) -> dict[str, Any]:
    import torch

    from rnnlab.cells.triton import engine, kernels  # kernels first: it picks the interpreter where CUDA is absent
    from rnnlab.config import ModelConfig
    from rnnlab.lab.compare_cells import engine_results
    from rnnlab.model.classifier import build_model

    dev = _device(dry)
    n = 1000
    x = torch.arange(n, dtype=torch.float32, device=dev)
    from gpu_probe_kernels import add_one

    add_one[(4,)](x, n, BLOCK=256)
    if not torch.equal(x.cpu(), torch.arange(n, dtype=torch.float32) + 1):
        raise AssertionError("the trivial Triton kernel computed wrong numbers")
    B, T, H = (16, 4, 32) if dry else (128, 28, 256)
    cfg = ModelConfig(cell="lstm", input_size=28, hidden=(H,), layers=1, dropout=0.0)
    model = build_model(cfg, engine="triton", layout="time", seed=0).to(dev)
    xs = torch.randn(T, B, 28, generator=torch.Generator().manual_seed(0)).to(dev)
    began = time.perf_counter()
    got = engine_results(model, "triton", xs, torch.float32)
    first = time.perf_counter() - began  # compiles included
    ref = engine_results(model, "unrolled", xs, torch.float64)
    rel = {k: ((got[k].double() - ref[k]).norm() / ref[k].norm().clamp_min(1e-30)).item() for k in ref}
    worst = max(rel, key=lambda k: rel[k])
    variant = engine.variant("lstm", B, H, torch.float32, torch.device(dev))
    result = {"interpreted": kernels.INTERPRETED, "variant": variant, "first_call_s": round(first, 2),
              "worst_relative_error": {worst: rel[worst]}, "B": B, "T": T, "H": H}  # fmt: skip
    if rel[worst] > 2e-2:  # TF32 dots: about 1e-3; a wrong kernel is off by order 1
        raise AssertionError(f"triton differs from float64: {worst} relative error {rel[worst]:.2e} ({variant})")
    return result


def step_goal(dry: bool, name: str, out: Path) -> dict[str, Any]:
    B, T, H, L = (TOY if dry else GOALS)[name]
    engines = "cudnn,unrolled,triton" if L == 2 else "cudnn,triton"
    json_file = out / f"compare-{name}.json"
    cmd = [sys.executable, "-m", "rnnlab", "compare-cells", "--device", _device(dry), "--layout", "time",
           "--batch-size", str(B), "--seq", str(T), "--hidden", str(H), "--layers", str(L), "--engines", engines,
           "--repeats", "1" if dry else "10", "--json-file", str(json_file), "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        raise AssertionError(f"compare-cells exited {done.returncode}: {done.stderr.strip()[-400:]}")
    rows = json.loads(done.stdout)["rows"]
    keep = ("engine", "status", "variant", "max_abs_diff_output", "max_abs_diff_grad", "fwd_ms", "fwdbwd_ms",
            "ratio_to_cudnn", "peak_memory_bytes", "reason")  # fmt: skip
    return {"shape": {"B": B, "T": T, "H": H, "L": L}, "rows": [{k: r.get(k) for k in keep if k in r} for r in rows]}


def step_kernel_times(dry: bool) -> dict[str, Any]:
    """One persistent forward and backward of an LSTM layer at each goal shape, and the grid barrier alone with the
    same grid, timed by CUDA events (wall clock on the CPU's interpreter): the per-step cost, and the barrier's
    share of it, measured."""
    import torch

    from rnnlab.cells.triton import kernels, launch, lstm_kernels
    from rnnlab.cells.triton.engine import _plan

    dev = torch.device(_device(dry))
    times: dict[str, Any] = {}
    for name, (B, T, H, _) in (TOY if dry else GOALS).items():
        g = torch.Generator().manual_seed(0)
        xw = torch.randn(T, B, 4 * H, generator=g).to(dev)
        whh = (torch.randn(4 * H, H, generator=g) / H**0.5).to(dev)
        hs, cs = torch.zeros(T + 1, B, H, device=dev), torch.zeros(T + 1, B, H, device=dev)
        acts = torch.empty_like(xw)
        p = _plan("lstm", B, H, torch.float32, dev)
        forward = (lstm_kernels.lstm_forward, (xw, whh, hs, cs, acts), False)
        dgates = torch.zeros(T + 1, B, 4 * H, device=dev)
        backward = (lstm_kernels.lstm_backward, (torch.randn_like(hs[1:]), whh, acts, cs, dgates,
                                                 torch.zeros(B, H, device=dev)), True)  # fmt: skip
        row: dict[str, Any] = {"variant": p.describe()}
        for label, (kernel, args, back) in (("forward", forward), ("backward", backward)):
            launch.run(kernel, p, args, T, B, H, back)  # compile and warm
            shape = (T, B, H)
            row[f"{label}_ms"] = _timed(lambda k=kernel, a=args, b=back, p=p, n=shape: launch.run(k, p, a, *n, b), dev)
            row[f"{label}_us_per_step"] = round(1000 * row[f"{label}_ms"] / T, 2)
        if p.grid_sync:
            from gpu_probe_kernels import barrier_only as barrier

            sync = torch.zeros(p.grid[1] + 1, dtype=torch.int32, device=dev)

            def barrier_launch(s: torch.Tensor = sync, p: Any = p, steps: int = T) -> None:
                s.zero_()
                barrier[p.grid](s, steps, SPIN_LIMIT=p.spin_limit, num_warps=p.num_warps, launch_cooperative_grid=True)

            barrier_launch()
            row["barrier_ms"] = _timed(barrier_launch, dev)
            row["barrier_us_per_step"] = round(1000 * row["barrier_ms"] / T, 2)
            row["barrier_share_of_forward"] = round(row["barrier_ms"] / row["forward_ms"], 3)
        times[name] = {"B": B, "T": T, "H": H, **row}
    return {"interpreted": kernels.INTERPRETED, "shapes": times}


def _timed(fn: Any, dev: Any, repeats: int = 5) -> float:
    """The median of ``repeats`` calls, in ms: CUDA events on a GPU, the wall clock elsewhere."""
    import statistics

    import torch

    took = []
    for _ in range(repeats):
        if dev.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            took.append(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            fn()
            took.append(1000 * (time.perf_counter() - began))
    return round(statistics.median(took), 4)


# ---- command B ---------------------------------------------------------------------------------------------------


def _rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab", *args]


def _train_args(dry: bool, run: Path, *flags: str) -> list[str]:
    """`rnnlab train` on the digits set: 300 steps of 32 (dry: 6 steps of a 16-unit model on 96 images, scored on
    48: the triton engine is interpreted there)."""
    steps = 6 if dry else 300
    size = ["--hidden", "16", "--train-subset", "96", "--test-subset", "48", "--val-fraction", "0.05"] if dry else []
    return ["train", "--dataset", "digits", "--device", _device(dry), "--batch-size", "32", "--epochs", "20",
            "--max-steps", str(steps), "--log-every", str(steps // 6), "--out", str(run), "--force", *size,
            *flags]  # fmt: skip


def _side_by_side(commands: dict[str, list[str]], out: Path) -> dict[str, int]:
    """Run the commands at once (nothing is timed), each logged to OUT/logs/NAME.log; their exit codes."""
    procs = {}
    for name, cmd in commands.items():
        log = open(out / "logs" / f"{name}.log", "w")  # noqa: SIM115 (closed when the process has ended)
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT), log)
    codes = {}
    for name, (proc, log) in procs.items():
        codes[name] = proc.wait()
        log.close()
    failed = [f"{n} (exit {c}; logs/{n}.log)" for n, c in codes.items() if c]
    if failed:
        raise AssertionError(f"failed: {', '.join(failed)}")
    return codes


def _losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "metrics.jsonl").open()) if r["kind"] == "step"]


def _fell(run: Path, dry: bool) -> dict[str, float]:
    """The first and last logged training loss; on a GPU (300 steps) the last must be the lower, in the dry run's
    few steps only finite."""
    losses = _losses(run)
    fell = len(losses) >= 2 and losses[-1] < losses[0]
    if len(losses) < 2 or not all(math.isfinite(x) for x in losses) or not (fell or dry):
        raise AssertionError(f"{run.name}: the training loss did not fall: {losses}")
    return {"first_loss": losses[0], "last_loss": losses[-1]}


def step_train_every_engine(dry: bool, out: Path) -> dict[str, Any]:
    runs = out / "runs"
    _side_by_side({f"train-{e}": _rnnlab(*_train_args(dry, runs / e, "--engine", e)) for e in ENGINES}, out)
    return {e: _fell(runs / e, dry) for e in ENGINES}


def step_eval_every_engine(dry: bool, out: Path) -> dict[str, Any]:
    run = out / "runs" / "cudnn"
    subset = ["--test-subset", "64"] if dry else []
    accuracy = {}
    for e in ENGINES:
        cmd = _rnnlab("eval", str(run), "--engine", e, "--device", _device(dry), "--json", *subset)
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode:
            raise AssertionError(f"eval --engine {e} exited {done.returncode}: {done.stderr.strip()[-300:]}")
        accuracy[e] = json.loads(done.stdout)["accuracy"]
    if any(abs(a - accuracy["cudnn"]) > 0.01 for a in accuracy.values()):
        raise AssertionError(f"the engines disagree on one checkpoint: {accuracy}")
    return {"accuracy": accuracy}


def step_bf16_and_deterministic(dry: bool, out: Path) -> dict[str, Any]:
    """bf16 autocast under triton and cudnn (the dry run: bptt, as oneDNN's LSTM has no bf16 on many CPUs), and
    two --deterministic runs that must log the same losses to the bit."""
    runs, other = out / "runs", "bptt" if dry else "cudnn"
    _side_by_side({
        "bf16-triton": _rnnlab(*_train_args(dry, runs / "bf16-triton", "--engine", "triton", "--bf16")),
        f"bf16-{other}": _rnnlab(*_train_args(dry, runs / f"bf16-{other}", "--engine", other, "--bf16")),
        "deterministic-1": _rnnlab(*_train_args(dry, runs / "det1", "--deterministic")),
        "deterministic-2": _rnnlab(*_train_args(dry, runs / "det2", "--deterministic")),
    }, out)  # fmt: skip
    if _losses(runs / "det1") != _losses(runs / "det2"):
        raise AssertionError("two --deterministic runs of one config trained different losses")
    return {"bf16-triton": _fell(runs / "bf16-triton", dry), f"bf16-{other}": _fell(runs / f"bf16-{other}", dry),
            "deterministic_losses": len(_losses(runs / "det1"))}  # fmt: skip


def step_torchrun(dry: bool, out: Path) -> dict[str, Any]:
    run = out / "runs" / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "rnnlab",
           *_train_args(dry, run)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
    if done.returncode or not (run / "checkpoint.pt").is_file():
        raise AssertionError(f"torchrun exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return {"backend": "gloo" if dry else "nccl", **_fell(run, dry)}


RUNNERS: dict[str, Callable[[bool, Path], dict[str, Any]]] = {
    "versions": lambda dry, out: step_versions(dry),
    "smoke": lambda dry, out: step_smoke(dry),
    **{f"goal-{name}": (lambda dry, out, name=name: step_goal(dry, name, out)) for name in GOALS},
    "kernel-times": lambda dry, out: step_kernel_times(dry),
    "train-every-engine": step_train_every_engine,
    "eval-every-engine": step_eval_every_engine,
    "bf16-and-deterministic": step_bf16_and_deterministic,
    "torchrun-nccl": step_torchrun,
}
