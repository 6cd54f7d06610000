"""Figures of one sequence's predictions, step by step: the image, the class probabilities after each step.

"After step t" is the prediction the model makes if the sequence ended after step t (look.probe); each figure
says how that was computed. The image stands beside the step axis (look.step_axes), the true class and the
predicted one are marked in words and colours. The states and gates of a layer are in layer_figures.py.
matplotlib's Figure API on the Agg canvas, as in figures.py.
Legend: T time steps, C classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Patch

from rnnlab.look.figures import OTHER, save
from rnnlab.look.order import Reading
from rnnlab.look.step_axes import beside_rows, class_labels, draw_strip, over_steps, settled, step_axes
from rnnlab.text import visible

TRUE, PREDICTED = "#2ca02c", "#d62728"  # the true class green; the predicted one red where it is another


def digit(image: np.ndarray, label: int, pred: int, prob: float, path: Path, order: str = "") -> Path:
    fig = Figure(figsize=(3.2, 3.8))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray")
    right = "right" if pred == label else "wrong"
    ax.set_title(f"true class {label}, predicted {pred} ({100 * prob:.1f}%, {right})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if order:
        ax.set_xlabel(order.replace(": ", ":\n"), fontsize=8)
    return save(fig, path)


def _names(names: Sequence[str], C: int) -> list[str]:
    return [visible(n) for n in names] if len(names) == C else [str(c) for c in range(C)]


def _bar_colors(C: int, label: int | None, pred: int) -> list[str]:
    return [TRUE if c == label else PREDICTED if c == pred else OTHER for c in range(C)]


def _legend(label: int | None, pred: int, names: list[str]) -> list[Patch]:
    if label is None:
        return [Patch(color=PREDICTED, label=f"predicted: {names[pred]}")]
    if label == pred:
        return [Patch(color=TRUE, label=f"true class {names[label]}, also the prediction")]
    return [
        Patch(color=TRUE, label=f"true class {names[label]}"),
        Patch(color=PREDICTED, label=f"predicted {names[pred]}"),
    ]


def step_grid(
    probs: np.ndarray,  # (T, C)
    label: int,
    step_note: str,
    path: Path,
    max_panels: int = 28,
    reading: Reading | None = None,
    names: Sequence[str] = (),
) -> Path:
    """A bar chart of the class probabilities after each step (a 7 x 4 grid for 28 steps), each beside a
    thumbnail of what has been read by then."""
    T, C = probs.shape
    shown = _names(names, C)
    pred = int(probs[-1].argmax())
    steps = np.unique(np.linspace(0, T - 1, min(T, max_panels)).round().astype(int))
    cols = 4
    rows = math.ceil(len(steps) / cols)
    fig = Figure(figsize=(12 if reading else 10, 1.45 * rows + 1.0), layout="constrained")
    ratios = [0.75, 2.0] * cols if reading else [1.0] * cols
    grid = fig.subplots(rows, len(ratios), squeeze=False, width_ratios=ratios)
    colors = _bar_colors(C, label, pred)
    for k in range(rows * cols):
        row, col = divmod(k, cols)
        thumb, bars = (grid[row, 2 * col], grid[row, 2 * col + 1]) if reading else (None, grid[row, col])
        if k >= len(steps):
            bars.set_axis_off()
            if thumb is not None:
                thumb.set_axis_off()
            continue
        t = int(steps[k])
        top = int(probs[t].argmax())
        bars.bar(range(C), probs[t], color=colors)
        bars.set_ylim(0, 1)
        bars.set_xticks(range(C), shown if C <= 12 else None)
        bars.tick_params(labelsize=7, labelrotation=90 if max(map(len, shown)) > 2 else 0)
        bars.set_title(f"after step {t + 1}: top {shown[top]} ({100 * probs[t, top]:.0f}%)", fontsize=8)
        if thumb is not None and reading is not None:
            thumb.imshow(reading.shown_at(t), interpolation="nearest")
            thumb.set_xticks([])
            thumb.set_yticks([])
    read = f"; beside each step, the image as read by then ({reading.order}; the rest dimmed)" if reading else ""
    fig.legend(handles=_legend(label, pred, shown), loc="outside lower center", fontsize=8, ncols=2, frameon=False)
    fig.suptitle(f"class probabilities as the sequence is read{read}\n{step_note}", fontsize=9)
    return save(fig, path)


def draw_probabilities(
    target: Figure | SubFigure,
    probs: np.ndarray,  # (T, C)
    names: Sequence[str],
    label: int | None,  # the true class, None where it is not known (a user's own image)
    title: str,
    reading: Reading | None = None,
) -> None:
    """P(class) after each step as a heatmap beside the image: classes across and steps down (rows read) or
    classes down and steps across; a white dot on the top class at each step; a dashed line where the top class
    settles on the prediction (the image read up to there, the rest dimmed)."""
    T, C = probs.shape
    shown = _names(names, C)
    pred, settle = int(probs[-1].argmax()), settled(probs)
    axes = step_axes(target, reading, 1, 1, strip=_layout(reading, T, C)[1])
    ax, down = axes.panels[0][0], axes.down
    image = over_steps(ax, probs.T, "viridis", 0, 1, down)
    _mark_classes(ax, shown, label, pred, down)
    tops = probs.argmax(1) + 1
    at = np.arange(1, T + 1)
    x, y = (tops, at) if down else (at, tops)
    ax.scatter(x, y, s=9 if T <= 60 else 2, color="white", edgecolors="none")
    if settle > 0:  # before step settle+1: from there on the top class is the prediction
        (ax.axhline if down else ax.axvline)(settle + 0.5, color="white", ls="--", lw=1)
    axes.unit_label(ax, "class", ticks=True)
    axes.step_label(f"after step t (1 to {T})" + (", beside row t" if down else ""))
    strip = axes.strips[0]
    if settle:
        where = "below" if down else "right of"
        said = f"the top class is {shown[pred]} at every step from step {settle + 1} on ({where} the dashed line)"
    else:
        said = f"the top class is {shown[pred]} at every step"
    if strip is not None and reading is not None:
        draw_strip(strip, reading, down, at=settle if reading.along else None)
        what = "rows" if reading.along == "rows" else "columns"
        read = f"{what} 1-{settle + 1} bright: read by step {settle + 1}" if settle else f"{what[:-1]} 1 bright"
        if reading.along:
            strip.set_title(f"the image, {reading.order.split(':')[0]}\n{read}", fontsize=8)
        else:
            said = f"{reading.order}; {said}"
    target.colorbar(image, ax=ax, label="probability", fraction=0.05, shrink=0.9)
    target.suptitle(f"{title}\n{said}; white dots: the top class at each step", fontsize=9)


def _mark_classes(ax: Axes, shown: list[str], label: int | None, pred: int, down: bool) -> None:
    """The class axis: names, the true class green and the predicted red (where another), said in words too."""
    ticks = range(1, len(shown) + 1)
    if down:  # classes across: the words over the heatmap, where a long name does not push them apart
        ax.set_xticks(ticks, shown, fontsize=8, rotation=90 if max(map(len, shown)) > 3 else 0)
        if label == pred:
            marks = [(pred, "true, predicted", TRUE)]
        else:
            marks = [(pred, "predicted", PREDICTED)] + ([] if label is None else [(label, "true", TRUE)])
        for k, (c, word, color) in enumerate(marks):
            ax.text(
                c + 1,
                1.01 + 0.045 * k,
                f"{word} \u2193",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=7,
                color=color,
            )
    else:
        ax.set_yticks(ticks, class_labels(shown, label, pred), fontsize=8)
    for c, tick in enumerate(ax.get_xticklabels() if down else ax.get_yticklabels()):
        if c in (label, pred):
            tick.set_color(TRUE if c == label else PREDICTED)


def _layout(reading: Reading | None, T: int, C: int) -> tuple[tuple[float, float], float]:
    """A probabilities figure's inches, and its strip's share of the heatmap's width (or height)."""
    if reading is not None and reading.along == "rows":  # steps down, beside the image
        return beside_rows(reading, 1, 1, max(2.6, 0.3 * C), (1.9, 2.0))
    size = (min(12.0, max(6.5, 3.5 + 0.2 * T)), 3.8 + (1.6 if reading is not None else 0))
    return size, 0.0 if reading is None else 0.9 if reading.along == "cols" else 0.55


def probabilities_figure(
    probs: np.ndarray, names: Sequence[str], label: int | None, title: str, reading: Reading | None = None
) -> Figure:
    fig = Figure(figsize=_layout(reading, *probs.shape)[0], layout="constrained")
    draw_probabilities(fig, probs, names, label, title, reading)
    return fig


def step_heatmap(
    probs: np.ndarray, label: int, step_note: str, path: Path, names: Sequence[str] = (), reading: Reading | None = None
) -> Path:
    """P(class) after each step, beside the image (``reading``) where given."""
    title = f"P(class) if the sequence ended after step t\n{step_note}"
    return save(probabilities_figure(probs, names, label, title, reading), path)


def step_heatmap_figure(probs: np.ndarray, label: int, step_note: str, names: Sequence[str] = ()) -> Figure:
    """The figure of step_heatmap without the image, unsaved (TensorBoard takes it as it is)."""
    return probabilities_figure(probs, names, label, f"P(class) if the sequence ended after step t\n{step_note}")


def prediction(
    given: np.ndarray,  # the picture as the file holds it, in gray, in [0, 1]
    reading: Reading,  # what the model read
    probs: np.ndarray,  # (T, C)
    names: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """One of a user's images through a model: the file as given, and P(class) after each step beside what the
    model read (the same drawing as visualize's)."""
    width, height = _layout(reading, *probs.shape)[0]
    fig = Figure(figsize=(width + 2.4, height), layout="constrained")
    grid = fig.subfigures(1, 2, width_ratios=[2.4, width], squeeze=False)
    left, right = grid[0, 0], grid[0, 1]
    ax: Axes = left.add_subplot()
    ax.imshow(given, cmap="gray", vmin=0, vmax=1)
    ax.set_title("as given, in gray", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    draw_probabilities(right, probs, names, None, title, reading)
    return save(fig, path)
