"""The ``cudnn`` engine: the nn.LSTM / nn.GRU / nn.RNN module itself (cuDNN on GPU, ATen/oneDNN on CPU).

Legend: T time steps, B batch, I input features, H hidden units, D directions.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells.common import State


def run_layer(
    layer: nn.RNNBase,
    x: Tensor,  # (T, B, I)
    state: State | None,  # each (D, B, H)
    lengths: Tensor | None,  # (B,)
) -> tuple[Tensor, State]:
    if lengths is None:
        return layer(x, state)
    packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    out, new_state = layer(packed, state)
    out, _ = pad_packed_sequence(out, total_length=x.shape[0])
    return out, new_state
