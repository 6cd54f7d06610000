"""The engine registry: every way of computing a recurrent layer from nn.LSTM/GRU/RNN's own parameters.

An engine is a module that defines how it runs one direction of a layer,
``direction(cell, x, h0, c0, params, reverse, lengths, masks) -> (out, h_T, c_T)`` (see ``common.DirectionFn``);
the shared ``common.run_directions`` turns that into a whole layer with nn.LSTM's shapes. ``masks`` are the recurrent
regularisers' (``common.Masks``), drawn by the model so that every engine computes with the same; an engine declares
which regularisers it computes, and is refused the others before any data loads. An engine that computes
whole layers itself (``cudnn``) defines ``run_layer`` instead. A module may define ``unavailable(device)``, the
reason it cannot run there, ``interpreted(device)`` and ``variant(...)``, what it runs there. Tests iterate over this
registry, so an engine is tested the day it is registered; an engine that cannot run on a device says why and is
never silently replaced by another.

The registry names its modules rather than importing them, so that reading it (the CLI's choices) costs no torch.
Legend: T time steps, B batch, I input features, H hidden units, D directions.
"""

from __future__ import annotations

import contextlib
import importlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from rnnlab.errors import UserError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from rnnlab.cells.common import Masks, State

CELLS = ("lstm", "gru", "rnn")  # PyTorch's nn.LSTM, nn.GRU and nn.RNN (tanh)
REGULARISERS = ("zoneout", "recurrent-dropout", "weight-drop")  # by their flags (cells.common.Masks draws them)


@dataclass(frozen=True)
class Engine:
    name: str
    implementation: str | ModuleType | SimpleNamespace  # a module's dotted name, imported on first use, or the module
    cells: tuple[str, ...] = CELLS  # the cells it implements
    variable_lengths: bool = True  # whether it takes --lengths random (samples shorter than the sequence)
    regularisers: tuple[str, ...] = REGULARISERS  # the recurrent regularisers it computes

    def __deepcopy__(self, memo: dict[int, Any]) -> Engine:
        return self  # one object per engine: a copied model computes with the same engine

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return get_engine, (self.name,)  # a pickled model names its engine; the registry gives it back

    def module(self) -> Any:
        impl = self.implementation
        if not isinstance(impl, str):
            return impl
        if impl not in _LOADED:  # imported once, so that a compiled model finds it without an import (a graph break)
            _LOADED[impl] = importlib.import_module(impl)
        return _LOADED[impl]

    def compilable(self) -> AbstractContextManager[Any]:
        """What a dynamo trace of a model run by this engine enters where it first reaches the model's nn.LSTM /
        GRU / RNN modules: dynamo refuses to hold such a module unless ``allow_rnn`` is set, and an engine that only
        reads their parameters (every engine but one that runs the module itself) lets it, for that block of the
        trace alone (``ops.ALLOW_RNN``). Not for ``cudnn``: traced, nn.LSTM fails to compile on CPU (torch 2.14:
        aten.mkldnn_rnn_layer), and left alone dynamo runs it eagerly, as upstream does. For a trace only: entered
        eagerly, the context would set the process-wide flag."""
        if hasattr(self.module(), "run_layer"):
            return contextlib.nullcontext()
        from rnnlab.cells import ops

        allow = ops.ALLOW_RNN
        return contextlib.nullcontext() if allow is None else allow

    def run(
        self,
        layer: nn.RNNBase,
        x: Tensor,  # (T, B, I)
        state: State | None,  # each (D, B, H)
        lengths: Tensor | None,  # (B,)
        masks: tuple[Masks, ...] | None = None,  # one per direction: the recurrent regularisers
    ) -> tuple[Tensor, State]:  # out (T, B, D*H), state each (D, B, H)
        impl = self.module()
        if hasattr(impl, "run_layer"):
            return impl.run_layer(layer, x, state, lengths, masks)
        from rnnlab.cells.common import run_directions

        return run_directions(layer, x, state, lengths, impl.direction, masks)

    def check_model(self, cell: str, variable_lengths: bool, regularisers: tuple[str, ...] = ()) -> None:
        """A UserError saying why this engine cannot run such a model (before any data loads); None when it can."""
        if cell not in self.cells:
            raise UserError(
                f"--engine {self.name} implements {' and '.join(self.cells)}; use --engine bptt or cudnn for "
                f"--cell {cell}"
            )
        if variable_lengths and not self.variable_lengths:
            raise UserError(
                f"--engine {self.name} takes full-length sequences only; use --engine "
                f"{' or '.join(e.name for e in ENGINES.values() if e.variable_lengths)} for --lengths random"
            )
        for name in regularisers:
            if name not in self.regularisers:
                flag = "zoneout or --zoneout-cell" if name == "zoneout" else name
                can = [e.name for e in ENGINES.values() if name in e.regularisers and cell in e.cells]
                raise UserError(f"--engine {self.name} does not compute --{flag}; use --engine {' or '.join(can)}")

    def check_bf16(self, cell: str, device: torch.device) -> None:
        """A UserError if this engine's ``cell`` cannot run under bf16 autocast on ``device``, found by running a
        tiny layer now, before any data loads (oneDNN's LSTM has no bf16 primitive on some CPUs)."""
        import torch
        from torch import nn

        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](4, 8).to(device)
        x = torch.randn(3, 2, 4, device=device, requires_grad=True)
        try:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                out, _ = self.run(layer, x, None, None)
            out.float().sum().backward()
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[0].split(". ")[0]
            raise UserError(
                f"--bf16: --engine {self.name} cannot run {cell} under bf16 autocast on {device} here ({reason}); "
                "drop --bf16, or use --engine bptt"
            ) from None

    def unavailable(self, device: torch.device | str) -> str | None:
        """Why this engine cannot run on ``device``, or None when it can."""
        check = getattr(self.module(), "unavailable", None)
        if check is None:
            return None
        import torch

        return check(torch.device(device))

    def interpreted(self, device: torch.device | str) -> bool:
        """Whether it runs on ``device`` only through an interpreter (correct, and minutes slower)."""
        check = getattr(self.module(), "interpreted", None)
        if check is None:
            return False
        import torch

        return bool(check(torch.device(device)))

    def variant(self, cell: str, batch: int, hidden: int, dtype: torch.dtype, device: torch.device) -> str | None:
        """The kernel variant it runs for this shape, where it has several (named in every measurement)."""
        describe = getattr(self.module(), "variant", None)
        return None if describe is None else describe(cell, batch, hidden, dtype, device)


ENGINES: dict[str, Engine] = {}
_LOADED: dict[str, ModuleType] = {}  # engine modules by dotted name, once imported


def register(engine: Engine) -> Engine:
    ENGINES[engine.name] = engine
    return engine


# PyTorch's nn.LSTM/GRU/RNN (cuDNN on GPU, ATen/oneDNN on CPU): DropConnect is a mask on the weights it is given
register(Engine("cudnn", "rnnlab.cells.cudnn", regularisers=("weight-drop",)))
register(Engine("unrolled", "rnnlab.cells.unrolled"))  # a Python loop over the reference cells; autograd backward
register(Engine("bptt", "rnnlab.cells.bptt"))  # backpropagation through time written by hand
register(  # fused Triton kernels; their masks for zoneout and recurrent dropout are still to be written
    Engine(
        "triton", "rnnlab.cells.triton.engine", ("lstm", "gru"), variable_lengths=False, regularisers=("weight-drop",)
    )
)


def get_engine(name: str, device: torch.device | str | None = None) -> Engine:
    """The engine called ``name``, or a UserError naming the choices or why it cannot run on ``device``."""
    if name not in ENGINES:
        raise UserError(f"--engine: unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    engine = ENGINES[name]
    if device is not None:
        reason = engine.unavailable(device)
        if reason:
            raise UserError(f"--engine {name} cannot run on {device}: {reason}")
    return engine


def available_engines(device: torch.device | str) -> dict[str, str | None]:
    """Every registered engine with the reason it cannot run on ``device`` (None when it can)."""
    return {name: e.unavailable(device) for name, e in ENGINES.items()}
