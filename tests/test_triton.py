"""The triton engine beyond the registry-wide tests: bf16, the CLI, and real sizes on a GPU.

On CPU the kernels run under TRITON_INTERPRET=1 (set by rnnlab where CUDA is absent, before the kernels are
defined) on tiny shapes; on a GPU the same checks run compiled at real sizes."""

import json

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cells import get_engine
from rnnlab.cli import app
from rnnlab.config import ModelConfig
from rnnlab.errors import UserError
from rnnlab.lab.compare_cells import engine_results
from rnnlab.model.classifier import build_model

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (compiled Triton kernels)")


def _rel(got: dict, ref: dict) -> float:
    """max over tensors of ||got - ref|| / ||ref||."""
    return max(((got[k].double() - ref[k]).norm() / ref[k].norm().clamp_min(1e-30)).item() for k in ref)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_operands_with_fp32_state(cell) -> None:
    model = build_model(ModelConfig(cell=cell, input_size=4, hidden=(8,), layers=1, dropout=0.0), layout="time", seed=0)
    x = torch.randn(7, 3, 4, generator=torch.Generator().manual_seed(0))
    ref = engine_results(model, "unrolled", x, torch.float64)
    rel = _rel(engine_results(model, "triton", x, torch.bfloat16), ref)
    assert 1e-5 < rel < 3e-2, rel  # bf16 rounding shows, but no more than bf16 rounding
    assert _rel(engine_results(model, "triton", x, torch.float32), ref) < 1e-5


def test_triton_rejects_the_plain_rnn_cell_with_a_reason() -> None:
    model = build_model(ModelConfig(cell="rnn", input_size=4, hidden=(8,), layers=1), engine="triton", layout="time")
    with pytest.raises(UserError, match="triton implements lstm and gru"):
        model(torch.randn(3, 2, 4))


def test_compare_cells_runs_triton_beside_cudnn(tmp_path) -> None:
    out = tmp_path / "rows.json"
    args = [
        "compare-cells",
        "--engines",
        "cudnn,triton",
        "--hidden",
        "16",
        "--batch-size",
        "4",
        "--seq",
        "5",
        "--input-size",
        "4",
        "--repeats",
        "1",
        "--layout",
        "time",
        "--device",
        "cpu",
        "--json-file",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {r["engine"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["triton"]["status"] == "ok" and rows["triton"]["max_abs_diff_output"] < 1e-5
    for key in (
        "engine",
        "layout",
        "max_abs_diff_output",
        "max_abs_diff_grad",
        "fwd_ms",
        "fwdbwd_ms",
        "ratio_to_cudnn",
        "peak_memory_bytes",
    ):
        assert key in rows["triton"]


def test_engine_availability_is_explained() -> None:
    assert get_engine("triton", "cpu").name == "triton"  # interpreted where CUDA is absent
    if torch.cuda.is_available():
        with pytest.raises(UserError, match="need a CUDA GPU"):
            get_engine("triton", "cpu")


# ---- compiled, real sizes: run where a GPU is present -----------------------------------------------------------


@GPU
@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    ("batch", "seq", "hidden", "layers"), [(128, 28, 256, 2), (16, 784, 128, 1), (1024, 28, 128, 1)]
)
def test_gpu_matches_float64_reference_at_real_sizes(cell, batch, seq, hidden, layers, monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # IEEE fp32 in the kernels' dot
    cfg = ModelConfig(cell=cell, input_size=28, hidden=(hidden,), layers=layers, dropout=0.0, bidirectional=layers == 2)
    model = build_model(cfg, layout="time", seed=0).cuda()
    x = torch.randn(seq, batch, 28, device="cuda")
    ref = engine_results(model, "unrolled", x, torch.float64)
    assert _rel(engine_results(model, "triton", x, torch.float32), ref) < 1e-4
    assert _rel(engine_results(model, "triton", x, torch.bfloat16), ref) < 3e-2


@GPU
@pytest.mark.gpu
def test_gpu_train_step_with_triton(tmp_path) -> None:
    args = [
        "train",
        "--dataset",
        "digits",
        "--engine",
        "triton",
        "--device",
        "cuda",
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
