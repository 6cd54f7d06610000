"""Figures of one sequence, step by step: the image, the class probabilities, the states and the gates.

Time runs along the x axis, counted from 1: column t is "after step t", whatever the length (pixel MNIST's 784 steps
are drawn as an image whose columns are the steps, smoothed when there are more steps than pixels). Units are
counted from 1 too. matplotlib's Figure API on the Agg canvas, as in figures.py.
Legend: T time steps, H hidden units, C classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from rnnlab.look.figures import HIGHLIGHT, OTHER, save
from rnnlab.text import visible

GATE_TITLES = {
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g (tanh)",
    "o": "output gate o",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n (tanh)",
}
CANDIDATES = ("g", "n")  # tanh, in [-1, 1]; the other gates are sigmoids, in [0, 1]


def over_steps(ax: Axes, values: np.ndarray, cmap: str, vmin: float, vmax: float) -> AxesImage:
    """(rows, T) values as an image: column t at x = t + 1, row r at y = r + 1, integer ticks."""
    rows, T = values.shape
    image = ax.imshow(
        values,
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=(0.5, T + 0.5, rows + 0.5, 0.5),
        interpolation="nearest" if T <= 300 else "antialiased",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    return image


def digit(image: np.ndarray, label: int, pred: int, prob: float, path: Path) -> Path:
    fig = Figure(figsize=(3.2, 3.6))
    ax = fig.add_subplot()
    ax.imshow(image, cmap="gray")
    ax.set_title(f"label {label}, predicted {pred} ({100 * prob:.1f}%)", color="black" if pred == label else HIGHLIGHT)
    ax.set_xticks([])
    ax.set_yticks([])
    return save(fig, path)


def step_grid(probs: np.ndarray, label: int, step_note: str, path: Path, max_panels: int = 28) -> Path:
    """A bar chart of the class probabilities after each step (a 7 x 4 grid for 28 steps)."""
    T, C = probs.shape
    steps = np.unique(np.linspace(0, T - 1, min(T, max_panels)).round().astype(int))
    cols = 4
    rows = math.ceil(len(steps) / cols)
    fig = Figure(figsize=(10, 1.5 * rows + 0.6))
    colors = [HIGHLIGHT if c == label else OTHER for c in range(C)]
    for k, t in enumerate(steps):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.bar(range(C), probs[t], color=colors)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(C))
        ax.tick_params(labelsize=7)
        ax.set_title(f"after step {t + 1}", fontsize=8)
    fig.suptitle(f"class probabilities as the sequence is read (true class {label} in red); {step_note}", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def _class_axis(ax: Axes, names: Sequence[str], highlight: int | None) -> None:
    ax.set_yticks(range(1, len(names) + 1), [visible(n) for n in names], fontsize=8)  # names from a checkpoint
    if highlight is not None:
        ax.get_yticklabels()[highlight].set_color(HIGHLIGHT)
    ax.set_ylabel("class")


def step_heatmap(probs: np.ndarray, label: int, step_note: str, path: Path, names: Sequence[str] = ()) -> Path:
    """P(class) after each step: classes down, steps across."""
    return save(step_heatmap_figure(probs, label, step_note, names), path)


def step_heatmap_figure(probs: np.ndarray, label: int, step_note: str, names: Sequence[str] = ()) -> Figure:
    """The figure of step_heatmap, unsaved (TensorBoard takes it as it is)."""
    T, C = probs.shape
    fig = Figure(figsize=(min(12.0, max(6.0, 3 + 0.2 * T)), 3.6), layout="constrained")
    ax = fig.add_subplot()
    image = over_steps(ax, probs.T, "viridis", 0, 1)
    _class_axis(ax, names or [str(c) for c in range(C)], label)
    ax.set_xlabel(f"after step (1 to {T})")
    ax.set_title(f"P(class) after each step, true class {label} (in red)\n{step_note}", fontsize=9)
    fig.colorbar(image, ax=ax, label="probability", fraction=0.04)
    return fig


def _height(units: int) -> float:
    """Inches per panel: enough for every unit to be a pixel row or more, within reason."""
    return min(3.6, max(1.8, 0.012 * units + 0.8))


def _width(T: int) -> float:
    return min(13.0, max(7.0, 4 + 0.18 * T))


def states(panels: Sequence[tuple[str, np.ndarray]], title: str, path: Path) -> Path:
    """One panel per direction: (name, (T, H) states), units down, steps across, one symmetric colour scale."""
    T, H = panels[0][1].shape
    limit = max(float(np.abs(s).max()) for _, s in panels) or 1.0
    fig = Figure(figsize=(_width(T), _height(H) * len(panels) + 0.8), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, panels):
        image = over_steps(ax, values.T, "RdBu_r", -limit, limit)
        ax.set_ylabel(f"{name}\nunit (1 to {values.shape[1]})", fontsize=9)
    both = "; forward: after reading steps 1..t, backward: after reading steps T..t" if len(panels) > 1 else ""
    axes[-1].set_xlabel(f"after step t (1 to {T}){both}")
    fig.colorbar(image, ax=list(axes), fraction=0.03)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def gates(directions: Sequence[tuple[str, dict[str, np.ndarray]]], title: str, path: Path) -> Path:
    """A heatmap per gate (rows) and direction (columns): each (T, H) activations, units down, steps across."""
    names = list(directions[0][1])
    T, H = directions[0][1][names[0]].shape
    fig = Figure(
        figsize=(_width(T) * (0.75 if len(directions) > 1 else 1) * len(directions), _height(H) * len(names) + 0.9),
        layout="constrained",
    )
    axes = fig.subplots(len(names), len(directions), squeeze=False, sharex=True, sharey=True)
    for col, (direction, values) in enumerate(directions):
        for row, name in enumerate(names):
            ax = axes[row, col]
            tanh = name in CANDIDATES
            image = over_steps(ax, values[name].T, "RdBu_r" if tanh else "viridis", -1 if tanh else 0, 1)
            ax.set_title(f"{GATE_TITLES[name]}" + (f", {direction}" if len(directions) > 1 else ""), fontsize=9)
            if col == 0:
                ax.set_ylabel(f"unit (1 to {H})", fontsize=9)
            if col == len(directions) - 1:
                fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
        axes[-1, col].set_xlabel(f"step (1 to {T})")
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def prediction(
    read: np.ndarray,  # the picture as the file holds it, in gray, in [0, 1]
    seen: np.ndarray,  # (H, W): what the model read, in [0, 1]
    probs: np.ndarray,  # (T, C)
    names: Sequence[str],
    title: str,
    path: Path,
) -> Path:
    """One image through a model: the file, what the model read, and P(class) after each step."""
    T, C = probs.shape
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    left, middle, right = fig.subplots(1, 3, width_ratios=[1, 1, 3.4])
    for ax, image, what in ((left, read, "as given, in gray"), (middle, seen, "what the model read")):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(what, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    shown = over_steps(right, probs.T, "viridis", 0, 1)
    final = int(probs[-1].argmax())
    _class_axis(right, names, final)
    right.set_xlabel(f"after step (1 to {T})")
    right.set_title(f"P(class) after each step; predicted {names[final]} (in red)", fontsize=9)
    fig.colorbar(shown, ax=right, label="probability", fraction=0.04)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
