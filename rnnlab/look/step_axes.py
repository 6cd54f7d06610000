"""The axes of every per-step figure: values over the steps, and the image beside the step axis.

Where a step reads a row of the image (rows), the steps run down and the image stands beside them, row t level
with step t; where it reads a column (cols), the steps run across under the image, column t over step t; where it
reads one pixel (pixels, permuted), the steps run across under a filmstrip: thumbnails of what has been read by
a few steps, each over its step, and the value read at every step as a band. Steps and units are counted from 1.
Legend: T time steps, H/W image height/width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from rnnlab.look.order import Reading

THUMBNAILS = 8  # at most, along a filmstrip


def over_steps(
    ax: Axes,
    values: np.ndarray,  # (rows, T)
    cmap: str,
    vmin: float,
    vmax: float,
    down: bool = False,  # steps down the y axis (rows across) instead of across the x axis
) -> AxesImage:
    """(rows, T) values as an image: step t at t + 1 along the step axis, row r at r + 1, integer ticks."""
    rows, T = values.shape
    shown, extent = (values.T, (0.5, rows + 0.5, T + 0.5, 0.5)) if down else (values, (0.5, T + 0.5, rows + 0.5, 0.5))
    image = ax.imshow(
        shown,
        aspect="auto",
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        extent=extent,
        interpolation="nearest" if T <= 300 else "antialiased",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    return image


@dataclass(frozen=True)
class StepAxes:
    """A figure's axes: per group (a direction), the strip beside its step axis (None without an image) and its
    panels, each sharing that step axis."""

    down: bool
    strips: list[Axes | None]
    panels: list[list[Axes]]

    def step_label(self, text: str) -> None:
        """Name the step axis once per group, where its tick labels are."""
        for strip, panels in zip(self.strips, self.panels):
            if self.down:
                (strip or panels[0]).set_ylabel(text, fontsize=9)
            else:
                panels[-1].set_xlabel(text, fontsize=9)

    def unit_label(self, ax: Axes, text: str, ticks: bool = False) -> None:
        """Name the other axis of a panel (its units, or classes); ``ticks`` False: no tick labels on it."""
        axis, setter = (ax.xaxis, ax.set_xlabel) if self.down else (ax.yaxis, ax.set_ylabel)
        setter(text, fontsize=8)
        if not ticks:
            axis.set_ticks([])


PANEL_HEIGHT = 3.0  # inches, of a panel whose steps run down


def beside_rows(
    reading: Reading, groups: int, per_group: int, panel: float, extra: tuple[float, float]
) -> tuple[tuple[float, float], float]:
    """Where steps run down: the figure's inches and the strip's share of a panel's width, for ``groups`` rows of
    ``per_group`` panels ``panel`` inches wide, and ``extra`` inches (width, height) of labels, titles and colour
    bars. The strip has room for the image at its own aspect a quarter wider than a panel is tall (it gives back
    what it does not need), and a panel is at most PANEL_HEIGHT tall, whatever the titles take."""
    h, w = reading.image.shape
    strip = 1.25 * PANEL_HEIGHT * w / h
    return (strip + per_group * panel + extra[0], PANEL_HEIGHT * groups + extra[1]), strip / panel


def step_axes(
    fig: Figure | SubFigure,
    reading: Reading | None,
    groups: int,
    per_group: int,
    strip: float,  # the strip's share of a panel's width (down) or height (across)
) -> StepAxes:
    """The axes of ``groups`` x ``per_group`` panels over the steps, with ``reading``'s strip beside each group's
    step axis: down where the model reads rows (groups stacked, panels side by side), else across (groups side by
    side, panels stacked)."""
    down = reading is not None and reading.along == "rows"
    lead = 1 if reading is not None else 0
    ratios = [strip] * lead + [1.0] * per_group
    if down:
        grid = fig.subplots(groups, lead + per_group, squeeze=False, sharey=True, width_ratios=ratios)
        rows = [list(grid[g]) for g in range(groups)]
    else:
        grid = fig.subplots(lead + per_group, groups, squeeze=False, sharex=True, height_ratios=ratios)
        rows = [list(grid[:, g]) for g in range(groups)]
    return StepAxes(down, [r[0] if lead else None for r in rows], [r[lead:] for r in rows])


def draw_strip(ax: Axes, reading: Reading, down: bool, at: int | None = None) -> None:
    """The image beside the step axis (``at``: the pixels read after step at+1 dimmed; None: every step)."""
    h, w = reading.image.shape
    if reading.along is not None:
        ax.imshow(reading.shown_at(at), aspect="auto", extent=(0.5, w + 0.5, h + 0.5, 0.5), interpolation="nearest")
        (ax.set_xticks if down else ax.set_yticks)([])
        if down:  # square pixels: the strip's room is generous (beside_rows) and it gives back the width it does
            ax.set_aspect("equal", adjustable="box")  # not need, keeping its height, so row t stays level with step t
            ax.set_anchor("E")
        if reading.steps < (h if down else w):  # a shortened sequence: the rest of the image was never read
            (ax.axhline if down else ax.axvline)(reading.steps + 0.5, color="white", lw=0.8, ls=":")
        return
    filmstrip(ax, reading, reading.steps)


def filmstrip(ax: Axes, reading: Reading, T: int) -> None:
    """Over steps 1..T: thumbnails of what has been read by a few steps, and the value read at every step."""
    values = reading.per_step()
    ax.imshow(values[None, :T], aspect="auto", cmap="gray", vmin=0, vmax=1, extent=(0.5, T + 0.5, 0, 0.16))
    ax.set_ylim(0, 1)
    ax.set_yticks([0.08], ["read"], fontsize=7)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    count = min(THUMBNAILS, T)
    span = T / count
    for k in range(count):  # thumbnail k in the k-th stretch of the steps, its right edge at the step it shows
        t = round((k + 1) * span)
        inset = ax.inset_axes((0.5 + k * span, 0.2, span, 0.8), transform=ax.get_xaxis_transform())
        inset.imshow(reading.shown_at(t - 1), interpolation="nearest")
        inset.set_anchor("SE")
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_title(f"by step {t}", fontsize=7, pad=2, loc="right")
        ax.plot([t, t], [0.16, 0.2], color="black", lw=0.8)


def class_labels(names: Sequence[str], label: int | None, predicted: int) -> list[str]:
    """Class names with the true and the predicted class said in words (the colours are only a help)."""
    said = []
    for k, name in enumerate(names):
        marks = [m for m, hit in (("true", k == label), ("predicted", k == predicted)) if hit]
        said.append(f"{name} ({', '.join(marks)})" if marks else name)
    return said


def settled(probs: np.ndarray) -> int:
    """The first step (from 0) after which the top class is the final prediction at every later step."""
    top = probs.argmax(1)
    changed = np.nonzero(top != top[-1])[0]
    return int(changed[-1]) + 1 if changed.size else 0
