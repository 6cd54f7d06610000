"""The triton engine beyond the registry-wide tests: bf16, every program and tile, the variant rule, the CLI, and
real sizes on a GPU.

Where CUDA is absent the kernels run under TRITON_INTERPRET=1 (set by rnnlab before they are defined) on tiny
shapes, one launch per step: the numerics of the code the GPU runs, without its barrier. Those tests need the
interpreter and skip on a CUDA machine, where the compiled kernels are tested on cuda tensors (``-m gpu``),
barrier included. Everything that runs a kernel skips, with the reason, where triton is not installed."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cells import available_engines, get_engine
from rnnlab.cli import app
from rnnlab.config import ModelConfig
from rnnlab.errors import UserError
from rnnlab.lab.compare_cells import engine_results
from rnnlab.model.classifier import build_model

CPU_REASON = available_engines("cpu")["triton"]  # None where the kernels run interpreted on CPU
HAS_TRITON = not (CPU_REASON or "").startswith("triton is not installed")
_ON_CPU = pytest.mark.skipif(
    CPU_REASON is not None,
    reason=f"runs the kernels under Triton's interpreter on CPU, which rnnlab does only where CUDA is absent "
    f"(a CUDA machine tests the compiled kernels: -m gpu); here: {CPU_REASON}",
)


def INTERPRETED(test):  # noqa: N802 (a decorator, named like the marks beside it)
    """Runs the kernels under Triton's interpreter: slow (make test-fast skips it), and only where CUDA is absent."""
    return pytest.mark.slow(_ON_CPU(test))


# the GPU tests that fit command A's step (scripts/gpu_first_contact.py runs -m "gpu and not slow"); the rest run in
# command B (-m gpu): the other real sizes compile each kernel in four precisions again, minutes in all
LONG_ON_A_GPU = pytest.mark.slow
GPU = pytest.mark.skipif(
    not HAS_TRITON or not torch.cuda.is_available(), reason="needs a CUDA GPU and triton (compiled kernels)"
)
F64 = {"atol": 1e-12, "rtol": 1e-10}


def _rel(got: dict, ref: dict) -> float:
    """max over tensors of ||got - ref|| / ||ref||."""
    return max(((got[k].double() - ref[k]).norm() / ref[k].norm().clamp_min(1e-30)).item() for k in ref)


def _assert_matches(got: dict, ref: dict, what: str, **tol) -> None:
    for key in ref:
        diff = (got[key].double() - ref[key]).abs()
        torch.testing.assert_close(
            got[key].double(), ref[key], **tol,
            msg=lambda m, key=key, diff=diff: f"{what} {key}: max |diff| {diff.max():.3e}, mean {diff.mean():.3e}\n{m}",
        )  # fmt: skip


def _model(cell: str, hidden: int, input_size: int = 4, layers: int = 1, bidirectional: bool = False):
    cfg = ModelConfig(
        cell=cell, input_size=input_size, hidden=(hidden,), layers=layers, dropout=0.0, bidirectional=bidirectional
    )
    return build_model(cfg, layout="time", seed=0)


def _force(monkeypatch, **changes) -> None:
    """Make the engine run a changed plan (another variant's launch shape) so that its code is checked too."""
    from rnnlab.cells.triton import engine

    planned = engine._plan

    def changed(cell, B, H, dtype, device):
        p = planned(cell, B, H, dtype, device)
        fields = {k: (v(p, B) if callable(v) else v) for k, v in changes.items()}
        return dataclasses.replace(p, **fields)

    monkeypatch.setattr(engine, "_plan", changed)


# ---- interpreted, on CPU ------------------------------------------------------------------------------------------


@INTERPRETED
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_operands_with_fp32_state(cell) -> None:
    model = _model(cell, 8)
    x = torch.randn(7, 3, 4, generator=torch.Generator().manual_seed(0))
    ref = engine_results(model, "unrolled", x, torch.float64)
    rel = _rel(engine_results(model, "triton", x, torch.bfloat16), ref)
    assert 1e-5 < rel < 3e-2, rel  # bf16 rounding shows, but no more than bf16 rounding
    assert _rel(engine_results(model, "triton", x, torch.float32), ref) < 1e-5


# H = 40: three unit programs, the last one partial; B = 37: three batch tiles, the last one partial. A program
# reading or writing another's slice, a tile off by a row, or a lost K chunk is off by far more than rounding.
LAUNCHES = {
    "interpreted": {},  # the persistent kernels' launch, one step at a time
    "stepwise, K in chunks": {"variant": "stepwise", "resident": False, "block_k": 16, "num_stages": 2},
    "batch groups of 2 tiles": {"rows": 32, "grid": lambda p, B: (p.grid[0], -(-B // 32))},
}


@INTERPRETED
@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_program_and_tile_matches_float64(cell, launch, monkeypatch) -> None:
    _force(monkeypatch, **LAUNCHES[launch])
    model = _model(cell, 40)
    x = torch.randn(4, 37, 4, generator=torch.Generator().manual_seed(1))
    ref = engine_results(model, "unrolled", x, torch.float64)
    _assert_matches(engine_results(model, "triton", x, torch.float64), ref, f"triton ({launch})", **F64)


@INTERPRETED
def test_a_missing_program_is_caught(monkeypatch) -> None:
    """Planted bug: a grid one unit program short, so the last 8 units are never computed."""
    _force(monkeypatch, grid=lambda p, B: (p.grid[0] - 1, p.grid[1]))
    model = _model("lstm", 40)
    x = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(2))
    ref = engine_results(model, "unrolled", x, torch.float64)
    with pytest.raises(AssertionError, match="triton"):
        _assert_matches(engine_results(model, "triton", x, torch.float64), ref, "triton", **F64)


@INTERPRETED
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_program_arrives_once_per_step(cell) -> None:
    """The barrier's counters, checked where the barrier itself cannot run: each of the n_u unit programs of a
    batch group adds one arrival per step, forward and backward, so a step waits for exactly n_u * (s + 1)."""
    from rnnlab.cells.triton import gru_kernels, lstm_kernels
    from rnnlab.cells.triton.launch import run
    from rnnlab.cells.triton.variants import plan

    T, B, H, G = 3, 20, 24, 4 if cell == "lstm" else 3
    p = plan(cell, B, H, torch.float64, torch.device("cpu"), interpreted=True)
    n_u, n_b = p.grid
    assert (n_u, n_b) == (2, 2)
    f64 = {"dtype": torch.float64}
    xw, whh = torch.randn(T, B, G * H, **f64), torch.randn(G * H, H, **f64)
    hs, gates = torch.zeros(T + 1, B, H, **f64), torch.empty(T, B, G * H, **f64)
    if cell == "lstm":
        fwd, _ = run(lstm_kernels.lstm_forward, p, (xw, whh, hs, hs.clone(), gates), T, B, H, backward=False)
        dg = torch.zeros(T + 1, B, G * H, **f64)
        bwd_args = (torch.randn(T, B, H, **f64), whh, gates, hs.clone(), dg, torch.zeros(B, H, **f64))
        bwd, _ = run(lstm_kernels.lstm_backward, p, bwd_args, T, B, H, backward=True)
    else:
        hwn = torch.empty(T, B, H, **f64)
        fwd, _ = run(gru_kernels.gru_forward, p, (xw, whh, torch.zeros(G * H, **f64), hs, gates, hwn), T, B, H, False)
        dp = torch.zeros(T + 1, B, G * H, **f64)
        bwd_args = (torch.randn(T, B, H, **f64), torch.zeros(B, H, **f64), whh, hs, gates, hwn, xw.clone(), dp)
        bwd, _ = run(gru_kernels.gru_backward, p, bwd_args, T, B, H, backward=True)
    assert fwd.tolist() == [n_u * T] * n_b
    assert bwd.tolist() == [n_u * T] * n_b


@INTERPRETED
def test_variant_is_named_on_cpu() -> None:
    from rnnlab.cells.triton.engine import variant

    assert variant("lstm", 128, 256, torch.float32, "cpu").startswith("interpreted: ")
    with pytest.raises(UserError, match="triton implements lstm and gru"):
        variant("rnn", 128, 256, torch.float32, "cpu")


def test_triton_rejects_the_plain_rnn_cell_with_a_reason() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if available_engines(device)["triton"] is not None:
        pytest.skip(f"triton cannot run on {device} here: {available_engines(device)['triton']}")
    model = build_model(ModelConfig(cell="rnn", input_size=4, hidden=(8,), layers=1), engine="triton", layout="time")
    with pytest.raises(UserError, match="triton implements lstm and gru"):
        model.to(device)(torch.randn(3, 2, 4, device=device))


@INTERPRETED
def test_compare_cells_runs_triton_beside_cudnn(tmp_path) -> None:
    out = tmp_path / "rows.json"
    args = ["compare-cells", "--engines", "cudnn,triton", "--hidden", "16", "--batch-size", "4", "--seq", "5",
            "--input-size", "4", "--repeats", "1", "--layout", "time", "--device", "cpu",
            "--json-file", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {r["engine"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["triton"]["status"] == "ok" and rows["triton"]["max_abs_diff_output"] < 1e-5
    for key in ("engine", "layout", "max_abs_diff_output", "max_abs_diff_grad", "fwd_ms", "fwdbwd_ms",
                "ratio_to_cudnn", "peak_memory_bytes"):  # fmt: skip
        assert key in rows["triton"]


def test_engine_availability_is_explained() -> None:
    """Whatever the machine: where triton is missing, where only the interpreter runs, or where CUDA runs."""
    if not HAS_TRITON:
        with pytest.raises(UserError, match="triton is not installed"):
            get_engine("triton", "cpu")
    elif torch.cuda.is_available():
        assert get_engine("triton", "cuda").name == "triton"
        from rnnlab.cells.triton.kernels import INTERPRETED as interpreted

        if not interpreted:
            with pytest.raises(UserError, match="need a CUDA GPU"):
                get_engine("triton", "cpu")
    else:
        assert get_engine("triton", "cpu").name == "triton"  # interpreted where CUDA is absent
        with pytest.raises(UserError, match="cannot run on cuda: no CUDA device"):
            get_engine("triton", "cuda")


# ---- the rule that picks the variant: plain Python, on any machine with triton ------------------------------------


def test_the_rule_keeps_the_slice_on_chip_only_where_it_fits() -> None:
    from rnnlab.cells.triton.variants import ON_CHIP_BYTES, make_plan, persistent_refusal, slice_bytes

    assert persistent_refusal(256, torch.float32, "tf32", 132) is None  # 64 KiB
    assert "128 KiB > 64 KiB" in persistent_refusal(512, torch.float32, "tf32", 132)
    assert persistent_refusal(256, torch.bfloat16, "ieee", 132) is None  # 32 KiB of bf16
    assert persistent_refusal(128, torch.float32, "ieee", 132) is None
    assert "on chip for ieee" in persistent_refusal(256, torch.float32, "ieee", 132)  # FMA: operands in registers
    assert "> 4 SMs" in persistent_refusal(100, torch.bfloat16, "ieee", 4)
    assert all(slice_bytes(h, torch.float32) <= ON_CHIP_BYTES["tf32"] for h in (32, 100, 128, 256))
    for batch in (1, 16, 128, 1000, 4096):
        p = make_plan("persistent", batch, 256, torch.float32, 132, interpreted=False)
        assert p.grid[0] * p.grid[1] <= 132 and p.grid[1] * p.rows >= batch and p.rows % p.block_b == 0
        assert p.describe().startswith("persistent: W_hh on chip, 64 KiB/program")


def test_the_grid_is_sized_from_the_compiled_kernels_occupancy() -> None:
    """sm_90's figures, with registers and shared memory as ptxas reports them for the persistent kernels
    (scripts/triton_report.py): the grid holds as many batch groups as the SMs hold programs, never more."""
    from rnnlab.cells.triton.variants import SM_80, SM_90, fit_grid, make_plan, programs_per_sm

    kib = 1024
    assert programs_per_sm(155, 84 * kib, 8, SM_90) == 1  # LSTM forward, H=256 tf32: 40,960 registers a program
    assert programs_per_sm(110, 44 * kib, 8, SM_90) == 2  # H=128 tf32: 28,672 registers, 45 KiB
    assert programs_per_sm(92, 24 * kib, 8, SM_90) == 2  # bf16 H=128: registers bind before shared memory
    assert programs_per_sm(64, 24 * kib, 4, SM_90) == 8  # registers bind at 8 (8,192 each); shared memory would hold 9
    assert programs_per_sm(64, 24 * kib, 4, SM_80) == 6  # 164 KiB
    assert programs_per_sm(254, 41 * kib, 8, SM_90) == 1  # the backward
    assert programs_per_sm(32, 0, 1, SM_90) == 32  # then the block limit
    assert programs_per_sm(104, 0, 1, SM_90) == 16  # 4 quarter-SM register files of 4 warps each, not 19 warps
    assert programs_per_sm(255, 240 * kib, 8, SM_90) == 0  # more shared memory than an SM has

    big = make_plan("persistent", 1024, 128, torch.float32, 132, interpreted=False)
    assert big.grid == (8, 16) and big.rows == 64  # one program per SM, as planned before compiling
    two = fit_grid(big, 1024, per_sm=2)
    assert two.grid == (8, 32) and two.rows == 32 and two.per_sm == 2 and "2 per SM" in two.describe()
    assert fit_grid(two, 1024, per_sm=1) == fit_grid(big, 1024, per_sm=1)  # from the batch, not the last grid
    assert fit_grid(big, 1024, per_sm=1).grid == big.grid
    small = make_plan("persistent", 128, 256, torch.float32, 132, interpreted=False)
    assert fit_grid(small, 128, per_sm=2).grid == (16, 8)  # 8 tiles: no more groups than tiles
    none = fit_grid(small, 128, per_sm=0)
    assert none.variant == "stepwise" and not none.grid_sync and "0 program(s) per SM" in none.why


# ---- compiled, real sizes: run where a GPU is present -------------------------------------------------------------


@GPU
@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    ("batch", "seq", "hidden", "layers"),
    [(128, 28, 256, 2), *(pytest.param(*s, marks=LONG_ON_A_GPU) for s in ((16, 784, 128, 1), (1024, 28, 128, 1),
                                                                          (64, 50, 100, 1)))],
)  # fmt: skip
def test_gpu_matches_float64_reference_at_real_sizes(cell, batch, seq, hidden, layers, monkeypatch) -> None:
    cfg = ModelConfig(cell=cell, input_size=28, hidden=(hidden,), layers=layers, dropout=0.0, bidirectional=layers == 2)
    model = build_model(cfg, layout="time", seed=0).cuda()
    x = torch.randn(seq, batch, 28, device="cuda")
    ref = engine_results(model, "unrolled", x, torch.float64)
    assert _rel(engine_results(model, "triton", x, torch.float64), ref) < 1e-10
    assert _rel(engine_results(model, "triton", x, torch.bfloat16), ref) < 3e-2
    assert _rel(engine_results(model, "triton", x, torch.float32), ref) < 5e-3  # TF32, PyTorch's default for cuDNN
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # IEEE fp32 in the kernels' dot
    assert _rel(engine_results(model, "triton", x, torch.float32), ref) < 1e-4


@GPU
@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("launch", ["persistent", "stepwise"])
def test_gpu_each_variant_matches_and_repeats_bit_for_bit(cell, launch, monkeypatch) -> None:
    """Both variants at a shape where the rule picks persistent; three runs agree to the bit (a barrier race
    moves the error from run to run)."""
    from rnnlab.cells.triton.engine import variant

    assert variant(cell, 128, 256, torch.bfloat16, "cuda").startswith("persistent")
    if launch == "stepwise":
        _force(monkeypatch, variant="stepwise", resident=False, grid_sync=False, block_k=32, num_stages=2,
               rows=16, grid=lambda p, B: (p.grid[0], -(-B // 16)))  # fmt: skip
    model = _model(cell, 256, input_size=28)
    model.cuda()
    x = torch.randn(40, 128, 28, device="cuda")
    ref = engine_results(model, "unrolled", x, torch.float64)
    runs = [engine_results(model, "triton", x, torch.bfloat16) for _ in range(3)]
    assert _rel(runs[0], ref) < 3e-2
    for other in runs[1:]:
        assert all(torch.equal(runs[0][k], other[k]) for k in ref), "results moved between identical runs"


@GPU
@pytest.mark.gpu
@LONG_ON_A_GPU  # 2.3e9-element buffers
def test_gpu_offsets_past_two_to_the_31(monkeypatch) -> None:
    """T*B*4H > 2^31 elements: 32-bit offsets would wrap. Batch rows are independent, so the last rows (the
    largest offsets) are checked at every step against the float64 reference run on those rows alone."""
    T, B, H = 1100, 512, 1024  # xw and the saved gates are (T, B, 4H): 2.3e9 elements each
    free, _ = torch.cuda.mem_get_info()
    if free < 30 * 2**30:
        pytest.skip(f"needs 30 GiB of free GPU memory, {free / 2**30:.0f} GiB free")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    model = _model("lstm", H, input_size=8).cuda()
    x = torch.randn(T, B, 8, device="cuda")
    with torch.no_grad():
        model.engine = "triton"
        out = model.trace(x)[1][:, -16:].double()  # (T, 16, H)
        model.engine = "unrolled"
        ref = model.double().trace(x[:, -16:].double())[1]
    rel = ((out - ref).norm() / ref.norm()).item()
    assert rel < 1e-4, rel


@GPU
@pytest.mark.gpu
def test_gpu_train_step_with_triton(tmp_path) -> None:
    args = ["train", "--dataset", "digits", "--engine", "triton", "--device", "cuda", "--epochs", "1",
            "--out", str(tmp_path / "r")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


@INTERPRETED
def test_the_interpreter_works_when_torch_imported_triton_first() -> None:
    """torch imports triton itself (torch._dynamo, on an optimiser's first step): where that comes before rnnlab
    sets TRITON_INTERPRET, Triton's own @jit library is built for a GPU. The kernels use none of it."""
    probe = (
        "import sys, torch, torch._dynamo\n"
        "assert 'triton' in sys.modules, 'this torch no longer imports triton first: the test needs another way'\n"
        "from rnnlab.config import ModelConfig\n"
        "from rnnlab.lab.compare_cells import engine_results\n"
        "from rnnlab.model.classifier import build_model\n"
        "for cell in ('lstm', 'gru'):\n"
        "    cfg = ModelConfig(cell=cell, input_size=4, hidden=(8,), layers=1, dropout=0.0)\n"
        "    model = build_model(cfg, layout='time', seed=0)\n"
        "    x = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(0))\n"
        "    got = engine_results(model, 'triton', x, torch.float64)\n"
        "    ref = engine_results(model, 'unrolled', x, torch.float64)\n"
        "    worst = max((got[k] - ref[k]).abs().max().item() for k in ref)\n"
        "    assert worst < 1e-12, (cell, worst)\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=root, env={**env, "PYTHONPATH": str(root)}
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


# ---- the launch: a refused cooperative launch, a barrier that gave up (a stand-in kernel, any machine) -------------


class _Kernel:
    """Stands in for a @triton.jit kernel: records each launch; refuses cooperative ones, or raises the flag."""

    __name__ = "lstm_forward"

    def __init__(self, refuse: bool = False, give_up: bool = False, resident: int | None = None) -> None:
        self.refuse, self.give_up, self.launches, self.resident = refuse, give_up, [], resident

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            too_many = self.resident is not None and grid[0] * grid[1] > self.resident
            if kwargs.get("launch_cooperative_grid") and (self.refuse or too_many):
                raise RuntimeError("Triton Error [CUDA]: too many blocks in cooperative launch")
            self.launches.append((grid, kwargs.get("GRID_SYNC")))
            if self.give_up:
                args[-6][-1] = 1  # sync, the flag after the counters

        return launch


def _persistent_plan():
    from rnnlab.cells.triton.variants import make_plan

    return make_plan("persistent", 37, 40, torch.float32, sms=132, interpreted=False)


def test_a_refused_cooperative_launch_runs_stepwise_and_says_why(monkeypatch) -> None:
    from rnnlab.cells.triton import launch, variants

    monkeypatch.setattr(variants, "REFUSED", {})
    kernel, T = _Kernel(refuse=True), 5
    sync, ran = launch.run(kernel, _persistent_plan(), (torch.zeros(3),), T, 37, 40, backward=False)
    assert ran.variant == "stepwise" and not ran.grid_sync and ran.grid == (3, 3)
    assert ran.why == "cooperative launch refused: Triton Error [CUDA]: too many blocks in cooperative launch"
    assert len(kernel.launches) == T and all(sync_on is False for _, sync_on in kernel.launches)
    assert "stepwise" in ran.describe() and "cooperative launch refused" in ran.describe()
    assert {"cpu": ran.why} == variants.REFUSED  # later plans on this device start stepwise, and say why
    assert tuple(sync.shape) == (3,)


def test_a_refused_grid_of_two_programs_per_sm_is_tried_once_at_one_before_going_stepwise(monkeypatch) -> None:
    from rnnlab.cells.triton import launch, variants

    monkeypatch.setattr(variants, "REFUSED", {})
    plan = variants.make_plan("persistent", 1024, 128, torch.float32, sms=132, interpreted=False)
    two = variants.fit_grid(plan, 1024, per_sm=2)  # as fitted on a GPU (a CPU tensor skips the fitting)
    kernel = _Kernel(resident=132)  # the device holds one program per SM, not the two the arithmetic said
    _, ran = launch.run(kernel, two, (torch.zeros(3),), 5, 1024, 128, backward=False)
    assert ran.grid_sync and ran.per_sm == 1 and ran.grid == (8, 16) and kernel.launches == [((8, 16), True)]
    assert variants.REFUSED == {}  # the device is not marked stepwise


def test_a_compiled_kernel_too_large_for_an_sm_runs_stepwise_and_says_why(monkeypatch) -> None:
    from rnnlab.cells.triton import launch, variants

    class TooLarge(_Kernel):
        def warmup(self, *args, grid, **kwargs):
            def refuse():
                raise RuntimeError("out of resource: shared memory, Required: 300000, Hardware limit: 232448")

            return __import__("types").SimpleNamespace(_init_handles=refuse)

    monkeypatch.setattr(variants, "REFUSED", {})
    monkeypatch.setattr(launch, "sm_limits", lambda device: variants.SM_90)
    monkeypatch.setattr(launch, "_FITTED", {})
    plan = variants.make_plan("persistent", 128, 128, torch.float32, sms=132, interpreted=False)
    ran = launch._fitted(TooLarge(), plan, (torch.zeros(3),), 28, 128, 128, backward=False)
    assert ran.variant == "stepwise" and ran.per_sm == 0 and "does not fit an SM: out of resource" in ran.why


def test_a_persistent_launch_is_fitted_to_its_compiled_binary_once(monkeypatch) -> None:
    from types import SimpleNamespace

    from rnnlab.cells.triton import launch, variants

    compiled = []

    class Compiled(_Kernel):
        def warmup(self, *args, grid, **kwargs):
            compiled.append((grid, args[-5:-3], kwargs["GRID_SYNC"], kwargs["launch_cooperative_grid"]))
            return SimpleNamespace(n_regs=110, metadata=SimpleNamespace(shared=44 * 1024), _init_handles=lambda: None)

    monkeypatch.setattr(launch, "sm_limits", lambda device: variants.SM_90)
    monkeypatch.setattr(launch, "_FITTED", {})
    plan = variants.make_plan("persistent", 1024, 128, torch.float32, sms=132, interpreted=False)
    kernel, args = Compiled(), (torch.zeros(3),)
    fitted = launch._fitted(kernel, plan, args, 28, 1024, 128, backward=True)
    assert fitted.grid == (8, 32) and fitted.per_sm == 2
    assert launch._fitted(kernel, plan, args, 28, 1024, 128, backward=True) is fitted
    # compiled once with the launch's own (t0, steps), so the launch reuses the binary; never launched
    assert compiled == [((8, 16), (27, 28), True, True)] and kernel.launches == []


def test_a_barrier_that_gave_up_is_one_line_naming_the_kernel() -> None:
    from rnnlab.cells.triton.launch import BarrierTimeout, run

    with pytest.raises(BarrierTimeout) as caught:
        run(_Kernel(give_up=True), _persistent_plan(), (torch.zeros(3),), 5, 37, 40, backward=False)
    message = str(caught.value)
    assert message.startswith("triton engine: lstm_forward gave up at its grid barrier after 4,194,304 polls")
    assert "\n" not in message
