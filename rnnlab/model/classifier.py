"""SequenceClassifier: [input projection] -> stack of recurrent layers -> readout -> linear head.

Each layer is a one-layer ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (time-major), so per-layer sizes work and the
state_dict keys are PyTorch's own (``rnns.0.weight_ih_l0``, ``..._reverse``). ``engine`` only chooses how those
parameters are computed; swapping it copies nothing. The recurrent regularisers' masks are drawn here, outside the
engine (model.regularise), so every engine computes with the same ones. Batch-major input is transposed once, here
at the edge.
Legend: B batch, T time steps, I input features, P projection size, H hidden units, D directions, C classes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import torch
from torch import Tensor, nn

from rnnlab.cells import Engine, get_engine
from rnnlab.cells.common import State
from rnnlab.cells.ops import UntracedFrame
from rnnlab.config import ModelConfig
from rnnlab.model.dropout import Dropout
from rnnlab.model.init import init_chrono, init_recurrent, init_ugi
from rnnlab.model.regularise import layer_masks

_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# True in a dynamo trace alone (not in a non-strict torch.export, which runs this code); torch < 2.5 lacks it
_dynamo_compiling = getattr(torch.compiler, "is_dynamo_compiling", torch.compiler.is_compiling)


Watch = Callable[[str, Any], None]  # (stage name, tensor or tuple of tensors) -> None


class Trace(NamedTuple):
    """Everything a forward pass saw, for inspection and plots."""

    logits: Tensor  # (B, C)
    outputs: Tensor  # (T, B, D*H) of the last layer, before the output dropout
    states: list[State]  # final state of every layer, each (D, B, H)


class SequenceClassifier(nn.Module):
    def __init__(self, cfg: ModelConfig, engine: str = "cudnn", layout: str = "batch") -> None:
        super().__init__()
        self.cfg = cfg
        self._runs_on: set[tuple[str, torch.device, tuple[str, ...]]] = set()  # (engine, device, regularisers) asked
        self.regularise = True  # False: the recurrent layers as a plain nn.LSTM computes them (no zoneout either)
        self.mask_seed: int | None = None  # a seed: every forward draws the same masks (engines compared on them)
        self.engine = engine
        self.layout = layout
        self.proj = nn.Linear(cfg.input_size, cfg.proj) if cfg.proj else None
        sizes_in = [cfg.proj or cfg.input_size] + [h * cfg.directions for h in cfg.hidden_sizes[:-1]]
        self.rnns = nn.ModuleList(
            _MODULES[cfg.cell](i, h, bidirectional=cfg.bidirectional) for i, h in zip(sizes_in, cfg.hidden_sizes)
        )
        self.drop = Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_sizes[-1] * cfg.directions, cfg.num_classes)
        for rnn in self.rnn_layers:
            init_recurrent(rnn, cfg.init)
        if cfg.chrono:  # drawn after every weight, so that --chrono changes the gate biases and nothing else
            for rnn in self.rnn_layers:
                assert isinstance(rnn, nn.LSTM)  # ModelConfig takes --chrono for --cell lstm alone
                init_chrono(rnn, cfg.chrono)
        elif cfg.init == "ugi":  # likewise drawn last
            for rnn in self.rnn_layers:
                init_ugi(rnn)
        elif cfg.cell == "lstm" and cfg.forget_bias:
            self._add_forget_bias(cfg.forget_bias)

    @property
    def engine(self) -> str:
        """The name of the engine that computes the recurrent layers; setting it swaps the engine (no copy)."""
        return self._engine.name

    @engine.setter
    def engine(self, name: str) -> None:
        self._engine: Engine = get_engine(name)
        self._engine.module()  # imported now: an import inside a compiled call would be traced (graph breaks)

    def _engine_on(self, device: torch.device, regularisers: tuple[str, ...]) -> Engine:
        """The engine, asked whether it can run on ``device`` and compute ``regularisers`` once per engine, device and
        regularisers, not on every forward (compare-cells swaps engines between calls)."""
        key = (self._engine.name, device, regularisers)
        if key not in self._runs_on:
            get_engine(self._engine.name, device).check_model(self.cfg.cell, False, regularisers)
            self._runs_on.add(key)
        return self._engine

    def active_regularisers(self) -> tuple[str, ...]:
        """The recurrent regularisers a forward pass computes now: in training all of the model's, at evaluation
        zoneout alone (its expectation), none with ``regularise`` off."""
        if not self.regularise:
            return ()
        return tuple(r for r in self.cfg.regularisers if self.training or r == "zoneout")

    @property
    def rnn_layers(self) -> list[nn.RNNBase]:
        """``rnns`` as what they hold: one-layer nn.LSTM / nn.GRU / nn.RNN modules, first layer first."""
        return [cast(nn.RNNBase, rnn) for rnn in self.rnns]

    @torch.no_grad()
    def _add_forget_bias(self, value: float) -> None:
        for rnn in self.rnn_layers:
            for name, p in rnn.named_parameters():
                if name.startswith("bias_ih"):
                    p[rnn.hidden_size : 2 * rnn.hidden_size] += value  # gate order i, f, g, o

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        """nn.Module's call, having asked the engine whether it runs here: outside the trace for
        ``torch.compile(model)``, whose dynamo skips this frame alone and compiles the call inside it (a set the
        trace changed would make it compile twice). Traced inside a compiled caller, the question is not asked."""
        if not torch.compiler.is_compiling() and args and isinstance(args[0], Tensor):  # what trace() asks
            self._engine_on(args[0].device, self.active_regularisers())
        return nn.Module.__call__(self, *args, **kwargs)

    __call__ = UntracedFrame(_call)

    def forward(
        self,
        x: Tensor,  # (B, T, I) if layout == "batch" else (T, B, I)
        lengths: Tensor | None = None,  # (B,) valid steps per sample
    ) -> Tensor:  # (B, C)
        return self.trace(x, lengths).logits

    def trace(self, x: Tensor, lengths: Tensor | None = None, watch: Watch | None = None) -> Trace:
        """The forward pass, keeping every layer's final state; ``watch(stage, tensors)`` sees each stage."""
        see: Watch = watch or (lambda stage, value: None)
        # asked in the call before a compiled forward (a set the trace changed would make it compile twice)
        compiling = torch.compiler.is_compiling()
        engine = self._engine if compiling else self._engine_on(x.device, self.active_regularisers())
        generator = None if self.mask_seed is None else torch.Generator().manual_seed(self.mask_seed)
        see(f"input ({self.layout}-major)", x)
        if self.layout == "batch":
            x = x.transpose(0, 1)  # -> (T, B, I): engines are time-major
            see("transpose to time-major", x)
        if self.proj is not None:
            x = self.proj(x)  # (T, B, P)
            see(f"proj: Linear({self.proj.in_features} -> {self.proj.out_features}) on every step", x)
        states: list[State] = []
        # dynamo holds the nn.LSTM modules from here on where the engine allows it, set for this block of its trace
        with engine.compilable() if _dynamo_compiling() else contextlib.nullcontext():
            layers = self.rnn_layers
        for k, rnn in enumerate(layers):
            if k and self.cfg.dropout:
                x = self.drop(x)
                see(f"dropout p={self.cfg.dropout}", x)
            masks = layer_masks(self.cfg, rnn, x, self.training, generator) if self.regularise else None
            x, state = engine.run(rnn, x, None, lengths, masks)
            states.append(state)
            see(f"rnns.{k}: {type(rnn).__name__}({rnn.input_size} -> {rnn.hidden_size}) [{self.engine}]", (x, state))
        features = self.readout(x, states[-1], lengths)
        see(f"readout: {self.cfg.readout}", features)
        logits = self.head(self.drop(features))
        see(f"head: dropout, Linear({self.head.in_features} -> {self.head.out_features})", logits)
        return Trace(logits, x, states)

    def readout(
        self,
        out: Tensor,  # (T, B, D*H)
        state: State,  # each (D, B, H)
        lengths: Tensor | None,  # (B,)
    ) -> Tensor:  # (B, D*H)
        if self.cfg.readout == "state":
            h = state[0] if isinstance(state, tuple) else state
            return h.transpose(0, 1).reshape(h.shape[1], -1)  # directions side by side, as in `out`
        if self.cfg.readout == "mean":
            if lengths is None:
                return out.mean(0)
            return out.sum(0) / lengths.to(out.dtype).unsqueeze(1)  # padded steps are zero
        if lengths is None:
            return out[-1]
        return out[lengths.to(out.device) - 1, torch.arange(out.shape[1], device=out.device)]


def build_model(
    cfg: ModelConfig, engine: str = "cudnn", layout: str = "batch", seed: int | None = None
) -> SequenceClassifier:
    """A fresh model; with ``seed`` the initial parameters depend on nothing else."""
    if seed is None:
        return SequenceClassifier(cfg, engine, layout)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SequenceClassifier(cfg, engine, layout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
