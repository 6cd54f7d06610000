"""`rnnlab visualize`: pick a sample of a run's data, compute what the net saw and said, write the figures.

The per-step probabilities are also written as JSON beside the PNGs, so the plotted numbers can be checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from rnnlab.data import as_image, load_sequences
from rnnlab.errors import UserError
from rnnlab.look import figures, probe, steps
from rnnlab.look import step_figures as draw
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


def step_note(bidirectional: bool, readout: str) -> str:
    if bidirectional:
        return "bidirectional: 'after step t' = the model run on steps 1..t only (both directions see that prefix)"
    if readout == "mean":
        return "readout mean: 'after step t' = the mean of the outputs of steps 1..t"
    return "'after step t' = the head applied to the state after reading steps 1..t"


def check_layer(layer: int | None, layers: int) -> int:
    """--layer, counted from 1; None means the last."""
    if layer is None:
        return layers
    if not 1 <= layer <= layers:
        plural = "s" if layers > 1 else ""
        raise UserError(f"--layer: this model has {layers} layer{plural} (1 to {layers}); got {layer}")
    return layer


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
) -> Picture:
    loaded = Run.open(run, engine, device, data_dir)
    cfg, model = loaded.config, loaded.model
    layer = check_layer(layer, cfg.model.layers)
    data = load_sequences(replace(cfg.data, data_dir=data_dir or cfg.data.data_dir, train_subset=0, test_subset=0))
    names = data.preprocessing.class_names
    x, y = getattr(data, split)
    if digit is not None:
        if not 0 <= digit < data.num_classes:
            raise UserError(f"--digit: must be a class from 0 to {data.num_classes - 1}, got {digit}")
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
    lengths = data.lengths_of(split)
    seq, label = x[index], int(y[index])
    if lengths is not None:
        seq = seq[: int(lengths[index])]  # the steps this sample has
    seq = seq.to(device)
    probs = probe.step_probabilities(model, seq).cpu()
    pred = int(probs[-1].argmax())
    note = step_note(cfg.model.bidirectional, cfg.model.readout)
    out = output_folder(out_dir) if out_dir else output_folder(loaded.folder.figures, own=True)
    stem = f"{split}{index}"
    image = as_image(x[index], cfg.data.sequence, data.preprocessing.image_size, cfg.data.permute_seed)
    paths = [
        draw.digit(image.numpy(), label, pred, float(probs[-1, pred]), out / f"{stem}_digit.png"),
        draw.step_grid(probs.numpy(), label, note, out / f"{stem}_step_probs_grid.png"),
        draw.step_heatmap(probs.numpy(), label, note, out / f"{stem}_step_probs_heatmap.png", names),
    ]
    what = f"{split} sample {index} (true class {label})"
    paths += layer_figures(steps.trace_steps(model, probe.batched(model, seq)), layer, what, out / stem)
    records = loaded.metrics()
    if records:
        paths.append(figures.curves(records, out / "curves.png"))
    matrix = probe.confusion_matrix(model, *data.test, 1000, data.num_classes, data.lengths_of("test"))
    paths.append(figures.confusion(matrix.numpy(), out / "confusion_test.png"))
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
    return Picture(index, label, probs, note, layer, paths, records.warnings(loaded.folder.metrics))


def layer_figures(trace: steps.StepTrace, layer: int, what: str, stem: Path) -> list[Path]:
    """The hidden (and cell) states and the gates of one layer, every direction, for the first sequence traced."""
    directions = trace.layer(layer)
    name = f"{trace.cell.upper()} layer {layer} of {len(trace.layers)}"
    both = len(directions) > 1
    label = {"forward": "forward (reads 1..T)", "backward": "backward (reads T..1)"}

    def panels(pick: str) -> list[tuple[str, np.ndarray]]:
        return [(label[d.direction] if both else "", getattr(d, pick)[:, 0].cpu().numpy()) for d in directions]

    base = stem.with_name(f"{stem.name}_layer{layer}")
    paths = [draw.states(panels("h"), f"hidden state h after each step, {name}, {what}", _png(base, "hidden_states"))]
    if directions[0].c is not None:
        title = f"cell state c after each step, {name}, {what}"
        paths.append(draw.states(panels("c"), title, _png(base, "cell_states")))
    if directions[0].gates:
        gate_values = [(d.direction, {g: v[:, 0].cpu().numpy() for g, v in d.gates.items()}) for d in directions]
        title = f"gate activations at each step, {name}, {what}"
        paths.append(draw.gates(gate_values, title, _png(base, "gates")))
    return paths


def _png(base: Path, what: str) -> Path:
    return base.with_name(f"{base.name}_{what}.png")
