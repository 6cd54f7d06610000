"""The Python API: a trained run loaded once, then used on images, traced step by step, run under any engine.

    import rnnlab
    run = rnnlab.load("runs/my-run")           # the model, its config and its preprocessing
    [p] = run.predict("seven.png")              # p.name, p.confidence, p.probs (T, C): after each step
    steps = run.trace("seven.png")              # every layer's states and gates at every step
    run.engine("bptt")                           # the same parameters under another engine

Everything is what the commands use: `rnnlab predict` is ``run.predict``, `rnnlab visualize` draws ``run.trace``.
Legend: N images, H/W image height/width, T time steps, I features, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab.cells import get_engine
from rnnlab.config import RunConfig
from rnnlab.data.preprocess import Preprocessing
from rnnlab.errors import UserError
from rnnlab.look.predict import Prediction, model_inputs, predict_sources, read_sources
from rnnlab.look.probe import batched
from rnnlab.look.steps import StepTrace, trace_steps
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.checkpoint import config_of, load_checkpoint, model_from_checkpoint, preprocessing_of
from rnnlab.runtime.device import resolve_device


@dataclass
class Loaded:
    """A trained model with what it needs to read a new image: no dataset at hand."""

    model: SequenceClassifier  # in eval mode, on ``device``
    config: RunConfig
    preprocessing: Preprocessing
    path: Path  # the checkpoint file

    def predict(self, *sources: Any) -> list[Prediction]:
        """Each source, a path (PNG, JPEG, .npy), a PIL image or an (H, W) / (N, H, W) array in [0, 1] or [0, 255],
        through the model; a source that cannot be read raises a UserError naming it."""
        predictions, errors = predict_sources(self.model, self.preprocessing, _flat(sources))
        if errors:
            raise UserError(errors[0])
        return predictions

    def sequences(self, *sources: Any) -> Tensor:  # (N, T, I)
        """Sources as the model reads them: prepared, normalised, in its sequence view."""
        images, errors = read_sources(self.preprocessing, _flat(sources))
        if errors:
            raise UserError(errors[0])
        return model_inputs(self.preprocessing, images)[1]

    def trace(self, source: Any) -> StepTrace:
        """Every layer's states and gates at every step, for one image (any single source ``predict`` takes).
        For sequences already made, in the model's layout: rnnlab.trace(run.model, x)."""
        return trace_steps(self.model, batched(self.model, self.sequences(source)[0]).to(self.device))

    def engine(self, name: str) -> Loaded:
        """Run the same parameters under another engine (nothing is copied); returns this run."""
        get_engine(name, self.device)
        self.model.engine = name
        return self

    def describe(self) -> str:
        """'runs/a/best.pt (LSTM 2 x 32 on digits, rows: 8 steps of 8)'."""
        m, p = self.config.model, self.preprocessing
        steps, features = self.config.data.shape
        hidden = "/".join(map(str, m.hidden_sizes)) if len(set(m.hidden_sizes)) > 1 else str(m.hidden_sizes[0])
        net = f"{'bidirectional ' if m.bidirectional else ''}{m.cell.upper()} {m.layers} x {hidden}"
        return f"{self.path} ({net} on {p.dataset}, {p.sequence}: {steps} steps of {features})"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def size(self) -> tuple[int, int]:
        return self.preprocessing.image_size


def _flat(sources: tuple[Any, ...]) -> list[Any]:
    """predict("a.png", "b.png") and predict(["a.png", "b.png"]) alike."""
    if len(sources) == 1 and isinstance(sources[0], (list, tuple)):
        return list(sources[0])
    return list(sources)


def load(
    run: str | Path, engine: str | None = None, device: str | torch.device = "cpu", data_dir: str | None = None
) -> Loaded:
    """A run folder (its best.pt, else checkpoint.pt) or a checkpoint file, ready to use.

    ``engine``: how the recurrent layers are computed (default: the one it trained with); ``device``: cpu, cuda,
    auto or a torch.device; ``data_dir``: where an older checkpoint's training set is, to measure the
    preprocessing it lacks."""
    if isinstance(device, str):
        device = resolve_device(device)
    ckpt = load_checkpoint(run)
    name = engine or config_of(ckpt).train.engine
    get_engine(name, device)
    model = model_from_checkpoint(ckpt, name).to(device).eval()
    return Loaded(model, config_of(ckpt), preprocessing_of(ckpt, data_dir), Path(ckpt["path"]))


def predict(run: str | Path | Loaded, *sources: Any) -> list[Prediction]:
    """``load(run).predict(*sources)``."""
    return _loaded(run).predict(*sources)


def trace(run: str | Path | Loaded | SequenceClassifier, source: Any) -> StepTrace:
    """``load(run).trace(source)``; a model with sequences in its layout: look.steps.trace_steps(model, source)."""
    if isinstance(run, SequenceClassifier):
        return trace_steps(run, source)
    return _loaded(run).trace(source)


def _loaded(run: str | Path | Loaded) -> Loaded:
    return run if isinstance(run, Loaded) else load(run)
