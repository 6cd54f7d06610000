"""The tables of the look commands: the prediction after each step, a model's shapes and its parameters."""

from __future__ import annotations

import os
from typing import Any

from rich.text import Text

from rnnlab.cli.tables import Table, styled
from rnnlab.text import visible


def step_table(probs: Any, label: int, what: str, note: str, steps: list[int], summary: str | None) -> Table:
    """The prediction after each of ``steps`` (0-based; all of a short sequence), a change of top class marked."""
    rows = probs.tolist()
    tops = [max(range(len(row)), key=row.__getitem__) for row in rows]
    caption = note if summary is None else f"{summary}; every step is in the JSON file\n{note}"
    table = Table(title=f"per-step prediction, {visible(what)} (true class {label})", caption=caption)
    for col in ("after step", "top class", "P(top)", f"P(true={label})"):
        table.add_column(col, justify="right")
    for t in steps:
        top, row = tops[t], rows[t]
        was = f" (was {tops[t - 1]})" if t and tops[t - 1] != top else ""
        shown = Text.assemble((str(top), "green" if top == label else "red"), (was, "dim"))
        table.add_row(str(t + 1), shown, f"{row[top]:.3f}", f"{row[label]:.3f}")
    return table


def prediction_tables(predictions: list[Any], what: str, runs: Any, more: int = 0, width: int = 80) -> list[Table]:
    """The class probabilities of each image (in %), then the top class after each step (as runs of steps).
    Images are named by their file names, or by their paths where two share a name. Where a column per class
    would not fit ``width`` (Fashion-MNIST's names at 80 columns), the three likeliest classes of each image take
    their place, so that no column is squeezed to nothing. ``more``: the images left out of these tables."""
    names = [visible(n) for n in predictions[0].class_names]
    shown = _image_names([p.source for p in predictions])
    longest = max(len(s) for s in shown)
    percents = [[f"{100 * v:.0f}" for v in p.probs[-1].tolist()] for p in predictions]
    widest = [max(len(n), *(len(row[k]) for row in percents)) for k, n in enumerate(names)]
    predicted = max(9, *(len(visible(p.name)) + 7 for p in predictions))
    every = min(longest, 12) + 3 + predicted + 3 + sum(w + 3 for w in widest) + 1  # each column: 2 pads, a border
    caption = "P(class) after the last step, in %" if every <= width else "the three likeliest classes, in %"
    if more:
        caption += f"; the first {len(predictions):,} images of {len(predictions) + more:,} (--json: every one)"
    probs = Table(title=f"predictions of {visible(what)}", caption=caption)
    probs.add_column("image", overflow="fold", min_width=min(longest, 12))
    probs.add_column("predicted", justify="right", overflow="fold")
    columns = names if every <= width else ["second", "third"]
    for name in columns:
        probs.add_column(name, justify="right", no_wrap=every <= width, overflow="fold")
    steps = Table(title="the prediction after each step (steps: class)")
    steps.add_column("image", overflow="fold")
    steps.add_column("after each step", overflow="fold")
    for p, image, last in zip(predictions, shown, percents):
        if every <= width:
            cells = [styled(v, "bold") if k == p.label else v for k, v in enumerate(last)]
        else:
            values = p.probs[-1].tolist()
            order = sorted(range(len(values)), key=lambda k: -values[k])[1:3]
            cells = [f"{names[k]} ({last[k]}%)" for k in order]
        probs.add_row(image, f"{visible(p.name)} ({100 * p.confidence:.0f}%)", *cells)
        steps.add_row(image, visible(runs(p.step_labels, p.class_names)))
    return [probs, steps]


def _image_names(sources: list[str]) -> list[str]:
    """'seven.png' for '/some/where/seven.png' (and 'stack.npy[3]'), unless two images would read the same."""
    short = [os.path.basename(s) for s in sources]
    return [visible(s) for s in (short if len(set(short)) == len(short) else sources)]


def shape_table(stages: list[tuple[str, list[tuple[str, tuple]]]], title: str) -> Table:
    table = Table(title=f"the path of a batch: {title}")
    table.add_column("stage")
    table.add_column("tensor")
    table.add_column("shape", justify="right")
    for stage, tensors in stages:
        for k, (name, shape) in enumerate(tensors):
            table.add_row(stage if k == 0 else "", name, str(shape))
    table.caption = "legend: B batch, T time steps, I features, H hidden units, D directions; engines run time-major"
    return table


def parameter_table(model: Any) -> Table:
    table = Table(title="parameters (nn.LSTM/GRU/RNN names and layout)")
    table.add_column("name")
    table.add_column("shape", justify="right")
    table.add_column("count", justify="right")
    total = 0
    for name, p in model.named_parameters():
        table.add_row(name, str(tuple(p.shape)), f"{p.numel():,}")
        total += p.numel()
    table.add_section()
    table.add_row("total", "", f"{total:,}")
    return table
