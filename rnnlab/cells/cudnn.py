"""The ``cudnn`` engine: the nn.LSTM / nn.GRU / nn.RNN module itself (cuDNN on GPU, ATen/oneDNN on CPU).

Legend: T time steps, B batch, I input features, H hidden units, D directions.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells.common import Masks, State


def run_layer(
    layer: nn.RNNBase,
    x: Tensor,  # (T, B, I)
    state: State | None,  # each (D, B, H)
    lengths: Tensor | None,  # (B,)
    masks: tuple[Masks, ...] | None = None,  # one per direction: DropConnect alone (the registry refuses the rest)
) -> tuple[Tensor, State]:
    """A whole layer (both directions) by the PyTorch module itself: cuDNN on a GPU, ATen/oneDNN on a CPU.

    Args:
        layer: a one-layer, time-major nn.LSTM / nn.GRU / nn.RNN (tanh), bidirectional or not.
        x: (T, B, I) the inputs.
        state: each (D, B, H), (h, c) for an LSTM, h otherwise; None: zeros.
        lengths: (B,) the valid steps of each sample (packed, so padding is never read), or None: all T valid.
        masks: per direction, a DropConnect mask on weight_hh (cells.common.Masks.weight), or None.
    Returns:
        out (T, B, D*H) the output after each step (zero past a sample's length) and the final state, each
        (D, B, H): exactly what ``layer`` returns.

    Example:

        >>> import torch
        >>> from rnnlab.cells.cudnn import run_layer
        >>> gru = torch.nn.GRU(3, 5, bidirectional=True)
        >>> x = torch.randn(7, 2, 3)
        >>> out, h_T = run_layer(gru, x, None, torch.tensor([7, 4]))
        >>> out.shape, h_T.shape, bool(out[4:, 1].eq(0).all())
        (torch.Size([7, 2, 10]), torch.Size([2, 2, 5]), True)
    """
    weights = _masked_weights(layer, masks)
    if lengths is None:
        return _call(layer, weights, x, state)
    packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
    out, new_state = _call(layer, weights, packed, state)
    out, _ = pad_packed_sequence(out, total_length=x.shape[0])
    return out, new_state


def _masked_weights(layer: nn.RNNBase, masks: tuple[Masks, ...] | None) -> dict[str, Tensor]:
    """weight_hh of each direction times its DropConnect mask, by parameter name (none: no masks)."""
    weights = {}
    for d, m in enumerate(masks or ()):
        if m.regularisers() not in ((), ("weight-drop",)):
            raise ValueError(f"the cudnn engine computes DropConnect alone, not {', '.join(m.regularisers())}")
        if m.weight is not None:
            name = "weight_hh_l0" + ("_reverse" if d else "")
            weights[name] = getattr(layer, name) * m.weight
    return weights


def _call(layer: nn.RNNBase, weights: dict[str, Tensor], x: Any, state: State | None) -> Any:
    """The module on ``x``, with ``weights`` in place of its own parameters of those names for this call only (the
    module's flat weight list follows its parameters, so cuDNN is handed the masked ones)."""
    if not weights:
        return layer(x, state)
    with warnings.catch_warnings():  # cuDNN warns that the masked weights are not one contiguous chunk: they are new
        warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")
        return torch.func.functional_call(layer, weights, (x, state), strict=False)


def variant(cell: str, batch: int, hidden: int, dtype: torch.dtype, device: torch.device) -> str | None:
    """On a GPU, the cuDNN algorithm PyTorch picks for a layer of this shape (full-length input; variable lengths
    always get the standard one), by its own rule (cells.cudnn_algorithm); None on a CPU, where ATen/oneDNN runs.
    The sequence length and input size do not enter the rule for float32, bfloat16 and float64."""
    if device.type != "cuda" or not torch.backends.cudnn.is_available():
        return None
    from rnnlab.cells.cudnn_algorithm import Call, Device, describe

    props = torch.cuda.get_device_properties(device)
    gpu = Device(props.major, props.minor, props.multi_processor_count, torch.backends.cudnn.version() or 0)
    name = str(dtype).removeprefix("torch.")
    return describe(Call(cell, batch, seq=0, input_size=0, hidden=hidden, dtype=name), gpu)
