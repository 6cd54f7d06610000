"""Ahead-of-time compiles of the engine's kernels for GPUs this machine need not have, and what they cost.

Triton's compiler API (``triton.compile`` on an ``ASTSource``, for ``GPUTarget("cuda", 90 | 80, 32)``) and the
ptxas shipped in the triton wheel give, per kernel: registers, spill bytes, shared memory, warps and the matrix
instructions in the PTX (wgmma.mma_async: wgmma; mma.sync, HMMA/DMMA in SASS; neither: FMA only). Each compile takes
the arguments the engine passes (``variants.make_plan``) and the hints Triton's launcher would add at run time
(16-byte aligned pointers; B, rows and H divisible by 16 where they are), so it builds what a GPU would run.

Compiles run in worker processes started with TRITON_INTERPRET=0 (a kernel defined under the interpreter cannot
be compiled) and a fresh Triton cache of their own, so that ptxas always runs and its report is read from its log.
Jobs whose compile inputs are identical (the streamed variant's code depends on H only through its K chunk and
H % 16) are compiled once and reported for each H.
Legend: H hidden units; sm_90 H100/H200 (sm_90a code), sm_80 A100.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnlab.cells.triton.variants import Plan

KERNELS = ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward")
PRECISIONS = {  # label: (state dtype, operand dtype, tl.dot input_precision)
    "fp32-tf32": ("fp32", "fp32", "tf32"),
    "fp32-ieee": ("fp32", "fp32", "ieee"),
    "bf16": ("fp32", "bf16", "ieee"),
    "fp64": ("fp64", "fp64", "ieee"),
}
HIDDEN = (32, 100, 128, 256, 512)
TARGETS = {"sm_90": 90, "sm_80": 80}
SMS = {"sm_90": 132, "sm_80": 108}  # H100 SXM, A100
SHARED_LIMIT = {"sm_90": 232448, "sm_80": 166912}  # the most shared memory one block may use (opt-in), bytes
BATCH = 128  # the batch the launch is planned for: it sets only the grid, and B % 16 for the launcher's hints
SCALARS = ("t0", "steps", "B", "H", "rows")
HINTED = ("B", "rows")  # always multiples of 16 here (rows by construction); H only where H % 16 == 0


@dataclass(frozen=True)
class Job:
    kernel: str
    variant: str  # "persistent" or "stepwise"
    precision: str  # a key of PRECISIONS
    hidden: int
    target: str  # a key of TARGETS

    def plan(self) -> Plan:
        import torch

        from rnnlab.cells.triton.variants import make_plan

        op = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}[PRECISIONS[self.precision][1]]
        dot = PRECISIONS[self.precision][2]
        return make_plan(self.variant, BATCH, self.hidden, op, SMS[self.target], interpreted=False, dot=dot)

    def binary_key(self) -> tuple:
        """What the compiled code depends on: jobs with the same key build the same binary."""
        p = self.plan()
        return (self.kernel, self.precision, self.target, tuple(p.meta().items()), tuple(p.options().items()),
                self.hidden % 16 == 0)  # fmt: skip


def matrix(
    kernels: Sequence[str] = KERNELS,
    precisions: Sequence[str] = tuple(PRECISIONS),
    hidden: Sequence[int] = HIDDEN,
    targets: Sequence[str] = tuple(TARGETS),
    refused: bool = False,
) -> list[Job]:
    """Every variant the rule can pick for each kernel x precision x H x target: stepwise always, persistent where
    ``variants.persistent_refusal`` admits it on that target's SM count (or everywhere, with ``refused``)."""
    import torch

    from rnnlab.cells.triton.variants import persistent_refusal

    jobs = []
    for kernel in kernels:
        for prec in precisions:
            op = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}[PRECISIONS[prec][1]]
            for h in hidden:
                for target in targets:
                    if refused or persistent_refusal(h, op, PRECISIONS[prec][2], SMS[target]) is None:
                        jobs.append(Job(kernel, "persistent", prec, h, target))
                    jobs.append(Job(kernel, "stepwise", prec, h, target))
    return jobs


def compile_all(jobs: list[Job], workers: int | None = None) -> list[dict]:
    """One result per job (in order): the job's fields plus registers, spills, shared, warps, family, seconds,
    or ``error``. Distinct binaries are split over ``workers`` processes (default: the CPU count)."""
    unique: dict[tuple, Job] = {}
    for job in jobs:
        unique.setdefault(job.binary_key(), job)
    todo = list(unique.values())
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    chunks = [todo[i::workers] for i in range(workers)]
    with tempfile.TemporaryDirectory(prefix="rnnlab-aot-") as tmp:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)  # this rnnlab, wherever it is
        procs = []
        for i, chunk in enumerate(chunks):  # each worker reads its jobs from a file and writes its results to one
            jobs_file, results_file = os.path.join(tmp, f"jobs{i}.json"), os.path.join(tmp, f"results{i}.json")
            with open(jobs_file, "w") as f:
                json.dump([asdict(j) for j in chunk], f)
            env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_CACHE_DIR": os.path.join(tmp, f"cache{i}"),
                   "PYTHONPATH": path}  # fmt: skip
            cmd = [sys.executable, "-m", "rnnlab.cells.triton.aot", jobs_file, results_file]
            with open(os.path.join(tmp, f"stderr{i}.txt"), "w") as err:
                procs.append((subprocess.Popen(cmd, stderr=err, env=env), results_file, err.name))
        built: dict[tuple, dict] = {}
        for (proc, results_file, err_file), chunk in zip(procs, chunks):
            if proc.wait() != 0:
                with open(err_file) as err:
                    raise RuntimeError(f"compile worker failed (exit {proc.returncode}):\n{err.read()[-4000:]}")
            with open(results_file) as f:
                for job, res in zip(chunk, json.load(f)):
                    built[job.binary_key()] = res
    return [{**asdict(job), **built[job.binary_key()]} for job in jobs]


def family(ptx: str) -> str:
    """The matrix instruction family in PTX: wgmma (wgmma.mma_async, HGMMA in SASS), mma.sync (HMMA, DMMA), else
    FMA only."""
    if "wgmma.mma_async" in ptx:
        return "wgmma"
    if re.search(r"\bmma\.sync\b", ptx):
        return "mma.sync"
    return "FMA"


def parse_ptxas(log: str) -> dict[str, int] | None:
    """Registers, stack frame and spill bytes from ``ptxas -v``'s log (None when it holds no report)."""
    regs = re.search(r"Used (\d+) registers", log)
    frame = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log)
    if not (regs and frame):
        return None
    stack, stores, loads = (int(g) for g in frame.groups())
    return {"registers": int(regs.group(1)), "stack_bytes": stack, "spill_stores": stores, "spill_loads": loads}


def _signature(
    fn: Any, job: Job, meta: dict[str, Any]
) -> tuple[dict[str, str], dict[tuple[int, ...], list[list[str | int]]]]:  # fn: a @triton.jit kernel
    state, op, _ = PRECISIONS[job.precision]
    sig: dict[str, str] = {}
    attrs: dict[tuple[int, ...], list[list[str | int]]] = {}
    for i, name in enumerate(fn.arg_names):
        if name in meta:
            sig[name] = "constexpr"
        elif name in SCALARS:
            sig[name] = "i32"
        else:
            sig[name] = "*i32" if name == "sync" else f"*{op}" if name == "whh" else f"*{state}"
        if sig[name].startswith("*") or name in HINTED or (name == "H" and job.hidden % 16 == 0):
            attrs[(i,)] = [["tt.divisibility", 16]]
    return sig, attrs


def _compile(job: Job) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from rnnlab.cells.triton import gru_kernels, lstm_kernels

    fn = getattr(lstm_kernels if job.kernel.startswith("lstm") else gru_kernels, job.kernel)
    p = job.plan()
    meta = p.meta()
    sig, attrs = _signature(fn, job, meta)
    started = time.perf_counter()
    log = io.StringIO()
    triton.knobs.nvidia.dump_ptxas_log = True
    try:
        with contextlib.redirect_stdout(log):
            kernel = triton.compile(
                ASTSource(fn=fn, signature=sig, constexprs=meta, attrs=attrs),
                target=GPUTarget("cuda", TARGETS[job.target], 32),
                options=p.options(),
            )
    except Exception as exc:  # a compile error is a result to report, not a crash of the whole matrix
        return {"error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
    seconds = time.perf_counter() - started
    usage = parse_ptxas(log.getvalue())
    if usage is None:
        return {"error": f"no ptxas report in the compile log:\n{log.getvalue()[-2000:]}"}
    return {
        **usage,
        "shared_bytes": int(kernel.metadata.shared),
        "shared_limit": SHARED_LIMIT[job.target],
        "num_warps": int(kernel.metadata.num_warps),
        "per_sm": _per_sm(job.target, usage["registers"], int(kernel.metadata.shared), int(kernel.metadata.num_warps)),
        "num_stages": p.num_stages,
        "block_k": p.block_k,
        "slice_bytes": p.slice_bytes if p.resident else 0,
        "family": family(kernel.asm["ptx"]),
        "seconds": round(seconds, 2),
    }


def _per_sm(target: str, registers: int, shared: int, num_warps: int) -> int:
    """Programs of the kernel one SM of ``target`` holds: what the launch sizes a persistent grid from."""
    from rnnlab.cells.triton.variants import SM_80, SM_90, programs_per_sm

    return programs_per_sm(registers, shared, num_warps, {"sm_90": SM_90, "sm_80": SM_80}[target])


def main() -> None:
    """Worker: ``python -m rnnlab.cells.triton.aot JOBS.json RESULTS.json`` compiles the jobs, writes results."""
    if os.environ.get("TRITON_INTERPRET") != "0":
        raise SystemExit("run with TRITON_INTERPRET=0: kernels defined under the interpreter cannot be compiled")
    with open(sys.argv[1]) as f:
        jobs = [Job(**j) for j in json.load(f)]
    import triton

    results = [{**_compile(job), "triton": triton.__version__} for job in jobs]  # which Triton built each
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
