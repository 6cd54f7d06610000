"""The step trace: states equal the model's own forward, gates equal a hand computation from nn.LSTM's weights."""

from dataclasses import replace

import pytest
import torch
from conftest import assert_close

from rnnlab.cells import reference
from rnnlab.config import ModelConfig
from rnnlab.look.probe import shown_steps
from rnnlab.look.steps import trace_steps
from rnnlab.model.classifier import build_model

CFG = ModelConfig(input_size=5, hidden=(6, 4), layers=2, dropout=0.3, proj=3)


def _model(cell: str, bidirectional: bool, layout: str = "batch", dtype=torch.float32):
    cfg = replace(CFG, cell=cell, bidirectional=bidirectional)
    return build_model(cfg, layout=layout, seed=0).to(dtype).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layout", ["batch", "time"])
def test_the_trace_reproduces_the_models_forward(cell, bidirectional, layout) -> None:
    model = _model(cell, bidirectional, layout)
    shape = (3, 7, 5) if layout == "batch" else (7, 3, 5)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    trace = trace_steps(model, x)
    with torch.no_grad():
        expected = model.trace(x)  # the cudnn engine: nn.LSTM itself
    assert_close(trace.outputs, expected.outputs, atol=2e-6, rtol=1e-5, what=f"{cell} outputs")
    assert len(trace.layers) == 2
    for k, (directions, state) in enumerate(zip(trace.layers, expected.states)):
        h_n, c_n = state if isinstance(state, tuple) else (state, None)
        assert [d.layer for d in directions] == [k + 1] * len(directions)
        for d, steps in enumerate(directions):
            last = -1 if steps.direction == "forward" else 0  # a backward direction ends at the first step
            assert_close(steps.h[last], h_n[d], atol=2e-6, rtol=1e-5, what=f"layer {k + 1} {steps.direction} h_T")
            if cell == "lstm":
                assert_close(steps.c[last], c_n[d], atol=2e-6, rtol=1e-5, what=f"layer {k + 1} c_T")
            else:
                assert steps.c is None
            assert tuple(steps.gates) == reference.GATES[cell]
            assert all(g.shape == steps.h.shape for g in steps.gates.values())


def _hand_gates(cell: str, rnn: torch.nn.RNNBase, x: torch.Tensor, reverse: bool) -> dict[str, torch.Tensor]:
    """Gate activations written out from the module's weights and its own outputs, not from rnnlab's cells."""
    suffix = "_l0_reverse" if reverse else "_l0"
    w_ih, w_hh = getattr(rnn, "weight_ih" + suffix), getattr(rnn, "weight_hh" + suffix)
    b_ih, b_hh = getattr(rnn, "bias_ih" + suffix), getattr(rnn, "bias_hh" + suffix)
    with torch.no_grad():
        out, _ = rnn(x)  # (T, B, D*H): nn.LSTM's own states
    H = rnn.hidden_size
    h = out[..., H:] if reverse else out[..., :H]
    zero = torch.zeros_like(h[:1])
    before = torch.cat([h[1:], zero]) if reverse else torch.cat([zero, h[:-1]])  # the state each step starts from
    if cell == "lstm":
        a = x @ w_ih.t() + b_ih + before @ w_hh.t() + b_hh
        i, f, g, o = (a[..., k * H : (k + 1) * H] for k in range(4))
        return {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
    xi, hh = x @ w_ih.t() + b_ih, before @ w_hh.t() + b_hh
    r = (xi[..., :H] + hh[..., :H]).sigmoid()
    z = (xi[..., H : 2 * H] + hh[..., H : 2 * H]).sigmoid()
    n = (xi[..., 2 * H :] + r * hh[..., 2 * H :]).tanh()
    return {"r": r, "z": z, "n": n}


def _check_gates(cell: str, bidirectional: bool) -> None:
    model = _model(cell, bidirectional, "time", torch.float64)
    x = torch.randn(6, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    trace = trace_steps(model, x)
    inputs = model.proj(x).detach()
    for k, rnn in enumerate(model.rnns):
        for steps in trace.layers[k]:
            hand = _hand_gates(cell, rnn, inputs, steps.direction == "backward")
            for name, value in hand.items():
                assert_close(steps.gates[name], value, atol=1e-12, rtol=0, what=f"{cell} gate {name}")
        with torch.no_grad():
            inputs, _ = rnn(inputs)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gates_equal_a_hand_computation_from_the_modules_weights(cell, bidirectional) -> None:
    _check_gates(cell, bidirectional)


def test_the_gates_make_the_states() -> None:
    """c_t = f c_{t-1} + i g and h_t = o tanh(c_t): the drawn gates are the ones the steps used."""
    model = _model("lstm", False, "time", torch.float64)
    steps = trace_steps(model, torch.randn(5, 2, 5, dtype=torch.float64)).layers[0][0]
    i, f, g, o = (steps.gates[k] for k in "ifgo")
    c_before = torch.cat([torch.zeros_like(steps.c[:1]), steps.c[:-1]])
    assert_close(steps.c, f * c_before + i * g, atol=1e-14, rtol=0, what="c from the gates")
    assert_close(steps.h, o * steps.c.tanh(), atol=1e-14, rtol=0, what="h from the gates")


_TRUE_LSTM_GATES = reference.lstm_gates


def _swapped_gates(xw, h, w_hh, b_hh, drop=None):
    i, f, g, o = _TRUE_LSTM_GATES(xw, h, w_hh, b_hh)
    return f, i, g, o  # input and forget gates swapped


def test_a_swapped_gate_breaks_the_hand_check(monkeypatch) -> None:
    monkeypatch.setattr(reference, "lstm_gates", _swapped_gates)
    with pytest.raises(AssertionError, match="gate i"):
        _check_gates("lstm", False)


def test_a_short_sequence_shows_every_step_and_a_long_one_a_summary() -> None:
    assert shown_steps([3] * 28) == (list(range(28)), None)
    top = [1] * 100 + [4] * 300 + [7] * 384  # 784 steps; the top class changes at steps 101 and 401
    steps, note = shown_steps(top)
    assert steps[0] == 0 and steps[-1] == 783 and {100, 400} <= set(steps) and 27 in steps and 55 in steps
    assert 30 <= len(steps) <= 34
    assert note == "784 steps: shown are step 1, every 28th step and the 2 steps where the top class changes"
    flicker = [t % 2 for t in range(784)]  # a change at every step: only the first and last 9 are kept
    steps, note = shown_steps(flicker)
    assert len(steps) <= 28 + 2 + 18 and {1, 9, 783} <= set(steps) and 10 not in steps
    assert "the first and last 9 of the 783 steps" in note


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_zoneout_models_trace_shows_the_steps_its_evaluation_computes(cell) -> None:
    """Each step mixes in zoneout's share of the previous state, as `eval` does: the trace reproduces the bptt
    engine's evaluation, and differs from the same weights read as a plain nn.LSTM."""
    rates = {"zoneout": 0.3, **({"zoneout_cell": 0.5} if cell == "lstm" else {})}
    model = build_model(replace(CFG, cell=cell, bidirectional=True, **rates), engine="bptt", seed=0).eval()
    x = torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model.trace(x)
        model.regularise = False
        plain = model.trace(x)
    model.regularise = True
    trace = trace_steps(model, x)
    assert_close(trace.outputs, expected.outputs, atol=2e-6, rtol=1e-5, what="zoneout outputs")
    assert not torch.allclose(trace.outputs, plain.outputs, atol=1e-3)
