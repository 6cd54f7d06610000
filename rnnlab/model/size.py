"""How large a model is, computed from its config alone: so that a size nobody can hold (`--hidden 1000000`, or a
checkpoint's config that says so) is refused before anything is allocated."""

from __future__ import annotations

from rnnlab.config import ModelConfig

GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks per layer and direction


def parameter_count(cfg: ModelConfig) -> int:
    """nn.LSTM/GRU/RNN's parameter count for this stack, with the projection and the head, computed, not built."""
    g, d = GATES[cfg.cell], cfg.directions
    count = cfg.proj * (cfg.input_size + 1) if cfg.proj else 0
    features = cfg.proj or cfg.input_size
    for hidden in cfg.hidden_sizes:
        count += d * g * hidden * (features + hidden + 2)
        features = d * hidden
    return count + (features + 1) * cfg.num_classes


def activation_count(cfg: ModelConfig, batch: int, steps: int) -> int:
    """The numbers one batch of ``batch`` sequences of ``steps`` steps holds through the stack: each layer's gates,
    state, cell and output at every step, in every direction (what backward saves; a floor for a forward)."""
    return sum(steps * batch * cfg.directions * h * (GATES[cfg.cell] + 3) for h in cfg.hidden_sizes)
