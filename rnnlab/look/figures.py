"""A run's figures: training curves, runs compared, the confusion matrix (one sequence's figures: step_figures).

matplotlib's Figure API on the Agg canvas: headless, no global pyplot state. Each function takes plain arrays and
a path, writes one PNG, and returns the path.
Legend: C classes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from rnnlab.runs.files import atomic_write_bytes
from rnnlab.text import visible

HIGHLIGHT, OTHER = "#d62728", "#7f7f7f"


def save(fig: Figure, path: Path) -> Path:
    """Written atomically, like every file rnnlab writes: a full disk is one line and leaves the old figure.

    Every text is drawn as written: names come from files (a class name, an image's file name, a run's folder),
    and matplotlib would read `$...$` in them as mathematics (a traceback where it is not valid); their control
    characters are made visible. Texts made while drawing (tick labels) take the same rule from the context."""
    FigureCanvasAgg(fig)
    kind = path.suffix.lstrip(".") or "png"
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        for text in fig.findobj(Text):
            text.set_parse_math(False)
            text.set_text(visible(text.get_text(), keep="\n"))
        atomic_write_bytes(path, lambda f: fig.savefig(f, format=kind, dpi=100, bbox_inches="tight"))
    return path


def curves(records: list[dict[str, Any]], path: Path) -> Path:
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] in ("epoch", "final")]
    fig = Figure(figsize=(10, 3.6))
    for k, (metric, label) in enumerate((("loss", "loss"), ("accuracy", "accuracy"))):
        ax = fig.add_subplot(1, 2, k + 1)
        if steps:
            ax.plot([r["step"] for r in steps], [r[metric] for r in steps], label="train (running)", color=OTHER)
        if epochs:
            ax.plot([r["step"] for r in epochs], [r[f"train_{metric}"] for r in epochs], "o-", label="train (epoch)")
            ax.plot([r["step"] for r in epochs], [r[f"val_{metric}"] for r in epochs], "o-", label="validation")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("training curves")
    fig.tight_layout()
    return save(fig, path)


def runs_compared(runs: list[tuple[str, list[dict[str, Any]]]], path: Path) -> Path:
    """Validation accuracy after each epoch, and the running training loss, of several runs on shared axes."""
    fig = Figure(figsize=(12, 4.2))
    acc, loss = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for k, (label, records) in enumerate(runs):
        color = f"C{k % 10}"
        epochs = [r for r in records if r["kind"] in ("epoch", "final")]
        steps = [r for r in records if r["kind"] == "step"]
        acc.plot(
            [r["step"] for r in epochs], [100 * r["val_accuracy"] for r in epochs], "o-", ms=3, color=color, label=label
        )
        marker = "o" if len(steps) == 1 else ""  # a run with one log window is a point, which a line would not draw
        loss.plot(
            [r["step"] for r in steps], [r["loss"] for r in steps], marker=marker, ms=3, color=color, alpha=0.8, lw=1
        )
    acc.set_ylabel("validation accuracy (%)")
    loss.set_ylabel("training loss (mean over each log window)")
    for ax in (acc, loss):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    rows = math.ceil(len(runs) / 2)  # the legend goes under both panels, where it hides no curve
    fig.legend(*acc.get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"{len(runs)} runs compared")
    fig.tight_layout(rect=(0, 0.05 * rows, 1, 1))
    return save(fig, path)


def confusion(matrix: np.ndarray, path: Path) -> Path:
    C = matrix.shape[0]
    fig = Figure(figsize=(5.5, 4.8))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="Blues")
    for i in range(C):
        for j in range(C):
            if matrix[i, j]:
                color = "white" if matrix[i, j] > matrix.max() / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(C))
    ax.set_yticks(range(C))
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix ({matrix.sum()} samples, accuracy {100 * accuracy:.2f}%)", fontsize=10)
    fig.colorbar(im, ax=ax)
    return save(fig, path)
