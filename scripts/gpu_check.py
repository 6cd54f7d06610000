"""Every check that needs a GPU, as two commands that fit a short session on a lent GPU (15 minutes in all).

    PYTHONPATH=. python3 scripts/gpu_check.py OUT_DIR                 # command A, on the GPU machine: <= 300 s
    PYTHONPATH=. python3 scripts/gpu_check.py OUT_DIR --command B     # command B, after A on the warm machine
    python scripts/gpu_check.py OUT_DIR --dry-run [--command B]        # anywhere: the same steps, toy sizes, CPU

Command A, what must come back from a first contact. Steps, each a child process with its own time limit (they
add up to 300 s): the versions; a smoke gate (a trivial Triton kernel, then one persistent LSTM forward and
backward at B=128, H=256, T=28 against float64); compare-cells at the three goal shapes; the kernel times of one
persistent forward and backward at each goal shape, and of the grid barrier alone, from CUDA events; last, the
tests marked gpu and not slow (each test's line is in the log as it ends, so a step cut short still counts them).
A step that fails or runs out of time is recorded and the next one runs; if the smoke gate fails, every later step
that runs the Triton kernels is skipped with its reason. OUT_DIR/summary.json and summary.md are rewritten after
every step, so a command cut short still reports every step it finished; each step's output is in OUT_DIR/logs/,
and the goals are read off the comparisons into the summary (measurements: a goal missed is not a failed step).

Command B (<= 400 s), the rest: every GPU test (the long ones too), the engine benchmark grid, training under
every engine (the loss must fall), eval of one run under every engine (the accuracies must agree), bf16 and
--deterministic (two runs, the same losses to the bit), torchrun with nccl.
Legend: B batch, T time steps, H hidden units, L layers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gpu_steps import GOALS, ROOT, RUNNERS  # noqa: E402 (this file is run as a script: scripts/ is on sys.path)


@dataclass(frozen=True)
class Step:
    name: str
    limit_s: int
    triton: bool  # runs the Triton kernels: skipped when the smoke gate failed
    what: str


COMMAND_A = (
    Step("versions", 15, False, "python, torch, CUDA, cuDNN, triton, the GPU and its driver"),
    Step("smoke", 60, True, "a trivial Triton kernel; one persistent LSTM forward+backward against float64"),
    Step("goal-B128-T28-H256-L2", 35, True, "compare-cells: cudnn, unrolled, triton"),
    Step("goal-B16-T784-H256", 30, True, "compare-cells: cudnn, triton"),
    Step("goal-B16-T784-H128", 30, True, "compare-cells: cudnn, triton (cuDNN's persistent algorithm here)"),
    Step("kernel-times", 55, True, "CUDA-event times of the persistent kernels and of the barrier alone"),
    Step("gpu-tests", 75, False, "pytest -m 'gpu and not slow' (last: the measurements come back first)"),
)
COMMAND_B = (
    Step("gpu-tests-all", 130, False, "pytest -m gpu: the long ones too"),
    Step("bench-grid", 70, True, "scripts/bench_cells.py: cudnn, bptt, triton over the grid"),
    Step("train-every-engine", 60, True, "digits, side by side: cudnn, unrolled, bptt, triton"),
    Step("eval-every-engine", 35, True, "one run under every engine: the accuracies agree"),
    Step("bf16-and-deterministic", 60, True, "bf16 under triton and cudnn; --deterministic twice, same losses"),
    Step("torchrun-nccl", 40, False, "torchrun, one process, nccl"),
)
COMMANDS = {"A": (COMMAND_A, 300), "B": (COMMAND_B, 400)}  # the steps and the seconds their limits may add up to
for _steps, _budget in COMMANDS.values():
    assert sum(s.limit_s for s in _steps) <= _budget, "a command's steps must fit its budget"


@dataclass
class Outcome:
    name: str
    status: str  # ok, failed, timeout, skipped
    seconds: float
    limit_s: float
    detail: str = ""
    result: dict[str, Any] = field(default_factory=dict)


def command_of(step: Step, dry: bool, out: Path) -> list[str]:
    """The child process of a step: pytest or a benchmark script as they are, else this script's ``--step``."""
    py = sys.executable
    if step.name in ("gpu-tests", "gpu-tests-all"):
        marks = "gpu and not slow" if step.name == "gpu-tests" else "gpu"
        return [py, "-m", "pytest", "-m", marks, "-v", "-rs", "-p", "no:cacheprovider",
                "--junitxml", str(out / f"{step.name}.xml"), str(ROOT / "tests")]  # fmt: skip
    if step.name == "bench-grid":
        toy = ["--quick", "--engines", "cudnn,bptt", "--repeats", "1"] if dry else ["--engines", "cudnn,bptt,triton"]
        return [py, str(ROOT / "scripts" / "bench_cells.py"), "--device", "cpu" if dry else "cuda",
                "--repeats", "3", *toy, "--out", str(out / "bench_cells.json")]  # fmt: skip
    return [py, str(Path(__file__).resolve()), str(out), "--step", step.name, *(["--dry-run"] if dry else [])]


def _run_child(cmd: list[str], limit: float, log: Path, env: dict[str, str]) -> tuple[int | None, float]:
    """The exit code (None past ``limit``, when the child and its own children are killed) and the seconds taken."""
    began = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        try:
            code: int | None = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return code, time.perf_counter() - began


def goals(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The goals, read off the comparisons of command A (ratios of forward+backward medians; None: not measured)."""
    rows = {o.name.removeprefix("goal-"): o.result.get("rows", []) for o in outcomes if o.name.startswith("goal-")}

    def ms(shape: str, engine: str) -> float | None:
        row = next((r for r in rows.get(shape, []) if r["engine"] == engine and r.get("status") == "ok"), None)
        return row["fwdbwd_ms"] if row else None

    def ratio(shape: str, a: str, b: str) -> float | None:
        x, y = ms(shape, a), ms(shape, b)
        return x / y if x and y else None

    def cudnn_algorithm(shape: str) -> str | None:
        return next((r.get("variant") for r in rows.get(shape, []) if r["engine"] == "cudnn"), None)

    b128, long256, long128 = GOALS
    found = [
        (f"{b128}: unrolled / triton", ratio(b128, "unrolled", "triton"), ">= 5", lambda r: r >= 5),
        (f"{b128}: triton / cudnn", ratio(b128, "triton", "cudnn"), "<= 1.5", lambda r: r <= 1.5),
        (f"{long256}: triton / cudnn", ratio(long256, "triton", "cudnn"), "< 1", lambda r: r < 1),
        (f"{long128}: triton / cudnn", ratio(long128, "triton", "cudnn"), "measured", lambda r: True),
    ]
    return [{"goal": what, "ratio": r, "target": target, "met": None if r is None else bool(met(r)),
             "cudnn": cudnn_algorithm(what.split(":")[0])} for what, r, target, met in found]  # fmt: skip


def write_summary(out: Path, command: str, outcomes: list[Outcome], dry: bool, began: float) -> None:
    """summary.json and summary.md, replaced whole after every step."""
    budget = COMMANDS[command][1]
    document: dict[str, Any] = {"command": command, "dry_run": dry, "budget_s": budget,
                                "elapsed_s": round(time.perf_counter() - began, 1),
                                "steps": [asdict(o) for o in outcomes]}  # fmt: skip
    lines = [f"# GPU check, command {command}{' (dry run on CPU, toy sizes)' if dry else ''}", "",
             "| step | status | seconds | limit | detail |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for o in outcomes:
        lines.append(
            f"| {o.name} | {o.status} | {o.seconds:.1f} | {o.limit_s:g} | {o.detail.replace('|', '/')[:200]} |"
        )
    if command == "A":
        document["goals"] = goals(outcomes)
        lines += ["", "| goal | ratio | target | met | cuDNN |", "| --- | --- | --- | --- | --- |"]
        for g in document["goals"]:
            shown = "not measured" if g["ratio"] is None else f"{g['ratio']:.2f}"
            lines.append(f"| {g['goal']} | {shown} | {g['target']} | {g['met']} | {g['cudnn'] or ''} |")
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, out / "summary.json")
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for summary.json, summary.md, logs/ and the JSON of each step")
    parser.add_argument("--command", choices=tuple(COMMANDS), default="A", help="A (first contact) or B (the rest)")
    parser.add_argument("--dry-run", action="store_true", help="the same steps at toy sizes on the CPU")
    parser.add_argument("--step", help=argparse.SUPPRESS)  # the child: run one step, write its JSON
    parser.add_argument("--only", help="comma-separated step names (default: every step of the command)")
    parser.add_argument(
        "--limit-scale",
        type=float,
        help="multiply every step's time limit (default: 1 on a GPU; 6 for --dry-run, whose interpreted Triton is "
        "slower than a GPU, so that it checks the steps, not their budget)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.step:
        result = RUNNERS[args.step](args.dry_run, out)
        (out / "steps" / f"{args.step}.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    for sub in ("logs", "steps", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    if args.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the toy run stays on the CPU even where a GPU is present
    scale = args.limit_scale if args.limit_scale is not None else (6.0 if args.dry_run else 1.0)
    wanted = None if args.only is None else set(args.only.split(","))
    began, outcomes, gate = time.perf_counter(), [], ""
    for step in COMMANDS[args.command][0]:
        if wanted is not None and step.name not in wanted:
            continue
        limit = step.limit_s * scale
        if step.triton and gate:
            outcomes.append(Outcome(step.name, "skipped", 0.0, limit, f"the smoke gate failed: {gate}"))
        else:
            outcomes.append(_run(step, args.dry_run, out, limit, env))
            if step.name == "smoke" and outcomes[-1].status != "ok":
                gate = f"{outcomes[-1].status}: {outcomes[-1].detail}"
        write_summary(out, args.command, outcomes, args.dry_run, began)
        print(f"{step.name}: {outcomes[-1].status} in {outcomes[-1].seconds:.1f} s {outcomes[-1].detail}", flush=True)
    return 0 if all(o.status in ("ok", "skipped") for o in outcomes) and not gate else 1


def _run(step: Step, dry: bool, out: Path, limit: float, env: dict[str, str]) -> Outcome:
    log = out / "logs" / f"{step.name}.log"
    code, seconds = _run_child(command_of(step, dry, out), limit, log, env)
    result_file = out / "steps" / f"{step.name}.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    tests = step.name.startswith("gpu-tests")
    if code is None:
        status, detail = "timeout", f"killed after its limit of {limit:g} s"
    elif code == 0 or (tests and code == 5):  # 5: pytest found no test to run (no GPU here)
        status, detail = "ok", ""
    else:
        status, detail = "failed", _last_error(log) or f"exit {code}"
    if tests:
        detail = _last_line(log) if code is not None else f"{detail}; {_test_counts(log)}"
    return Outcome(step.name, status, round(seconds, 1), limit, detail, result)


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _test_counts(log: Path) -> str:
    """'3 passed, 1 failed' from pytest -v's per-test lines: what a run cut short had done."""
    lines = log.read_text(errors="replace").splitlines()
    found = (re.search(r"::\S+ (PASSED|FAILED|ERROR|SKIPPED)", line) for line in lines)
    words = [m.group(1) for m in found if m]
    counts = {k: words.count(k) for k in ("PASSED", "FAILED", "ERROR", "SKIPPED") if k in words}
    return ", ".join(f"{n} {k.lower()}" for k, n in counts.items()) or "no test had ended"


def _last_error(log: Path) -> str:
    """The last line of a traceback (``SomeError: what``), else the last line."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line.split(":")[0] or line.startswith("rnnlab:")]
    return (errors or lines or [""])[-1][:400]


if __name__ == "__main__":
    sys.exit(main())
