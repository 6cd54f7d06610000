"""`rnnlab predict`: a trained model on a user's own images, with its prediction after each step.

Each source is read as the model's training images were made (data.images), normalised and read as a sequence by
the checkpoint's own preprocessing, and run through the model; "after step t" is as in visualize (look.probe). A
source that cannot be read becomes one error line, and the others still run.
Legend: H/W image height/width, T time steps, C classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.images import ReadImage, read_images
from rnnlab.data.preprocess import Preprocessing
from rnnlab.errors import UserError
from rnnlab.look import probe
from rnnlab.look import step_figures as draw
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.folder import output_folder


@dataclass(frozen=True)
class Prediction:
    source: str  # the file (with the index within a .npy stack), or what the image was
    read: np.ndarray  # the picture as read, in gray
    image: Tensor  # (H, W) in [0, 1]: what the model read, before normalising
    probs: Tensor  # (T, C): the class probabilities after each step; the last row is the prediction
    class_names: tuple[str, ...]

    @property
    def label(self) -> int:
        return int(self.probs[-1].argmax())

    @property
    def name(self) -> str:
        return self.class_names[self.label]

    @property
    def confidence(self) -> float:
        return float(self.probs[-1, self.label])

    @property
    def step_labels(self) -> list[int]:
        """The top class after each step."""
        return self.probs.argmax(1).tolist()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "prediction": self.name,
            "class": self.label,
            "probabilities": self.probs[-1].tolist(),
            "after_each_step": self.step_labels,
            "probabilities_after_each_step": self.probs.tolist(),
        }


def read_sources(preprocessing: Preprocessing, sources: Iterable[Any]) -> tuple[list[ReadImage], list[str]]:
    """Every source read as the model's images, and one line for each source that could not be read."""
    read: list[ReadImage] = []
    errors: list[str] = []
    for source in sources:
        try:
            read += read_images(source, preprocessing.dataset, preprocessing.image_size)
        except UserError as exc:
            errors.append(str(exc))
    return read, errors


def model_inputs(preprocessing: Preprocessing, images: list[ReadImage]) -> tuple[Tensor, Tensor]:
    """(N, H, W) pixels in [0, 1], and the (N, T, I) sequences the model reads from them."""
    pixels = torch.from_numpy(np.stack([r.image for r in images]))
    return pixels, preprocessing.to_sequences(pixels)


def run_images(model: SequenceClassifier, preprocessing: Preprocessing, images: list[ReadImage]) -> list[Prediction]:
    """Images already read (light on dark, at the model's size) through the model, step by step."""
    if not images:
        return []
    pixels, sequences = model_inputs(preprocessing, images)
    sequences = sequences.to(next(model.parameters()).device)
    names = _names(model, preprocessing)
    return [
        Prediction(r.source, r.read, pixels[k], probe.step_probabilities(model, sequences[k]).cpu(), names)
        for k, r in enumerate(images)
    ]


def _names(model: SequenceClassifier, preprocessing: Preprocessing) -> tuple[str, ...]:
    names = preprocessing.class_names
    return names if len(names) == model.cfg.num_classes else tuple(str(k) for k in range(model.cfg.num_classes))


def predict_sources(
    model: SequenceClassifier, preprocessing: Preprocessing, sources: Iterable[Any]
) -> tuple[list[Prediction], list[str]]:
    """Every source read and run: the predictions, and one line for each source that could not be read."""
    read, errors = read_sources(preprocessing, sources)
    return run_images(model, preprocessing, read), errors


def step_runs(labels: list[int], names: tuple[str, ...]) -> str:
    """The top class after each step as runs: '1-3: 4, 4-28: 7' (steps counted from 1)."""
    parts, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            steps = f"{start + 1}" if t - start == 1 else f"{start + 1}-{t}"
            parts.append(f"{steps}: {names[labels[start]]}")
            start = t
    return ", ".join(parts)


def figure_names(predictions: list[Prediction]) -> list[str]:
    """A distinct file name per prediction, telling which image it is: '<stem>_steps.png' (and the index within a
    stack, 'stack_3_steps.png'); where two images share a stem (seven.gif, seven.tiff) their extensions tell them
    apart ('seven-gif_steps.png'); where two share the whole name (two folders' seven.png), they are numbered."""
    stems = [_stem(p.source) for p in predictions]
    names, seen = [], set()
    for p, (stem, suffix) in zip(predictions, stems):
        shared = len({x for s, x in stems if s == stem}) > 1
        base = f"{stem}-{suffix}" if shared and suffix else stem
        base += f"_{p.source.rsplit('[', 1)[1].rstrip(']')}" if p.source.endswith("]") else ""
        name, n = f"{base}_steps.png", 1
        while name in seen:
            n += 1
            name = f"{base}-{n}_steps.png"
        seen.add(name)
        names.append(name)
    return names


def _stem(source: str) -> tuple[str, str]:
    """('seven', 'gif') for 'some/seven.gif' or 'some/seven.npy[3]'; ('image', '') for an image given in memory."""
    if source.startswith(("a ", "an ")):
        return "image", ""
    path = Path(source.rsplit("[", 1)[0] if source.endswith("]") else source)
    return path.stem, path.suffix.lstrip(".")


def write_figures(predictions: list[Prediction], out: Path, what: str) -> list[Path]:
    """The per-step figure of each prediction in ``out``."""
    output_folder(out, "--figure")
    return [
        draw.prediction(p.read, p.image.numpy(), p.probs.numpy(), p.class_names, f"{p.source}: {what}", out / name)
        for p, name in zip(predictions, figure_names(predictions))
    ]
