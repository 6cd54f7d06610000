"""The module every graph export is made from: the run's classifier as plain PyTorch layers on batch-major input.

The projection, the one-layer nn.LSTM / nn.GRU / nn.RNN modules, the readout and the head are the run's own (no
parameter is copied); what the engines add (a hand-written loop, Triton kernels, masks) is left out, so an exporter
sees only operations it knows. Input (B, T, I) float32, whatever layout the run trained in; output (B, C) logits.
Legend: B batch, T time steps, I input features, C classes.
"""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab.config import ModelConfig
from rnnlab.errors import UserError
from rnnlab.model.classifier import SequenceClassifier


class PlainClassifier(nn.Module):
    """``model`` as its plain layers compute it at evaluation (dropout off), batch-major."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        x: Tensor,  # (B, T, I)
    ) -> Tensor:  # (B, C)
        m = self.model
        x = x.transpose(0, 1)  # (T, B, I): the layers are time-major
        if m.proj is not None:
            x = m.proj(x)
        state = None
        for rnn in m.rnn_layers:
            x, state = rnn(x)  # each layer from a zero state
        assert state is not None  # a model has at least one layer
        return m.head(m.readout(x, state, None))


def refuse_unplain(cfg: ModelConfig, fmt: str) -> None:
    """A model whose evaluation is not its plain layers' cannot be held by a graph format: say so, naming it."""
    if "zoneout" in cfg.regularisers:
        raise UserError(
            f"--format {fmt}: cannot hold this model's zoneout (at evaluation each step mixes in a share of the "
            "previous state, which no nn.LSTM / nn.GRU / nn.RNN operation computes); export it as safetensors"
        )


def reference_engine(cfg: ModelConfig) -> str:
    """The engine the run's model is computed by beside its export: PyTorch's own layers (cudnn), or for a zoneout
    model the CPU engine that computes zoneout's evaluation rule (unrolled)."""
    return "unrolled" if "zoneout" in cfg.regularisers else "cudnn"


def plain_model(model: SequenceClassifier, fmt: str) -> PlainClassifier:
    """``model`` (in eval mode, on the CPU, float32) as the module to export in ``fmt``."""
    refuse_unplain(model.cfg, fmt)
    return PlainClassifier(model.cpu().float().eval()).eval()
