"""The benchmark scripts at toy size: a script that no test runs is a script that is broken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the scripts in processes of their own: `make test` runs them, `make test-fast` does not

ROOT = Path(__file__).resolve().parents[1]


def test_bench_cells_quick_grid_writes_a_row_per_shape_and_engine(tmp_path: Path) -> None:
    out = tmp_path / "cells.json"
    engines = ("cudnn", "unrolled", "bptt")
    done = subprocess.run(
        [sys.executable, "scripts/bench_cells.py", "--quick", "--repeats", "1", "--engines", ",".join(engines),
         "--device", "cpu", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert len(rows) == 2 * 2 * len(engines)  # lstm and gru, 1 and 2 layers
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["layout"] for r in rows} == {"time"}
    assert all(r["max_abs_diff_output"] < 1e-5 for r in rows)
    assert report["meta"]["device"] == "cpu"


def _script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bench_help_times_every_command_and_imports_no_torch(tmp_path: Path) -> None:
    out = tmp_path / "help.json"
    done = _script("scripts/bench_help.py", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["command"] == "rnnlab --help" and any(r["command"] == "rnnlab train --help" for r in rows)
    assert all(r["this_median_s"] > 0 and 0 < r["this_peak_mib"] < 200 for r in rows)  # torch alone is ~600 MiB


def test_render_figures_keeps_the_readme_figures_of_a_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained = _script(
        "-m", "rnnlab", "train", "--dataset", "digits", "--hidden", "8", "--layers", "1", "--train-subset", "96",
        "--batch-size", "32", "--epochs", "1", "--device", "cpu", "--out", str(run),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    figures = tmp_path / "figures"
    done = _script("scripts/render_figures.py", str(run), "--out", str(figures))
    assert done.returncode == 0, done.stderr[-2000:]
    names = sorted(p.name for p in figures.iterdir())
    assert names and all(n.startswith("example_") or "curves" in n or "confusion" in n for n in names), names
    assert all(p.suffix == ".png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures.iterdir())


def test_bench_cpu_memory_times_both_allocators_on_both_workloads(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = _script("scripts/bench_cpu_memory.py", "--rounds", "1", "--steps", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    for workload in ("rows", "pixels"):
        row = report[workload]
        assert row["system_step_ms"] > 0 and row["kept_step_ms"] > 0
        assert row["speedup"] == row["system_step_ms"] / row["kept_step_ms"]
        assert len(row["runs"]["system"]) == len(row["runs"]["kept"]) == 1


def test_triton_report_compiles_for_sm_90_without_a_gpu(tmp_path: Path) -> None:
    pytest.importorskip("triton")
    out = tmp_path / "report.json"
    done = _script(
        "scripts/triton_report.py", "--target", "sm_90", "--hidden", "32", "--kernels", "lstm_forward",
        "--precisions", "fp32-tf32", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert {r["variant"] for r in rows} == {"persistent", "stepwise"}
    assert all(r["check"] == "ok" and r["spill_stores"] == 0 and r["shared_bytes"] <= r["shared_limit"] for r in rows)


def _gpu_check(out: Path, *args: str, timeout: int = 900) -> tuple[subprocess.CompletedProcess[str], dict]:
    done = _script("scripts/gpu_check.py", str(out), "--dry-run", *args, timeout=timeout)
    return done, json.loads((out / "summary.json").read_text())


def test_gpu_check_command_a_runs_every_step_at_toy_size_on_cpu(tmp_path: Path) -> None:
    done, summary = _gpu_check(tmp_path / "a")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    steps = {s["name"]: s for s in summary["steps"]}
    assert list(steps) == ["versions", "smoke", "goal-B128-T28-H256-L2", "goal-B16-T784-H256", "goal-B16-T784-H128",
                           "kernel-times", "gpu-tests"]  # fmt: skip
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert steps["versions"]["result"]["torch"] and steps["smoke"]["result"]["variant"].startswith("interpreted")
    engines = [r["engine"] for r in steps["goal-B128-T28-H256-L2"]["result"]["rows"]]
    assert engines == ["cudnn", "unrolled", "triton"]
    assert all(
        r["status"] == "ok" for s in steps.values() if s["name"].startswith("goal-") for r in s["result"]["rows"]
    )
    times = steps["kernel-times"]["result"]["shapes"]
    assert set(times) == {"B128-T28-H256-L2", "B16-T784-H256", "B16-T784-H128"}
    assert all(t["forward_ms"] > 0 and t["backward_ms"] > 0 for t in times.values())
    assert [g["ratio"] is not None for g in summary["goals"]] == [True] * 4  # read off the toy comparisons
    assert (tmp_path / "a" / "summary.md").read_text().startswith("# GPU check, command A (dry run on CPU")


def test_gpu_check_command_b_trains_evaluates_and_launches_torchrun_at_toy_size(tmp_path: Path) -> None:
    done, summary = _gpu_check(tmp_path / "b", "--command", "B")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    steps = {s["name"]: s for s in summary["steps"]}
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert set(steps["eval-every-engine"]["result"]["accuracy"]) == {"cudnn", "unrolled", "bptt", "triton"}
    assert steps["torchrun-nccl"]["result"]["backend"] == "gloo"
    assert json.loads((tmp_path / "b" / "bench_cells.json").read_text())["rows"]


def test_each_command_fits_its_budget() -> None:
    """Command A's limits add up to at most 5 minutes, B's to at most 400 s: both fit one lent GPU's 15."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert sum(s.limit_s for s in gpu_check.COMMAND_A) <= 300
    assert sum(s.limit_s for s in gpu_check.COMMAND_B) <= 400


def test_a_step_that_runs_out_of_time_is_killed_and_the_triton_steps_after_a_failed_gate_are_skipped(
    tmp_path: Path,
) -> None:
    out = tmp_path / "cut"
    done, summary = _gpu_check(out, "--only", "versions,smoke,kernel-times", "--limit-scale", "0.0001", timeout=120)
    assert done.returncode == 1
    steps = {s["name"]: s for s in summary["steps"]}
    assert steps["versions"]["status"] == steps["smoke"]["status"] == "timeout"
    assert steps["kernel-times"]["status"] == "skipped"
    assert steps["kernel-times"]["detail"].startswith("the smoke gate failed: timeout")


def test_bench_step_quick_measures_the_step_against_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "step.json"
    done = _script("scripts/bench_step.py", "--quick", "--steps", "4", "--profile", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    row = json.loads(out.read_text())
    assert row["hidden"] == 16 and row["floor_ms"] > 0 and row["bare_over_floor"] > 0 and len(row["profile"]) == 3
    assert row["fit_ms_per_step"] > 0 and row["trainer_step_ms"] > 0


def test_train_default_trains_on_digits_where_mnist_cannot_be_had(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "data"
    not_a_folder.write_text("not a folder: MNIST can be neither read nor downloaded here")
    run = tmp_path / "run"
    args = ["--epochs", "1", "--hidden", "8", "--train-subset", "64", "--out", str(run)]
    done = subprocess.run(
        [sys.executable, "scripts/train_default.py", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "RNNLAB_DATA_DIR": str(not_a_folder)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Training on scikit-learn's offline 8x8 digits set instead" in done.stdout
    assert json.loads((run / "config.json").read_text())["data"]["dataset"] == "digits"


def test_bench_keras_peer_times_both_sides(tmp_path: Path) -> None:
    """Keras is no dependency: it is installed into a folder of its own, as the script's docstring says."""
    if not (Path(os.environ.get("RNNLAB_DATA_DIR", "/nonexistent")) / "MNIST" / "raw").is_dir():
        pytest.skip("needs MNIST under RNNLAB_DATA_DIR (the comparison trains on MNIST rows)")
    target = tmp_path / "keras"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--no-deps",
         "keras", "namex", "optree", "absl-py", "h5py", "ml-dtypes", "rich"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if pip.returncode != 0:
        pytest.skip(f"keras could not be installed here: {pip.stderr.strip().splitlines()[-1:]}")
    out = tmp_path / "peer.json"
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": f"{target}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "scripts/bench_keras_peer.py", "--repeats", "1", "--steps", "2", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(out.read_text())
    assert row["rnnlab_epoch_s"] > 0 and row["keras_epoch_s"] > 0 and row["steps_per_epoch"] == 2


def test_every_script_is_run_by_a_test() -> None:
    """A script that no test runs is a script that is broken: each file of scripts/ is named by a test (run at
    toy size, or imported by the script such a test runs)."""
    tests = " ".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    helpers = {"gpu_steps.py": "gpu_check.py", "gpu_probe_kernels.py": "gpu_check.py"}  # imported by gpu_check.py
    for script in sorted((ROOT / "scripts").glob("*.py")):
        named = helpers.get(script.name, script.name)
        assert f"scripts/{named}" in tests, f"no test runs scripts/{script.name}"
    assert not list((ROOT / "scripts").glob("*.sh")), "a shell script no test runs: write it in Python, with a dry run"


def test_bench_regularisers_quick_times_every_engine_with_what_it_computes(tmp_path: Path) -> None:
    out = tmp_path / "reg.json"
    done = _script("scripts/bench_regularisers.py", "--quick", "--cell", "lstm", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    by = {(r["engine"], r["regulariser"]) for r in rows}
    assert ("bptt", "all three") in by and ("cudnn", "weight-drop") in by and ("cudnn", "zoneout") not in by
    assert all(r["fwdbwd_ms"] > 0 for r in rows)


def test_bench_threads_quick_times_every_setting_beside_a_busy_process(tmp_path: Path) -> None:
    out = tmp_path / "threads.json"
    done = _script("scripts/bench_threads.py", "--quick", "--busy", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert {r["busy"] for r in rows} == {1} and len(rows) == 4
    assert any("rnnlab's spin" in r["setting"] for r in rows) and {r["model"] for r in rows} == {"tiny"}
    assert all(r["median_ms"] > 0 and r["mean_ms"] > 0 for r in rows)
    assert any(r["wait_share"] is not None and r["wait_share"] > 0 for r in rows)  # a thread waited beside it
    assert [r["setting"] for r in rows if r["rnnlab_default"]] == ["1 thread"]  # a tiny model: one thread
    assert report["meta"]["cores"] >= 1
