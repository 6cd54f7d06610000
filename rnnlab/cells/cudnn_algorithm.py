"""Which of cuDNN's RNN algorithms PyTorch asks for, by its own rule, so that every cudnn timing on a GPU says
what it timed.

PyTorch (aten/src/ATen/native/cudnn/RNN.cpp, ``get_algo``) picks per call: with a projection, or packed input
(variable lengths), the standard algorithm; else, on cuDNN >= 8.2.1 and a GPU of compute capability >= 6, for any
dtype but float64, ``PERSIST_STATIC_SMALL_H`` where H is small (LSTM and GRU: <= 192 forward, <= 128 backward;
RNN: <= 384 forward, <= 256 backward); else, for float16 only, ``PERSIST_STATIC`` where its shape and device
heuristics admit it; else standard. The persistent algorithms keep W_hh on chip across steps, as the triton
engine's persistent variant does: the baseline a fused kernel must beat at those sizes is that one, not the
standard algorithm. Each layer here is its own one-layer module, so ``layers`` is always 1 in the rule.
Legend: B batch, T time steps, I input features, H hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL_H = {("forward", "lstm"): 192, ("forward", "gru"): 192, ("forward", "rnn"): 384,
           ("backward", "lstm"): 128, ("backward", "gru"): 128, ("backward", "rnn"): 256}  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One cuDNN RNN call as PyTorch describes it to cuDNN: what its algorithm depends on."""

    cell: str  # lstm, gru or rnn
    batch: int
    seq: int
    input_size: int
    hidden: int
    dtype: str  # float32, float64, bfloat16 or float16
    bidirectional: bool = False
    packed: bool = False  # variable lengths (pack_padded_sequence)
    proj_size: int = 0


@dataclass(frozen=True)
class Device:
    major: int
    minor: int
    sms: int
    cudnn_version: int  # torch.backends.cudnn.version(), e.g. 90100


def algorithm(call: Call, device: Device, forward: bool) -> str:
    """'PERSIST_STATIC_SMALL_H', 'PERSIST_STATIC' or 'STANDARD': what PyTorch's get_algo returns."""
    if call.proj_size or call.packed:
        return "STANDARD"
    small = call.hidden <= SMALL_H[("forward" if forward else "backward", call.cell)]
    if small and call.dtype != "float64" and device.cudnn_version >= 8201 and device.major >= 6:
        return "PERSIST_STATIC_SMALL_H"
    if call.dtype == "float16" and _persist_common(call) and _persist_device(call, device):
        return "PERSIST_STATIC"
    return "STANDARD"


def _persist_common(call: Call) -> bool:
    return call.hidden <= 1024 and not call.bidirectional and call.hidden % 128 == 0 and call.input_size % 128 == 0


def _persist_device(call: Call, device: Device) -> bool:
    b = call.batch
    if device.major == 7:
        if device.minor == 5:  # Turing: never
            return False
        return ((b % 16 == 0 and b not in (80, 112)) or b == 8) and (
            (call.seq >= 40 and b <= 128) or (call.seq >= 20 and b <= 96) or (call.seq >= 10 and b <= 32)
        )
    if device.major >= 8 and device.sms >= 98 and device.minor != 6:
        if call.cell == "gru":
            return False
        if call.cell == "lstm":
            return b % 8 == 0 and b <= 128
        return b % 8 == 0 and b <= 128 and (b < 96 or call.hidden < 896)
    return False


def describe(call: Call, device: Device) -> str:
    """'cuDNN PERSIST_STATIC_SMALL_H forward, STANDARD backward': what a cudnn measurement of ``call`` timed."""
    fwd, bwd = algorithm(call, device, True), algorithm(call, device, False)
    return f"cuDNN {fwd} forward and backward" if fwd == bwd else f"cuDNN {fwd} forward, {bwd} backward"
