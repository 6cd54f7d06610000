"""The engine registry: every way of computing a recurrent layer from nn.LSTM/GRU/RNN's own parameters.

An engine is one function ``run(layer, x, state, lengths) -> (output, state)`` with nn.LSTM's shapes
(time-major). Tests iterate over this registry, so an engine is tested the day it is registered. An engine
that cannot run on a device says why; it is never silently replaced by another.
Legend: T time steps, B batch, I input features, H hidden units, D directions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnlab.cells import bptt, cudnn, triton_engine, unrolled
from rnnlab.cells.common import State
from rnnlab.errors import UserError

RunFn = Callable[[nn.RNNBase, Tensor, "State | None", "Tensor | None"], tuple[Tensor, State]]


@dataclass(frozen=True)
class Engine:
    name: str
    summary: str
    run: RunFn  # (layer, x (T,B,I), state each (D,B,H) | None, lengths (B,) | None) -> (out (T,B,D*H), state)
    unavailable: Callable[[torch.device], str | None] = lambda device: None  # a reason, or None if it can run
    cells: tuple[str, ...] = ("lstm", "gru", "rnn")  # the cells it implements


ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    ENGINES[engine.name] = engine
    return engine


register(Engine("cudnn", "PyTorch's nn.LSTM/GRU/RNN module (cuDNN on GPU, ATen/oneDNN on CPU)", cudnn.run))
register(Engine("unrolled", "Python loop over time calling the reference cells; autograd backward", unrolled.run))
register(Engine("bptt", "autograd.Function with hand-written backpropagation through time", bptt.run))
register(
    Engine(
        "triton",
        "persistent fused Triton kernels, forward and backward (LSTM, GRU); interpreted on CPU",
        triton_engine.run,
        triton_engine.unavailable,
        triton_engine.CELLS,
    )
)


def get_engine(name: str, device: torch.device | str | None = None) -> Engine:
    """The engine called ``name``, or a UserError naming the choices or why it cannot run on ``device``."""
    if name not in ENGINES:
        raise UserError(f"--engine: unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    engine = ENGINES[name]
    if device is not None:
        reason = engine.unavailable(torch.device(device))
        if reason:
            raise UserError(f"--engine {name} cannot run on {device}: {reason}")
    return engine


def available_engines(device: torch.device | str) -> dict[str, str | None]:
    """Every registered engine with the reason it cannot run on ``device`` (None when it can)."""
    return {name: e.unavailable(torch.device(device)) for name, e in ENGINES.items()}
