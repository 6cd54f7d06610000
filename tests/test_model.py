import itertools

import pytest
import torch
from torch import nn

from rnnlab.config import ModelConfig
from rnnlab.model.classifier import build_model, count_parameters

CASES = list(itertools.product(("lstm", "gru", "rnn"), ("batch", "time"), (False, True), ((16,), (8, 12))))


@pytest.mark.parametrize(("cell", "layout", "bidirectional", "hidden"), CASES)
def test_shapes_for_every_cell_layout_direction_and_sizes(cell, layout, bidirectional, hidden) -> None:
    cfg = ModelConfig(cell=cell, input_size=5, hidden=hidden, layers=2, dropout=0.2, bidirectional=bidirectional)
    model = build_model(cfg, layout=layout, seed=0)
    B, T = 3, 6
    x = torch.randn(B, T, 5) if layout == "batch" else torch.randn(T, B, 5)
    trace = model.trace(x)
    D = 2 if bidirectional else 1
    assert trace.logits.shape == (B, 10)
    assert trace.outputs.shape == (T, B, D * cfg.hidden_sizes[-1])
    for state, h in zip(trace.states, cfg.hidden_sizes):
        hn = state[0] if cell == "lstm" else state
        assert hn.shape == (D, B, h)
        if cell == "lstm":
            assert state[1].shape == (D, B, h)


@pytest.mark.parametrize("readout", ["last", "state", "mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_batch_and_time_layouts_give_the_same_logits(readout, bidirectional) -> None:
    cfg = ModelConfig(
        input_size=4, hidden=(6,), layers=2, dropout=0.0, readout=readout, bidirectional=bidirectional, proj=5
    )
    model = build_model(cfg, layout="batch", seed=1)
    x = torch.randn(3, 7, 4)
    batch_logits = model(x)
    model.layout = "time"
    torch.testing.assert_close(model(x.transpose(0, 1).contiguous()), batch_logits, rtol=0, atol=1e-6)


def test_state_dict_loads_into_a_plain_pytorch_stack() -> None:
    """Someone who never saw rnnlab can load the weights into nn.LSTM modules and get the same numbers."""
    cfg = ModelConfig(input_size=4, hidden=(6, 8), layers=2, dropout=0.0, bidirectional=True, readout="last")
    model = build_model(cfg, layout="time", seed=2).eval()
    plain = nn.ModuleDict(
        {
            "rnns": nn.ModuleList([nn.LSTM(4, 6, bidirectional=True), nn.LSTM(12, 8, bidirectional=True)]),
            "head": nn.Linear(16, 10),
        }
    )
    plain.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(5, 3, 4)
    h = x
    for rnn in plain["rnns"]:
        h, _ = rnn(h)
    torch.testing.assert_close(plain["head"](h[-1]), model(x), rtol=0, atol=1e-6)
    assert "rnns.0.weight_ih_l0_reverse" in model.state_dict()


def test_forget_bias_is_added_to_the_forget_gate_only() -> None:
    base = build_model(ModelConfig(input_size=3, hidden=(4,), layers=1, forget_bias=0.0), seed=3)
    biased = build_model(ModelConfig(input_size=3, hidden=(4,), layers=1, forget_bias=1.0), seed=3)
    delta = biased.rnns[0].bias_ih_l0 - base.rnns[0].bias_ih_l0
    torch.testing.assert_close(delta, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))


def test_projection_and_parameter_count() -> None:
    cfg = ModelConfig(input_size=28, hidden=(128,), layers=1, proj=128, dropout=0.0)
    model = build_model(cfg, seed=0)
    lstm = 4 * 128 * (128 + 128) + 2 * 4 * 128
    assert count_parameters(model) == (28 * 128 + 128) + lstm + (128 * 10 + 10)


def test_seeded_build_is_reproducible_and_leaves_the_global_rng_alone() -> None:
    cfg = ModelConfig(input_size=3, hidden=(4,), layers=1)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(cfg, seed=7)
    after = torch.rand(1)
    b = build_model(cfg, seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
