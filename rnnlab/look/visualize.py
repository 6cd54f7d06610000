"""`rnnlab visualize`: pick a sample of a run's data, compute what the net saw and said, write the figures.

The per-step probabilities are also written as JSON beside the PNGs, so the plotted numbers can be checked. The
test set's confusion matrix is drawn only when asked (draw_confusion): it runs the model on every test sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnnlab.data import as_image, load_sequences
from rnnlab.data.sequences import SequenceData
from rnnlab.errors import UserError
from rnnlab.look import figures, probe, steps
from rnnlab.look import step_figures as draw
from rnnlab.look.layer_figures import layer_figures
from rnnlab.look.order import Reading
from rnnlab.look.probe import step_note as step_note  # re-exported: epoch.py (the loggers' figure) takes it here
from rnnlab.runs.files import atomic_write_text
from rnnlab.runs.folder import output_folder
from rnnlab.runs.run import Run


@dataclass(frozen=True)
class Picture:
    index: int
    label: int
    probs: torch.Tensor  # (T, C) after each step
    step_note: str
    layer: int  # whose states and gates were drawn, counted from 1
    paths: list[Path]
    warnings: list[str]  # damaged lines of the run's metrics.jsonl, skipped in the curves
    folder: Path  # where the figures were written


@dataclass(frozen=True)
class Opened:
    """A run and its data, loaded once for its figures."""

    run: Run
    data: SequenceData
    device: torch.device | str

    @property
    def test_samples(self) -> int:
        return len(self.data.test[1])


def check_layer(layer: int | None, layers: int) -> int:
    """--layer, counted from 1; None means the last."""
    if layer is None:
        return layers
    if not 1 <= layer <= layers:
        plural = "s" if layers > 1 else ""
        raise UserError(f"--layer: this model has {layers} layer{plural} (1 to {layers}); got {layer}")
    return layer


def open_run(
    run: str, engine: str | None = None, data_dir: str | None = None, device: torch.device | str = "cpu"
) -> Opened:
    loaded = Run.open(run, engine, device, data_dir)
    cfg = loaded.config.data
    return Opened(
        loaded, load_sequences(replace(cfg, data_dir=data_dir or cfg.data_dir, train_subset=0, test_subset=0)), device
    )


def _pick(y: torch.Tensor, index: int | None, digit: int | None, split: str, classes: int) -> int:
    if digit is not None:
        if not 0 <= digit < classes:
            raise UserError(f"--digit: must be a class from 0 to {classes - 1}, got {digit}")
        if index is None:
            found = (y == digit).nonzero()
            if not len(found):
                raise UserError(f"--digit: the {split} split has no sample of class {digit}; try another --split")
            index = int(found[0, 0])
    index = 0 if index is None else index
    if not 0 <= index < len(y):
        raise UserError(f"--index: the {split} split has {len(y)} samples (0 to {len(y) - 1}); got {index}")
    if digit is not None and int(y[index]) != digit:
        raise UserError(f"--index {index} is a {int(y[index])}, not a {digit}; give one of --index and --digit")
    return index


def draw_sample(
    opened: Opened,
    out_dir: Path | None,
    index: int | None = None,
    digit: int | None = None,
    split: str = "test",
    layer: int | None = None,
) -> Picture:
    """One sample's figures: the image, its class probabilities after each step (a grid and a heatmap), one
    layer's states and gates, and the run's training curves."""
    loaded, data = opened.run, opened.data
    cfg, model = loaded.config, loaded.model
    layer = check_layer(layer, cfg.model.layers)
    names = data.preprocessing.class_names
    x, y = getattr(data, split)
    index = _pick(y, index, digit, split, data.num_classes)
    lengths = data.lengths_of(split)
    seq, label = x[index], int(y[index])
    if lengths is not None:
        seq = seq[: int(lengths[index])]  # the steps this sample has
    seq = seq.to(opened.device)
    probs = probe.step_probabilities(model, seq).cpu()
    pred = int(probs[-1].argmax())
    note = step_note(cfg.model.bidirectional, cfg.model.readout)
    out = output_folder(out_dir) if out_dir else output_folder(loaded.folder.figures, own=True)
    stem = f"{split}{index}"
    image = as_image(x[index], cfg.data.sequence, data.preprocessing.image_size, cfg.data.permute_seed).numpy()
    reading = Reading.of(image, cfg.data.sequence, cfg.data.permute_seed, steps=seq.shape[0])
    what = f"{split} sample {index} (true class {label}, predicted {pred})"
    paths = [
        draw.digit(image, label, pred, float(probs[-1, pred]), out / f"{stem}_digit.png", reading.order),
        draw.step_grid(probs.numpy(), label, note, out / f"{stem}_step_probs_grid.png", reading=reading, names=names),
        draw.step_heatmap(
            probs.numpy(), label, f"{what}; {note}", out / f"{stem}_step_probs_heatmap.png", names, reading
        ),
    ]
    paths += layer_figures(steps.trace_steps(model, probe.batched(model, seq)), layer, what, out / stem, reading)
    records = loaded.metrics()
    if records:
        paths.append(figures.curves(records, out / "curves.png"))
    numbers = {
        "index": index,
        "split": split,
        "label": label,
        "prediction": pred,
        "note": note,
        "probs": probs.tolist(),
    }
    atomic_write_text(out / f"{stem}_step_probs.json", json.dumps(numbers) + "\n")
    paths.append(out / f"{stem}_step_probs.json")
    warned = records.warnings(loaded.folder.metrics)
    if not records and not loaded.folder.metrics.exists():  # a lone checkpoint or export: say what is left out
        warned.append(
            f"no curves.png: a run's training curves come from its metrics.jsonl, and {loaded.path} has none beside it"
        )
    return Picture(index, label, probs, note, layer, paths, warned, out)


def draw_confusion(opened: Opened, out: Path, advance: Callable[[int], None] | None = None) -> Path:
    """The test set's confusion matrix (every test sample through the model; ``advance`` is told of each batch)."""
    data = opened.data
    matrix = probe.confusion_matrix(
        opened.run.model, *data.test, 1000, data.num_classes, data.lengths_of("test"), advance=advance
    )
    return figures.confusion(matrix.numpy(), out / "confusion_test.png")


def visualize_run(
    run: str,
    out_dir: Path | None,
    index: int | None = None,
    digit: int | None = None,
    split: str = "test",
    engine: str | None = None,
    data_dir: str | None = None,
    device: torch.device | str = "cpu",
    layer: int | None = None,
    confusion: bool = False,
) -> Picture:
    """open_run, draw_sample, and (``confusion``) draw_confusion."""
    opened = open_run(run, engine, data_dir, device)
    picture = draw_sample(opened, out_dir, index, digit, split, layer)
    if confusion:
        picture = replace(picture, paths=[*picture.paths, draw_confusion(opened, picture.folder)])
    return picture
