"""Zoneout, recurrent dropout and DropConnect on every engine that computes them, against the unrolled reference
(float64, the same masks through the registry), and what each does and does not do; uniform gate initialisation."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.cells import ENGINES
from rnnlab.config import ModelConfig, RunConfig
from rnnlab.config.run import DataConfig
from rnnlab.errors import ConfigError, UserError
from rnnlab.lab.compare_cells import engine_results, max_abs_diffs
from rnnlab.model.classifier import build_model
from rnnlab.model.regularise import layer_masks

ALL = {"zoneout": 0.3, "recurrent_dropout": 0.4, "weight_drop": 0.25}


def _model(cell: str, bidirectional: bool = False, layout: str = "time", training: bool = True, **rates):
    rates = rates or dict(ALL, **({"zoneout_cell": 0.5} if cell == "lstm" else {}))
    cfg = ModelConfig(cell=cell, input_size=3, hidden=(4, 3), layers=2, dropout=0.0, bidirectional=bidirectional,
                      **rates)  # fmt: skip
    model = build_model(cfg, engine="bptt", layout=layout, seed=0).double().train(training)
    model.mask_seed = 7
    return model


def _x(layout: str, T: int = 6, B: int = 3):
    shape = (B, T, 3) if layout == "batch" else (T, B, 3)
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    ("cell", "bidirectional", "layout", "lengths"),
    list(itertools.product(("lstm", "gru", "rnn"), (False, True), ("batch", "time"), (False, True))),
)
def test_every_engine_that_computes_them_matches_the_reference(cell, bidirectional, layout, lengths) -> None:
    """Outputs, states and every gradient equal the unrolled engine's to float64 rounding, in training (the masks
    drawn) and at evaluation (zoneout's expectation); engines computing only DropConnect are checked on it alone."""
    lens = torch.tensor([6, 3, 1]) if lengths else None
    for training in (True, False):
        for name, engine in ENGINES.items():
            if name == "unrolled" or cell not in engine.cells or engine.unavailable("cpu") or engine.interpreted("cpu"):
                continue
            if lengths and not engine.variable_lengths:
                continue
            rates = ALL if set(engine.regularisers) == {"zoneout", "recurrent-dropout", "weight-drop"} else {}
            model = _model(cell, bidirectional, layout, training, **(rates or {"weight_drop": 0.25}))
            ref = engine_results(model, "unrolled", _x(layout), torch.float64, lens)
            got = engine_results(model, name, _x(layout), torch.float64, lens)
            out, grad = max_abs_diffs(got, ref)
            assert out < 1e-12 and grad < 1e-12, (name, training, out, grad)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("rates", [{"zoneout": 0.3}, {"recurrent_dropout": 0.4}, {"weight_drop": 0.3}])
def test_each_regulariser_changes_training_and_only_zoneout_changes_evaluation(cell, rates) -> None:
    model = _model(cell, **rates)
    x = _x("time")
    model.regularise = False
    plain_train = model(x)
    model.regularise = True
    assert not torch.allclose(model(x), plain_train)  # the masks are drawn and used
    model.eval()
    evaluated = model(x)
    model.regularise = False
    if "zoneout" in rates:
        assert not torch.allclose(evaluated, model(x))  # its evaluation rule: the expectation
    else:
        torch.testing.assert_close(evaluated, model(x), rtol=0, atol=0)  # nothing at evaluation


def test_the_masks_are_what_each_paper_draws() -> None:
    cfg = ModelConfig(cell="lstm", input_size=3, hidden=(64,), layers=1, zoneout=0.3, zoneout_cell=0.6,
                      recurrent_dropout=0.4, weight_drop=0.25, bidirectional=True)  # fmt: skip
    rnn = build_model(cfg, seed=0).rnn_layers[0]
    x = torch.zeros(50, 40, 3)
    forward, backward = layer_masks(cfg, rnn, x, training=True, generator=torch.Generator().manual_seed(0))
    assert forward.keep_h.shape == (50, 40, 64) and set(forward.keep_h.unique().tolist()) == {0.0, 1.0}
    assert abs(forward.keep_h.mean().item() - 0.3) < 0.01 and abs(forward.keep_c.mean().item() - 0.6) < 0.01
    assert forward.drop.shape == (40, 64)  # one mask per sequence: the same at every step
    assert forward.drop.unique().tolist() == [0.0, pytest.approx(1 / 0.6)]  # inverted scaling
    assert forward.weight.shape == (256, 64) and forward.weight.unique().tolist() == [0.0, pytest.approx(1 / 0.75)]
    assert not torch.equal(forward.keep_h, backward.keep_h)  # each direction draws its own
    ev = layer_masks(cfg, rnn, x, training=False)
    assert ev is not None and ev[0].drop is None and ev[0].weight is None
    assert ev[0].keep_h.shape == (50, 40, 64) and torch.all(ev[0].keep_h == 0.3)  # the expectation
    plain = ModelConfig(input_size=3, recurrent_dropout=0.4, weight_drop=0.2)
    assert layer_masks(plain, build_model(plain).rnn_layers[0], x, training=False) is None


@pytest.mark.parametrize("engine", ["bptt", "unrolled"])
def test_a_padded_step_holds_the_state_under_zoneout(engine) -> None:
    """Past a sample's end its state stays what it was after its last valid step, though zoneout's masks there
    say to keep only part of it, and its outputs are zero."""
    model = _model("lstm")
    model.engine = engine
    trace = model.trace(_x("time"), torch.tensor([6, 3, 1]))
    h_T = trace.states[-1][0][0]  # the last layer's h_T, (B, H)
    torch.testing.assert_close(h_T[1], trace.outputs[2, 1], rtol=0, atol=0)  # sample 1: 3 valid steps
    torch.testing.assert_close(h_T[2], trace.outputs[0, 2], rtol=0, atol=0)  # sample 2: 1
    assert torch.all(trace.outputs[3:, 1] == 0) and torch.all(trace.outputs[1:, 2] == 0)


def test_an_engine_that_cannot_compute_one_refuses_in_one_line_naming_those_that_can() -> None:
    refusal = r"--engine cudnn does not compute --zoneout or --zoneout-cell; use --engine unrolled or bptt"
    with pytest.raises(UserError, match=refusal):
        ENGINES["cudnn"].check_model("lstm", False, ("zoneout",))
    with pytest.raises(UserError, match=r"--engine triton does not compute --recurrent-dropout"):
        ENGINES["triton"].check_model("gru", False, ("recurrent-dropout",))
    ENGINES["cudnn"].check_model("lstm", False, ("weight-drop",))
    model = _model("lstm", zoneout=0.2)
    model.engine = "cudnn"  # the model asks the engine before the first forward with these masks
    with pytest.raises(UserError, match="--zoneout"):
        model(_x("time"))


def test_a_run_with_zoneout_or_recurrent_dropout_trains_on_bptt_unless_told() -> None:
    data = DataConfig(dataset="digits")
    assert RunConfig(model=ModelConfig(zoneout=0.1), data=data).runtime.engine == "bptt"
    assert RunConfig(model=ModelConfig(recurrent_dropout=0.1), data=data).runtime.engine == "bptt"
    assert RunConfig(model=ModelConfig(weight_drop=0.1), data=data).runtime.engine == "cudnn"
    from rnnlab.config import RuntimeConfig

    told = RunConfig(model=ModelConfig(zoneout=0.1), data=data, runtime=RuntimeConfig(engine="unrolled"))
    assert told.runtime.engine == "unrolled"
    saved = RunConfig.from_dict(told.to_dict())
    assert saved == told and saved.model.zoneout == 0.1
    old = told.to_dict()
    for key in ("zoneout", "zoneout_cell", "recurrent_dropout", "weight_drop"):
        del old["model"][key]  # a run saved before these existed reads as plain
    assert RunConfig.from_dict(old).model.regularisers == ()


def test_bad_settings_name_the_flag() -> None:
    with pytest.raises(ConfigError, match="zoneout"):
        ModelConfig(zoneout=1.0)
    with pytest.raises(ConfigError, match="--zoneout-cell"):
        ModelConfig(cell="gru", zoneout_cell=0.2)
    with pytest.raises(ConfigError, match="init"):
        ModelConfig(cell="rnn", init="ugi")
    with pytest.raises(ConfigError, match="init"):
        ModelConfig(init="ugi", chrono=100)
    with pytest.raises(ConfigError, match="--forget-bias"):
        ModelConfig(init="ugi", forget_bias=2.0)


@pytest.mark.parametrize(("cell", "block"), [("lstm", 1), ("gru", 1)])
def test_uniform_gate_initialisation_spreads_the_keeping_gate_over_every_time_scale(cell, block) -> None:
    H = 200
    model = build_model(ModelConfig(cell=cell, input_size=3, hidden=(H,), layers=1, init="ugi"), seed=0)
    rnn = model.rnn_layers[0]
    bias = (rnn.bias_ih_l0 + rnn.bias_hh_l0)[block * H : (block + 1) * H].detach()
    gate = torch.sigmoid(bias.double())
    assert gate.min() >= 1 / H - 1e-6 and gate.max() <= 1 - 1 / H + 1e-6
    assert gate.std() > 0.25  # spread across (0, 1), not piled at one value
    other = (rnn.bias_ih_l0 + rnn.bias_hh_l0)[:H]
    assert other.abs().max() <= 2 / H**0.5  # the other gates keep PyTorch's own draw


def test_ugi_needs_three_units_and_masks_keep_their_scale_under_bf16() -> None:
    with pytest.raises(ConfigError, match="H >= 3"):
        ModelConfig(init="ugi", hidden=(2,))
    cfg = ModelConfig(input_size=3, hidden=(8,), layers=1, zoneout=0.15, recurrent_dropout=0.3)
    rnn = build_model(cfg).rnn_layers[0]
    x = torch.zeros(4, 2, 3, dtype=torch.bfloat16)
    (train,) = layer_masks(cfg, rnn, x, training=True)
    assert train.drop.dtype == torch.float32 and train.drop.max().item() == pytest.approx(1 / 0.7, rel=1e-6)
    (ev,) = layer_masks(cfg, rnn, x, training=False)
    assert ev.keep_h.dtype == torch.float32 and ev.keep_h[0, 0, 0].item() == pytest.approx(0.15, rel=1e-6)


def test_a_flag_given_alone_is_named_in_the_refusal() -> None:
    with pytest.raises(UserError, match="--zoneout or --zoneout-cell"):
        ENGINES["cudnn"].check_model("lstm", False, ("zoneout",))


def test_a_config_file_without_an_engine_takes_the_one_its_regularisers_need() -> None:
    saved = RunConfig(model=ModelConfig(zoneout=0.1), data=DataConfig(dataset="digits")).to_dict()
    del saved["train"]["engine"]
    assert RunConfig.from_dict(saved).runtime.engine == "bptt"
    plain = RunConfig(data=DataConfig(dataset="digits")).to_dict()
    del plain["train"]["engine"]
    assert RunConfig.from_dict(plain).runtime.engine == "cudnn"
