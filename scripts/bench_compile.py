"""torch.compile with rnnlab's engines as custom ops, on CPU: what compiling costs (the first call, which traces and
compiles) and what a compiled training step (forward + backward) takes against the eager one, side by side.

    python scripts/bench_compile.py [--engines bptt,cudnn] [--shapes default,small] [--repeats 9] [--threads 2]
        [--backend inductor] [--warm-cache] [--out FILE] [--quick]

Shapes: ``default`` is `rnnlab train`'s model on MNIST rows (LSTM, 2 layers of 256, dropout 0.5, T=28 steps of 28
pixels, batch 128); ``small`` one layer of 64 on batch 32. Each row: the graphs dynamo made and its graph breaks,
the first compiled call in seconds (a cold compile: inductor's caches start empty in a folder of this run's own,
unless --warm-cache), the eager and compiled step medians and fastest (the two timed in turns), and the ratio of
the medians.
``bptt`` compiles as one graph around its ops; ``cudnn`` is the contrast: dynamo will not hold the nn.LSTM it would
run, so its forward stays eager. ``triton`` is left out on CPU, where its kernels run under Triton's interpreter
(seconds a step): the compiled graph would only wrap the same interpreted kernels.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

if "--warm-cache" not in sys.argv:  # before torch: inductor reads its cache folder once
    _CACHE = tempfile.mkdtemp(prefix="rnnlab-bench-compile-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnlab.config import ModelConfig  # noqa: E402
from rnnlab.lab.compare_cells import in_turns  # noqa: E402
from rnnlab.model.classifier import build_model  # noqa: E402

# name -> (hidden, layers, batch); every shape reads MNIST rows: SEQ=28 steps of FEATURES=28, 10 classes, dropout 0.5
SHAPES = {"default": (256, 2, 128), "small": (64, 1, 32), "toy": (8, 1, 4)}
SEQ = FEATURES = 28


def step_fn(call, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(call(x), y).backward()

    return step


def measure(engine: str, shape: str, args: argparse.Namespace) -> dict:
    import torch._dynamo
    from torch._dynamo.utils import counters

    hidden, layers, batch = SHAPES[shape]
    cfg = ModelConfig(input_size=FEATURES, hidden=(hidden,), layers=layers, dropout=0.5)
    model = build_model(cfg, engine=engine, seed=0).train()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, SEQ, FEATURES, generator=g), torch.randint(0, 10, (batch,), generator=g)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, backend=args.backend)
    steps = {"eager": step_fn(model, model, x, y), "compiled": step_fn(compiled, model, x, y)}
    start = time.perf_counter()
    steps["compiled"]()  # traces and compiles the forward, then the backward
    compile_s = time.perf_counter() - start
    times: dict[str, list[float]] = {}
    in_turns(steps, torch.device("cpu"), warmup=1, repeats=args.repeats, times=times)
    eager, comp = statistics.median(times["eager"]), statistics.median(times["compiled"])
    return {
        "engine": engine, "shape": shape, "hidden": hidden, "layers": layers, "batch": batch, "seq": SEQ,
        "graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
        "compile_s": compile_s, "eager_ms": eager, "compiled_ms": comp, "compiled_over_eager": comp / eager,
        "eager_best_ms": min(times["eager"]), "compiled_best_ms": min(times["compiled"]),
        "spread_ms": {k: [min(v), max(v)] for k, v in times.items()},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="bptt,cudnn")
    parser.add_argument("--shapes", default="default,small")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: PyTorch's default")
    parser.add_argument("--backend", default="inductor", help="torch.compile's backend (the test runs aot_eager)")
    parser.add_argument("--warm-cache", action="store_true", help="keep inductor's own cache (a warm compile)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="a toy size (what the test suite runs)")
    args = parser.parse_args()
    if args.quick:
        args.shapes, args.repeats = "toy", 1
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"{'engine':6} {'shape':8} graphs breaks  compile s   eager ms  compiled ms  compiled / eager"
          "   best: eager  compiled")  # fmt: skip
    for shape in args.shapes.split(","):
        for engine in args.engines.split(","):
            r = measure(engine, shape, args)
            rows.append(r)
            print(
                f"{engine:6} {shape:8} {r['graphs']:6} {r['graph_breaks']:6} {r['compile_s']:10.1f} "
                f"{r['eager_ms']:10.2f} {r['compiled_ms']:12.2f} {r['compiled_over_eager']:17.2f}"
                f"{r['eager_best_ms']:13.2f} {r['compiled_best_ms']:9.2f}"
            )
    meta = {
        "command": " ".join(sys.argv), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "backend": args.backend, "repeats": args.repeats,
        "inductor_cache": "warm (the user's)" if args.warm_cache else "cold (a fresh folder)",
    }  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
