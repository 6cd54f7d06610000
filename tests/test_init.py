"""Initial weights: every scheme writes PyTorch's own parameters, gate by gate, both directions."""

import pytest
import torch
from torch import nn

from rnnlab.config import ModelConfig
from rnnlab.model.classifier import build_model
from rnnlab.model.init import init_chrono, init_recurrent

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


@pytest.mark.parametrize("scheme", ["uniform", "identity"])
def test_chrono_sets_forget_biases_log_uniform_and_input_biases_their_negatives(scheme) -> None:
    t_max = 784
    cfg = ModelConfig(input_size=1, hidden=(300, 5), layers=2, bidirectional=True, init=scheme, chrono=t_max)
    model = build_model(cfg, seed=0)
    plain = build_model(ModelConfig(input_size=1, hidden=(300, 5), layers=2, bidirectional=True, init=scheme), seed=0)
    for rnn, other, hidden in zip(model.rnns, plain.rnns, (300, 5)):
        for suffix in ("l0", "l0_reverse"):
            b_ih = getattr(rnn, f"bias_ih_{suffix}").detach()
            b_hh = getattr(rnn, f"bias_hh_{suffix}").detach()
            assert not b_hh[: 2 * hidden].any()  # the effective bias is the sum: all of it sits in bias_ih
            forget = b_ih[hidden : 2 * hidden]
            assert forget.min() >= 0 and forget.max() <= torch.log(torch.tensor(t_max - 1.0))
            torch.testing.assert_close(b_ih[:hidden], -forget, rtol=0, atol=0)
            # g and o, and every weight, are as the scheme left them
            torch.testing.assert_close(b_ih[2 * hidden :], getattr(other, f"bias_ih_{suffix}")[2 * hidden :])
            torch.testing.assert_close(getattr(rnn, f"weight_hh_{suffix}"), getattr(other, f"weight_hh_{suffix}"))
    # the time scales exp(b_f) spread over [1, t_max - 1]: 600 draws fill each half of the range
    scales = torch.cat([model.rnns[0].bias_ih_l0[300:600], model.rnns[0].bias_ih_l0_reverse[300:600]]).exp()
    assert (scales < t_max / 2).sum() > 200 and (scales > t_max / 2).sum() > 200


def test_chrono_is_seeded() -> None:
    lstm_a, lstm_b, lstm_c = nn.LSTM(1, 16), nn.LSTM(1, 16), nn.LSTM(1, 16)
    for lstm, seed in ((lstm_a, 3), (lstm_b, 3), (lstm_c, 4)):
        torch.manual_seed(seed)
        init_chrono(lstm, 100)
    a, b, c = (lstm.bias_ih_l0[:32] for lstm in (lstm_a, lstm_b, lstm_c))  # the input and forget gates
    assert torch.equal(a, b) and not torch.equal(a, c)
