"""The Python API: rnnlab.load, predict, trace and the engines, reached from the top-level package."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences

CFG = RunConfig(
    ModelConfig(input_size=8, hidden=(16,), layers=2, dropout=0.0, bidirectional=True),
    DataConfig(dataset="digits", train_subset=256),
    TrainConfig(epochs=1, batch_size=64),
    RuntimeConfig(device="cpu"),
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("api-run")
    rnnlab.fit(CFG, out)
    return out


def test_importing_rnnlab_imports_no_torch() -> None:
    code = "import sys, rnnlab; rnnlab.ENGINES; rnnlab.RunConfig; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    assert {"load", "predict", "trace", "ENGINES", "get_engine", "fit", "model_for"} <= set(dir(rnnlab))


def test_a_model_built_for_the_data_trains_and_one_that_is_not_says_how_to_build_it(tmp_path) -> None:
    data = rnnlab.DataConfig(dataset="digits", train_subset=64)
    model = rnnlab.model_for(data, hidden=(8,), layers=1)
    assert model.input_size == 8  # the digits' rows are 8 pixels wide
    train, where = rnnlab.TrainConfig(epochs=1, batch_size=32), rnnlab.RuntimeConfig(device="cpu")
    assert rnnlab.fit(rnnlab.RunConfig(model, data, train, where), tmp_path / "fits").steps == 2
    wrong = rnnlab.RunConfig(rnnlab.ModelConfig(hidden=(8,), layers=1), data, train, where)  # MNIST's 28 per step
    with pytest.raises(rnnlab.UserError, match=r"rnnlab.model_for\(data_config"):
        rnnlab.fit(wrong, tmp_path / "wrong")


def test_load_gives_the_model_its_config_and_its_preprocessing(run_dir) -> None:
    run = rnnlab.load(run_dir)
    assert not run.model.training and run.config == CFG and run.path == run_dir / "best.pt"
    assert run.preprocessing == load_sequences(CFG.data).preprocessing
    assert run.describe().endswith("(bidirectional LSTM 2 x 16 on digits, rows: 8 steps of 8)")


def test_predict_and_trace_on_an_array(run_dir) -> None:
    run = rnnlab.load(run_dir)
    x, _ = load_sequences(CFG.data).test
    p = run.preprocessing
    images = (x[:3] * p.std + p.mean).numpy()  # (3, 8, 8) in [0, 1]
    predictions = rnnlab.predict(run_dir, images)
    assert [q.source for q in predictions] == [
        "an array (3, 8, 8)[0]",
        "an array (3, 8, 8)[1]",
        "an array (3, 8, 8)[2]",
    ]
    with torch.no_grad():
        direct = torch.softmax(run.model(run.sequences(images)), -1)
    torch.testing.assert_close(torch.stack([q.probs[-1] for q in predictions]), direct, rtol=1e-5, atol=1e-6)
    assert run.sequences(images).shape == (3, 8, 8)
    torch.testing.assert_close(run.sequences(images), x[:3], rtol=0, atol=1e-5)
    trace = run.trace(images[1])
    assert len(trace.layers) == 2 and [d.direction for d in trace.layer(2)] == ["forward", "backward"]
    with torch.no_grad():
        outputs = run.model.trace(run.sequences(images[1])).outputs  # (T, 1, D*H)
    torch.testing.assert_close(trace.outputs, outputs, rtol=1e-5, atol=2e-6)
    again = rnnlab.trace(run.model, run.sequences(images[1]))  # a bare model and its sequences
    torch.testing.assert_close(again.outputs, trace.outputs, rtol=0, atol=0)


def test_the_same_checkpoint_under_every_engine_here(run_dir) -> None:
    run = rnnlab.load(run_dir)
    image = np.eye(8, dtype=np.float32)
    probs = {}
    for name, engine in rnnlab.ENGINES.items():
        if engine.unavailable("cpu") or engine.interpreted("cpu"):
            continue
        probs[name] = run.engine(name).predict(image)[0].probs
        assert run.model.engine == name
    assert {"cudnn", "unrolled", "bptt"} <= set(probs)
    for name, value in probs.items():
        torch.testing.assert_close(value, probs["cudnn"], rtol=1e-5, atol=1e-6, msg=name)
    with pytest.raises(rnnlab.UserError, match="unknown engine"):
        run.engine("fastest")


def test_a_bad_source_raises_one_user_error(run_dir, tmp_path) -> None:
    with pytest.raises(rnnlab.UserError, match="an array of shape \\(5, 5\\)"):
        rnnlab.load(run_dir).predict(np.zeros((5, 5)))
    with pytest.raises(rnnlab.UserError, match="no such file"):
        rnnlab.predict(run_dir, tmp_path / "nothing.png")


def test_run_evaluate_is_the_python_twin_of_rnnlab_eval(run_dir) -> None:
    import json

    from typer.testing import CliRunner

    from rnnlab.cli import app

    run = rnnlab.load(run_dir)
    assert (run.which, run.saved["epoch"], run.folder.path) == ("best", 1, run_dir)
    for split in ("val", "test"):
        shown = CliRunner().invoke(app, ["eval", str(run_dir), "--split", split, "--json"])
        assert shown.exit_code == 0, shown.output
        printed = json.loads(shown.stdout)
        scored = run.evaluate(split)
        assert scored.samples == printed["samples"] > 0
        assert (scored.accuracy, scored.loss, scored.per_class_accuracy) == (
            printed["accuracy"],
            printed["loss"],
            printed["per_class_accuracy"],
        )
    shown = CliRunner().invoke(app, ["eval", str(run_dir), "--batch-size", "50", "--json"])
    assert (run.evaluate(batch_size=50).loss, run.evaluate(batch_size=50).accuracy) == (
        json.loads(shown.stdout)["loss"],
        json.loads(shown.stdout)["accuracy"],
    )
    assert run.engine("bptt").evaluate("test", batch_size=7).accuracy == pytest.approx(printed["accuracy"], abs=1e-9)
    assert run.evaluate("test", test_subset=10).samples == 10
    with pytest.raises(rnnlab.UserError, match="--split: unknown value 'validation'"):
        run.evaluate("validation")


def test_a_model_copies_and_pickles_with_its_engine(run_dir, tmp_path) -> None:
    import copy
    import types

    from rnnlab.cells import ENGINES, Engine

    run = rnnlab.load(run_dir)
    assert copy.deepcopy(run.model).engine == run.model.engine
    torch.save(run.model, tmp_path / "model.pt")  # the whole module, engine and all
    assert torch.load(tmp_path / "model.pt", weights_only=False).engine == run.model.engine
    module = types.ModuleType("an_engine_module")  # an engine registered as a module object
    module.run_layer = ENGINES["cudnn"].module().run_layer
    ENGINES["as-a-module"] = Engine("as-a-module", module)
    try:
        run.engine("as-a-module")
        assert copy.deepcopy(run.model).engine == "as-a-module"
    finally:
        run.engine("cudnn")
        del ENGINES["as-a-module"]
