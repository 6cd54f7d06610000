"""The triton engine's kernels compiled for GPUs this machine need not have: sm_90 (H100) and sm_80 (A100).

Triton's compiler API and the ptxas in its wheel build every kernel (LSTM and GRU, forward and backward) x every
variant the rule can pick (``variants.persistent_refusal``: stepwise always; persistent where the W_hh slice fits
on chip: fp32-tf32 and bf16 for H <= 256, fp64 and fp32-ieee for H <= 128) x precision (fp32-tf32,
fp32-ieee, bf16, fp64) x H in {32, 100, 128, 256, 512} x target, with the launch arguments and alignment hints
the engine's launch would give. Each test asserts: it compiles; no spills for fp32 and bf16, nor for any
persistent kernel (the stepwise fp64 backward spills 4 bytes under triton 3.6); shared memory within the target's
per-block limit; the matrix instructions it was designed for. The same checks run again for sm_90 under the
Triton the GPU machine's image has (DEVICE_TRITON, installed beside this one for the test).
The persistent variant at sizes the rule refuses is not built here (``scripts/triton_report.py --all`` shows it).

The whole matrix is compiled once per session, in one worker process per CPU (a fresh Triton cache each), about
70 s on 2 cores; identical compiles (the stepwise code depends on H only through H % 16) are built once.
"""

import pytest

pytest.importorskip("triton", reason="triton is not installed: nothing to compile")

from rnnlab.cells.triton import aot  # noqa: E402

pytestmark = pytest.mark.slow  # ahead-of-time compiles for sm_90 and sm_80 (make test-fast skips them)

JOBS = aot.matrix()


@pytest.fixture(scope="module")
def built() -> dict[aot.Job, dict]:
    return dict(zip(JOBS, aot.compile_all(JOBS)))


def _id(job: aot.Job) -> str:
    return f"{job.kernel}-{job.variant}-{job.precision}-H{job.hidden}-{job.target}"


def _expected_family(job: aot.Job) -> str:
    """tl.dot on tensor cores: wgmma needs a 64-row M, which the forward's 4 x 16 gate rows give; the backward's M
    is its 16 units (mma.sync); fp64 has DMMA only (mma.sync); IEEE fp32 has no tensor-core path (FMA)."""
    if job.precision == "fp32-ieee":
        return "FMA"
    if job.precision == "fp64" or job.target == "sm_80" or job.kernel.endswith("backward"):
        return "mma.sync"
    return "wgmma"


@pytest.mark.parametrize("job", JOBS, ids=_id)
def test_kernel_compiles_within_the_targets_resources(built, job) -> None:
    r = built[job]
    assert "error" not in r, r.get("error")
    if job.precision != "fp64" or job.variant == "persistent":
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, r
    assert r["shared_bytes"] <= aot.SHARED_LIMIT[job.target], r
    assert r["registers"] <= 255 and r["num_warps"] == job.plan().num_warps
    if job.variant == "persistent":  # the launch sizes its grid from this: at least one program per SM
        assert r["per_sm"] >= 1, r
    assert r["family"] == _expected_family(job), r


def test_matrix_covers_every_kernel_precision_size_and_target() -> None:
    seen = {(j.kernel, j.precision, j.hidden, j.target) for j in JOBS}
    assert len(seen) == len(aot.KERNELS) * len(aot.PRECISIONS) * len(aot.HIDDEN) * len(aot.TARGETS)
    assert {j.variant for j in JOBS} == {"persistent", "stepwise"}
    persistent = {(j.precision, j.hidden) for j in JOBS if j.variant == "persistent" and j.kernel == "lstm_forward"}
    assert ("fp32-tf32", 256) in persistent and ("bf16", 256) in persistent and ("fp64", 128) in persistent


def test_spills_are_read_from_ptxas() -> None:
    """The report's parser, on a log with spills: a regression that always read 0 would pass every test above."""
    log = "ptxas info    : Function properties for k\n    104 bytes stack frame, 104 bytes spill stores, 96 bytes "
    log += "spill loads\nptxas info    : Used 255 registers, used 1 barriers"
    assert aot.parse_ptxas(log) == {"registers": 255, "stack_bytes": 104, "spill_stores": 104, "spill_loads": 96}


# The Triton of the GPU machine's image (torch 2.11's): the kernels must compile there as well as under the version
# pip installs here. Bump it with the image.
DEVICE_TRITON = "3.6.0"


def test_the_kernels_compile_for_sm_90_under_the_gpu_machines_triton(tmp_path_factory, monkeypatch) -> None:
    import subprocess
    import sys

    target = tmp_path_factory.mktemp("device-triton")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         f"triton=={DEVICE_TRITON}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert pip.returncode == 0, f"pip could not install triton {DEVICE_TRITON}: {pip.stderr[-1000:]}"
    monkeypatch.setenv("PYTHONPATH", str(target))  # the compile workers import that triton first
    jobs = aot.matrix(targets=("sm_90",))
    results = aot.compile_all(jobs)
    assert {r["triton"] for r in results} == {DEVICE_TRITON}
    wrong = []
    for job, r in zip(jobs, results):
        spills = r.get("spill_stores", 0) or r.get("spill_loads", 0)
        if "error" in r:
            wrong.append(f"{_id(job)}: {r['error'][:200]}")
        elif spills and (job.precision != "fp64" or job.variant == "persistent"):
            wrong.append(
                f"{_id(job)}: spills {r['spill_stores']}/{r['spill_loads']} bytes at {r['registers']} registers"
            )
        elif r["shared_bytes"] > aot.SHARED_LIMIT[job.target] or r["family"] != _expected_family(job):
            wrong.append(f"{_id(job)}: shared {r['shared_bytes']} bytes, {r['family']}")
    assert wrong == []
