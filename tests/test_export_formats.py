"""Each export format is the same model: the file in its own runtime (onnxruntime, torch.export.load, a fresh model
from the safetensors file) gives the run's logits within float32 rounding and the same predictions, for every
architecture the CLI trains, in batches of 1 and 7 (the batch axis is dynamic); a perturbed weight makes the check
fail, so its tolerance bites.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import onnx
import pytest
import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig
from rnnlab.config.commands import EXPORT_FORMATS
from rnnlab.data import SequenceData, load_sequences
from rnnlab.data.views import pixel_permutation
from rnnlab.errors import UserError
from rnnlab.export.check import ATOL, RTOL, check_export, compare
from rnnlab.export.formats import FORMATS
from rnnlab.export.program import load_program
from rnnlab.model.classifier import build_model
from rnnlab.runs.run import Run
from tests.conftest import assert_close

# with SHARED: every cell, one and two layers, bidirectional, per-layer sizes, --proj, the three readouts, both
# layouts, a view of many steps
ARCHITECTURES = {
    "lstm-2-bi-state-proj": ({"cell": "lstm", "layers": 2, "bidirectional": True, "readout": "state", "proj": 5}, {}),
    "gru-2-bi-mean-time": (
        {"cell": "gru", "layers": 2, "hidden": (6, 4), "bidirectional": True, "readout": "mean"},
        {"layout": "time"},
    ),
}
SHARED = ({"cell": "rnn", "proj": 3}, {"sequence": "permuted", "permute_seed": 3})  # the fixture's, the third


def make_run(tmp_path: Path, model: dict, data: dict, seed: int = 0) -> Run:
    """A run of random (seeded) weights on the digits set: every architecture without training one."""
    data_cfg = DataConfig(dataset="digits", **data)
    steps, features = data_cfg.shape
    defaults = {"hidden": (6,), "layers": 1, "dropout": 0.0}
    cfg = RunConfig(ModelConfig(input_size=features, **{**defaults, **model}), data_cfg)
    net = build_model(cfg.model, "cudnn", data_cfg.layout, seed=seed).eval()
    return Run(net, cfg, load_sequences(data_cfg).preprocessing, tmp_path / "best.pt", {"epoch": 1, "step": 1})


def _exported(run: Run, fmt: str, folder: Path) -> Path:
    out = folder / f"model{FORMATS[fmt].suffix}"
    FORMATS[fmt].write(run, out)
    return out


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Run, dict[str, Path]]:
    """One run exported in every format, for the tests that need a file and not a new architecture."""
    folder = tmp_path_factory.mktemp("export")
    run = make_run(folder, *SHARED)
    return run, {fmt: _exported(run, fmt, folder) for fmt in FORMATS}


def test_the_formats_are_the_choices_of_format() -> None:
    """config may not import export, so --format's choices are a list of their own: held to the formats here."""
    assert tuple(FORMATS) == EXPORT_FORMATS


def _same_model(name: str, run: Run, files: dict[str, Path]) -> None:
    for fmt, out in files.items():
        runner = FORMATS[fmt].runner(out)
        x = load_sequences(run.config.data).test[0][:8]  # (8, T, I): batch 1, then 7
        got, want, seen = compare(run, runner, x, batch_size=7)
        assert seen == [1, 7]
        assert_close(got, want, atol=ATOL, rtol=RTOL, what=f"{name} as {fmt}")
        assert torch.equal(got.argmax(1), want.argmax(1))


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_exports_as_the_same_model(name, tmp_path) -> None:
    run = make_run(tmp_path, *ARCHITECTURES[name])
    _same_model(name, run, {fmt: _exported(run, fmt, tmp_path) for fmt in FORMATS})


def test_a_one_layer_rnn_read_in_a_fixed_pixel_order_exports_as_the_same_model(shared) -> None:
    _same_model("rnn-last-proj-permuted", *shared)


def test_the_check_scores_the_whole_test_set_beside_eval(shared, digits: SequenceData) -> None:
    run, files = shared
    result = check_export(run, FORMATS["onnx"], files["onnx"])
    assert result.same and result.samples == len(digits.test[1]) and result.where == "the test set"
    assert result.batches == (1, 7, len(digits.test[1]) - 8)
    assert result.max_diff < 1e-5 and result.accuracy == result.eval_accuracy == run.evaluate("test").accuracy
    assert "all 359 predictions the same" in result.summary()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_perturbed_weight_fails_the_check(fmt, shared, tmp_path) -> None:
    """The planted bug: the file holds the weights, the run's model its recurrent weights nudged by 1e-3."""
    run, out = make_run(tmp_path, *SHARED), shared[1][fmt]  # the shared run's weights, in a model of its own
    assert check_export(run, FORMATS[fmt], out).same
    with torch.no_grad():
        run.model.rnns[0].weight_hh_l0 += 1e-3
    result = check_export(run, FORMATS[fmt], out)
    assert not result.same and result.out_of_tolerance > 0, result.summary()
    assert result.max_diff > ATOL and "beyond float32 rounding" in result.summary()


def test_a_nan_logit_fails_the_check(shared, monkeypatch) -> None:
    """The planted bug: the file's largest logit of each batch's first sample is NaN. NaN > tolerance is false and
    argmax takes NaN as the largest, so neither the bound nor the predictions alone would catch it."""
    run, files = shared
    fmt = FORMATS["safetensors"]

    def planted(path):
        inner = fmt.runner(path)

        def logits(x):
            out = inner(x).clone()
            out[0, out[0].argmax()] = float("nan")
            return out

        return logits

    monkeypatch.setattr("rnnlab.export.check.dataset_at_hand", lambda dataset, where: False)
    result = check_export(run, replace(fmt, runner=planted), files["safetensors"])
    assert result.differing == 0 and result.batches == (1, 7, 56)  # the same predictions, by argmax
    assert not result.same and result.nonfinite == result.out_of_tolerance == 3, result.summary()
    assert "3 logits beyond float32 rounding (3 NaN or infinite)" in result.summary()


def test_without_the_data_the_check_runs_on_random_images(shared, monkeypatch) -> None:
    run, files = shared
    out = files["safetensors"]
    monkeypatch.setattr("rnnlab.export.check.dataset_at_hand", lambda dataset, where: False)
    result = check_export(run, FORMATS["safetensors"], out)
    assert result.same and result.samples == 64 and "random images" in result.where
    assert result.accuracy is None and result.eval_accuracy is None


def test_the_onnx_file_says_its_preprocessing(shared) -> None:
    run, files = shared
    proto = onnx.load(str(files["onnx"]))
    meta = {p.key: p.value for p in proto.metadata_props}
    p = run.preprocessing
    assert float(meta["mean"]) == p.mean and float(meta["std"]) == p.std
    assert json.loads(meta["image_size"]) == [8, 8] and meta["sequence"] == "permuted"
    assert json.loads(meta["class_names"]) == list(p.class_names) and meta["permute_seed"] == "3"
    assert json.loads(meta["pixel_order"]) == pixel_permutation(64, 3).tolist()
    assert "x = image.flatten()[pixel_order]" in meta["input"]  # as it says, so rnnlab reads an image:
    image = torch.rand(8, 8, generator=torch.Generator().manual_seed(1))
    x = ((image.flatten() - float(meta["mean"])) / float(meta["std"]))[json.loads(meta["pixel_order"])]
    assert_close(x[None, :, None], p.to_sequences(image[None]), atol=1e-6, rtol=0, what="the input line's recipe")
    assert RunConfig.from_dict(json.loads(meta["config"])) == run.config
    [x] = proto.graph.input
    dims = x.type.tensor_type.shape.dim
    assert x.name == "x" and dims[0].dim_param and [d.dim_value for d in dims[1:]] == [64, 1]  # batch: dynamic
    assert [o.name for o in proto.graph.output] == ["logits"]


def test_the_program_file_carries_its_metadata(shared) -> None:
    run, files = shared
    program, extra = load_program(files["torch-export"], ("mean", "config", "input"))
    assert float(extra["mean"]) == run.preprocessing.mean and "pixel by pixel in the fixed order" in extra["input"]
    assert RunConfig.from_dict(json.loads(extra["config"])) == run.config
    assert program.module()(torch.zeros(3, 64, 1)).shape == (3, 10)  # a batch size it was not traced with


RECURRENT = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


@pytest.mark.parametrize("cell", RECURRENT)
def test_each_cell_exports_as_its_own_onnx_operator_not_unrolled(cell, tmp_path) -> None:
    """Two layers read pixel by pixel (64 steps): the graph holds one ONNX LSTM / GRU / RNN node per layer and no
    step-by-step copy of the cell (the dynamo exporter unrolls nn.RNN: a MatMul and a Tanh per step, and minutes of
    rewriting at 784 steps); onnxruntime gives the same model."""
    run = make_run(tmp_path, {"cell": cell, "layers": 2, "hidden": (5,)}, {"sequence": "pixels"})
    out = _exported(run, "onnx", tmp_path)
    ops = [node.op_type for node in onnx.load(str(out)).graph.node]
    assert ops.count(RECURRENT[cell]) == 2 and len(ops) < 64, ops
    assert not {"MatMul", "Tanh", "Sigmoid"} & set(ops), ops  # the cell's arithmetic is inside its operator
    result = check_export(run, FORMATS["onnx"], out)
    assert result.same, result.summary()


def test_an_rnn_is_refused_where_only_the_unrolling_exporter_is_left(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("rnnlab.export.onnx.TORCHSCRIPT", False)
    run = make_run(tmp_path, {"cell": "rnn"}, {})
    with pytest.raises(UserError, match="unrolls an nn.RNN step by step .*; export it as torch-export"):
        _exported(run, "onnx", tmp_path)
    assert not (tmp_path / "model.onnx").exists()
