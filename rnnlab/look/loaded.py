"""The Python API: a trained run loaded once, then used on images, traced step by step, run under any engine.

    import rnnlab
    run = rnnlab.load("runs/my-run")           # the model, its config and its preprocessing
    [p] = run.predict("seven.png")              # p.name, p.confidence, p.probs (T, C): after each step
    steps = run.trace("seven.png")              # every layer's states and gates at every step
    run.engine("bptt")                           # the same parameters under another engine
    run.evaluate("test")                         # accuracy, loss, per class: what `rnnlab eval` prints

Everything is what the commands use: `rnnlab predict` is ``run.predict``, `rnnlab visualize` draws ``run.trace``,
`rnnlab eval` prints ``run.evaluate``.
Legend: N images, H/W image height/width, T time steps, I features, C classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab.errors import UserError
from rnnlab.look.predict import Prediction, model_inputs, predict_sources, read_sources
from rnnlab.look.probe import batched
from rnnlab.look.steps import StepTrace, trace_steps
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.run import Run


class Loaded(Run):
    """A trained run (rnnlab.runs.run.Run: the model, its config and preprocessing, evaluate) read on new images."""

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


def _flat(sources: tuple[Any, ...]) -> list[Any]:
    """predict("a.png", "b.png") and predict(["a.png", "b.png"]) alike."""
    if len(sources) == 1 and isinstance(sources[0], (list, tuple)):
        return list(sources[0])
    return list(sources)


def load(
    run: str | Path, engine: str | None = None, device: str | torch.device = "cpu", data_dir: str | None = None
) -> Loaded:
    """A run folder (its best.pt, else checkpoint.pt) or a checkpoint file, ready to use: ``Loaded.open``.

    ``engine``: how the recurrent layers are computed (default: the one it trained with); ``device``: cpu, cuda,
    auto or a torch.device; ``data_dir``: where an older checkpoint's training set is, to measure the
    preprocessing it lacks."""
    return Loaded.open(run, engine, device, data_dir)


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
