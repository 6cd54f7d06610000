"""Initial weights: every scheme writes PyTorch's own parameters, gate by gate, both directions."""

import pytest
import torch
from torch import nn

from rnnlab.config import ModelConfig
from rnnlab.init import init_recurrent
from rnnlab.model import build_model

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
CANDIDATE = {"lstm": 2, "gru": 2, "rnn": 0}  # i,f,g,o -> g; r,z,n -> n; the tanh RNN's one block


def _blocks(weight: torch.Tensor, gates: int) -> list[torch.Tensor]:
    return list(weight.detach().chunk(gates, dim=0))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("scheme", ["orthogonal", "identity"])
def test_recurrent_blocks_are_orthogonal_or_identity_and_biases_start_at_zero(cell, scheme) -> None:
    cfg = ModelConfig(cell=cell, input_size=5, hidden=(6, 7), layers=2, bidirectional=True, init=scheme)
    model = build_model(cfg, seed=0)
    for rnn, hidden in zip(model.rnns, (6, 7)):
        eye = torch.eye(hidden)
        for suffix in ("l0", "l0_reverse"):
            blocks = _blocks(getattr(rnn, f"weight_hh_{suffix}"), GATES[cell])
            for k, block in enumerate(blocks):
                torch.testing.assert_close(block @ block.T, eye, rtol=0, atol=1e-5)
                is_eye = torch.equal(block, eye)
                assert is_eye == (scheme == "identity" and k == CANDIDATE[cell]), (suffix, k)
            w_ih = getattr(rnn, f"weight_ih_{suffix}")
            bound = (6 / sum(w_ih.shape)) ** 0.5  # Glorot-uniform over the whole (G*H, I) matrix
            assert 0 < w_ih.abs().max() <= bound
            assert not getattr(rnn, f"bias_hh_{suffix}").any()
            bias_ih = getattr(rnn, f"bias_ih_{suffix}").detach()
            expected = torch.zeros_like(bias_ih)
            if cell == "lstm":
                expected[hidden : 2 * hidden] = cfg.forget_bias  # added after the scheme, as for uniform
            torch.testing.assert_close(bias_ih, expected, rtol=0, atol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_uniform_is_pytorchs_own_draw(cell) -> None:
    """The default draws nothing extra, so runs made before --init existed rebuild bit for bit."""
    model = build_model(ModelConfig(cell=cell, input_size=3, hidden=(4,), layers=1, forget_bias=0.0), seed=5)
    torch.manual_seed(5)
    plain = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](3, 4)
    for name, p in plain.named_parameters():
        torch.testing.assert_close(getattr(model.rnns[0], name), p, rtol=0, atol=0)


def test_schemes_are_seeded_and_differ_between_seeds() -> None:
    cfg = ModelConfig(input_size=3, hidden=(8,), layers=1, init="orthogonal")
    a, b, c = (build_model(cfg, seed=s).rnns[0].weight_hh_l0 for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="xavier"):
        init_recurrent(nn.LSTM(2, 3), "xavier")
