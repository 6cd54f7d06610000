"""`rnnlab visualize`: pick a sample of a run's data, compute what the net saw and said, write the figures.

The per-step probabilities are also written as JSON beside the PNGs, so the plotted numbers can be checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnnlab.config import IMAGE_SIZES
from rnnlab.data import as_image, load_sequences
from rnnlab.errors import UserError
from rnnlab.look import figures as viz
from rnnlab.look import probe
from rnnlab.runs.checkpoint import config_of, load_checkpoint, model_from_checkpoint
from rnnlab.runs.files import atomic_write_text
from rnnlab.runs.metrics import read_metrics


@dataclass(frozen=True)
class Picture:
    index: int
    label: int
    probs: torch.Tensor  # (T, C) after each step
    step_note: str
    paths: list[Path]


def step_note(bidirectional: bool, readout: str) -> str:
    if bidirectional:
        return "bidirectional: 'after step t' = the model run on steps 1..t only (both directions see that prefix)"
    if readout == "mean":
        return "readout mean: 'after step t' = the mean of the outputs of steps 1..t"
    return "'after step t' = the head applied to the state after reading steps 1..t"


def visualize_run(
    run: str,
    out_dir: Path | None,
    index: int | None = None,
    digit: int | None = None,
    split: str = "test",
    engine: str | None = None,
    data_dir: str | None = None,
    device: torch.device | str = "cpu",
) -> Picture:
    ckpt = load_checkpoint(run)
    cfg = config_of(ckpt)
    model = model_from_checkpoint(ckpt, engine).to(device).eval()
    data = load_sequences(replace(cfg.data, data_dir=data_dir or cfg.data.data_dir, train_subset=0, test_subset=0))
    x, y = getattr(data, split)
    if digit is not None:
        if not 0 <= digit < data.num_classes:
            raise UserError(f"--digit: must be a class from 0 to {data.num_classes - 1}, got {digit}")
        index = int((y == digit).nonzero()[0, 0]) if index is None else index
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
    out = out_dir or Path(ckpt["path"]).parent / "figures"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{split}{index}"
    image = as_image(x[index], cfg.data.sequence, IMAGE_SIZES[cfg.data.dataset], cfg.data.permute_seed)
    paths = [
        viz.digit(image.numpy(), label, pred, float(probs[-1, pred]), out / f"{stem}_digit.png"),
        viz.step_grid(probs.numpy(), label, note, out / f"{stem}_step_probs_grid.png"),
        viz.step_heatmap(probs.numpy(), label, note, out / f"{stem}_step_probs_heatmap.png"),
    ]
    h, c = (None if t is None else t.cpu() for t in probe.last_layer_states(model, seq))
    layer = f"layer {cfg.model.layers}" + (" (forward units, then backward)" if cfg.model.bidirectional else "")
    paths.append(viz.states_heatmap(h.numpy(), f"hidden state h_t of {layer}", out / f"{stem}_hidden_states.png"))
    if c is not None:
        paths.append(viz.states_heatmap(c.numpy(), f"LSTM cell state c_t of {layer}", out / f"{stem}_cell_states.png"))
    records = read_metrics(Path(ckpt["path"]).parent)
    if records:
        paths.append(viz.curves(records, out / "curves.png"))
    matrix = probe.confusion_matrix(model, *data.test, 1000, data.num_classes, data.lengths_of("test"))
    paths.append(viz.confusion(matrix.numpy(), out / "confusion_test.png"))
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
    return Picture(index, label, probs, note, paths)
