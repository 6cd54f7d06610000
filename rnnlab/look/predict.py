"""`rnnlab predict`: a trained model on a user's own images, with its prediction after each step.

Each source is read as the model's training images were made (data.images), normalised and read as a sequence by
the checkpoint's own preprocessing, and run through the model; "after step t" is as in visualize (look.probe). A
source that cannot be read becomes one error line, and the others still run.
Legend: H/W image height/width, T time steps, C classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
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
from rnnlab.look.layer_figures import layer_figures
from rnnlab.look.order import Reading
from rnnlab.look.steps import trace_steps
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.folder import output_folder


@dataclass(frozen=True)
class Prediction:
    source: str  # the file (with the index within a .npy stack), or what the image was
    read: np.ndarray  # the picture as read, in gray
    image: Tensor  # (H, W) in [0, 1]: what the model read, before normalising
    probs: Tensor  # (T, C): the class probabilities after each step; the last row is the prediction
    class_names: tuple[str, ...]
    file: str = ""  # the image file's own name (no folder), "" for an image given in memory
    index: int | None = None  # its index within a stack

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


def read_each(preprocessing: Preprocessing, sources: Iterable[Any]) -> tuple[list[Sequence[ReadImage]], list[str]]:
    """Each source's images (a stack's made one at a time as they are asked for), and one line for each source
    that could not be read."""
    read: list[Sequence[ReadImage]] = []
    errors: list[str] = []
    for source in sources:
        try:
            read.append(read_images(source, preprocessing.dataset, preprocessing.image_size))
        except UserError as exc:
            errors.append(str(exc))
    return read, errors


def read_sources(preprocessing: Preprocessing, sources: Iterable[Any]) -> tuple[list[ReadImage], list[str]]:
    """Every source read as the model's images, and one line for each source that could not be read."""
    groups, errors = read_each(preprocessing, sources)
    return [r for group in groups for r in group], errors


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
    probs = probe.step_probabilities_of(model, sequences).cpu()  # (N, T, C)
    return [Prediction(r.source, r.read, pixels[k], probs[k], names, r.file, r.index) for k, r in enumerate(images)]


def _names(model: SequenceClassifier, preprocessing: Preprocessing) -> tuple[str, ...]:
    names = preprocessing.class_names
    return names if len(names) == model.cfg.num_classes else tuple(str(k) for k in range(model.cfg.num_classes))


def predict_sources(
    model: SequenceClassifier, preprocessing: Preprocessing, sources: Iterable[Any]
) -> tuple[list[Prediction], list[str]]:
    """Every source read and run: the predictions, and one line for each source that could not be read."""
    read, errors = read_sources(preprocessing, sources)
    return [p for chunk in _chunks(model, preprocessing, read) for p in chunk], errors


CHUNK = 256  # images run through the model at once


@dataclass(frozen=True)
class Chunked:
    """The sources read, to be run a chunk at a time (a stack of any length in bounded memory)."""

    groups: list[Sequence[ReadImage]]  # each source's images
    errors: list[str]  # one line for each source that could not be read

    @property
    def total(self) -> int:
        return sum(map(len, self.groups))

    def run(self, model: SequenceClassifier, preprocessing: Preprocessing) -> Iterator[list[Prediction]]:
        return _chunks(model, preprocessing, (r for group in self.groups for r in group))


def read_chunked(preprocessing: Preprocessing, sources: Iterable[Any]) -> Chunked:
    return Chunked(*read_each(preprocessing, sources))


def _chunks(
    model: SequenceClassifier, preprocessing: Preprocessing, images: Iterable[ReadImage]
) -> Iterator[list[Prediction]]:
    batch: list[ReadImage] = []
    for image in images:
        batch.append(image)
        if len(batch) == CHUNK:
            yield run_images(model, preprocessing, batch)
            batch = []
    if batch:
        yield run_images(model, preprocessing, batch)


def step_runs(labels: list[int], names: tuple[str, ...]) -> str:
    """The top class after each step as runs: '1-3: 4, 4-28: 7' (steps counted from 1)."""
    parts, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            steps = f"{start + 1}" if t - start == 1 else f"{start + 1}-{t}"
            parts.append(f"{steps}: {names[labels[start]]}")
            start = t
    return ", ".join(parts)


class FigureNames:
    """A distinct name per prediction for its figures, made from the image file's own name alone (never its folder,
    so a figure is written only inside the folder named): '<stem>' ('<stem>_steps.png', '<stem>_layerK_gates.png'),
    with the index within a stack ('stack_3'); where two images share a stem (seven.gif, seven.tiff) their
    extensions tell them apart ('seven-gif'); where two share the whole name (two folders' seven.png), they are
    numbered ('seven-2')."""

    def __init__(self, files: Iterable[str]) -> None:
        self.suffixes: dict[str, set[str]] = {}
        for file in files:
            stem, suffix = _stem(file)
            self.suffixes.setdefault(stem, set()).add(suffix)
        self.seen: set[str] = set()

    def __call__(self, p: Prediction) -> str:
        stem, suffix = _stem(p.file)
        base = f"{stem}-{suffix}" if len(self.suffixes.get(stem, ())) > 1 and suffix else stem
        base += f"_{p.index}" if p.index is not None else ""
        name, n = base, 1
        while name in self.seen:
            n += 1
            name = f"{base}-{n}"
        self.seen.add(name)
        return name


def figure_names(predictions: list[Prediction]) -> list[str]:
    names = FigureNames(p.file for p in predictions)
    return [f"{names(p)}_steps.png" for p in predictions]


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\\ud800-\udfff]")  # controls, separators, bytes that are not UTF-8


def _stem(file: str) -> tuple[str, str]:
    """('seven', 'gif') for 'seven.gif'; ('image', '') for an image given in memory. A stem is cut to 150
    characters (a file name has at most 255) and its control characters become '_'."""
    if not file:
        return "image", ""
    path = Path(file)
    stem = _UNSAFE.sub("_", path.stem)[:150] or "image"
    return stem, _UNSAFE.sub("_", path.suffix.lstrip("."))[:20]


def write_figures(
    predictions: list[Prediction],
    out: Path,
    what: str,
    preprocessing: Preprocessing,  # how the model reads an image: the step axis follows it
    names: FigureNames | None = None,
    model: SequenceClassifier | None = None,
    layer: int | None = None,
) -> list[Path]:
    """Each prediction's per-step figures in ``out``, drawn as visualize draws them: P(class) after each step
    beside what the model read (``<name>_steps.png``), and with ``model``, the hidden (and cell) states and the
    gates of ``layer`` (default the last; ``<name>_layerK_...png``). ``names``: the namer of every image the
    figures are of, where these are one chunk of them."""
    output_folder(out, "--figure")
    names = names or FigureNames(p.file for p in predictions)
    paths: list[Path] = []
    for p in predictions:
        base = names(p)
        reading = Reading.of(p.image.numpy(), preprocessing.sequence, preprocessing.permute_seed)
        note = "" if model is None else f"\n{probe.step_note(model.cfg.bidirectional, model.cfg.readout)}"
        title = f"P(class) if the image ended after step t: {p.source}\n{what}{note}"
        paths.append(draw.prediction(p.read, reading, p.probs.numpy(), p.class_names, title, out / f"{base}_steps.png"))
        if model is not None:
            sequence_read = preprocessing.to_sequences(p.image[None])[0].to(next(model.parameters()).device)
            trace = trace_steps(model, probe.batched(model, sequence_read))
            k = len(trace.layers) if layer is None else layer
            said = f"{p.source} (predicted {p.name})"
            paths += layer_figures(trace, k, said, out / base, reading)
    return paths
