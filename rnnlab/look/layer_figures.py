"""Figures of one layer's work on one sequence: its hidden (and cell) states after each step, its gates at each.

The units of each direction are drawn in one order (look.units.change_order, from its h) in both state figures, so
that row k is the same unit in h and c; each gate panel sorts its units by their mean (look.units.level_order).
States take a colour range that shows the typical unit (the 99th percentile of |value|; beyond it, the end colour);
gates keep their own ranges (sigmoids [0, 1], candidates [-1, 1]). The image stands beside the step axis
(look.step_axes). These states are one pass over the whole sequence per direction; each title says so, for a
bidirectional model's probability figure is something else (the model run anew on each prefix). Legend: T time
steps, H hidden units, D directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rnnlab.look import steps
from rnnlab.look.figures import save
from rnnlab.look.order import Reading
from rnnlab.look.step_axes import StepAxes, beside_rows, draw_strip, over_steps, step_axes
from rnnlab.look.units import LEVEL_RULE, ORDER_RULE, RANGE_PERCENTILE, change_order, level_order, robust_limit

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
READS = {"forward": "forward (reads 1..T)", "backward": "backward (reads T..1)"}


@dataclass(frozen=True)
class Direction:
    """One direction of a layer on one sequence, its units in the order they are drawn."""

    name: str  # "" for a one-directional layer; else forward or backward, with what it reads
    order: np.ndarray  # (H,): the unit drawn first, then the next...
    values: dict[str, np.ndarray]  # h, c (an LSTM's), each gate: (T, H) in the layer's own unit order

    def sorted(self, key: str) -> np.ndarray:  # (T, H)
        return self.values[key][:, self.order]


def directions_of(trace: steps.StepTrace, layer: int) -> list[Direction]:
    """Layer ``layer``'s directions, for the first sequence traced, each with its unit order."""
    found = trace.layer(layer)
    out = []
    for d in found:
        values = {"h": d.h[:, 0].cpu().numpy()}
        if d.c is not None:
            values["c"] = d.c[:, 0].cpu().numpy()
        values |= {g: v[:, 0].cpu().numpy() for g, v in d.gates.items()}
        order = change_order(values["h"], reverse=d.direction == "backward")
        out.append(Direction(READS[d.direction] if len(found) > 1 else "", order, values))
    return out


def passes(directions: Sequence[Direction], T: int) -> str:
    """What computation the states and gates figures show."""
    if len(directions) == 1:
        return f"one pass over steps 1..{T}: the state after step t has read steps 1..t"
    return (
        f"one full pass per direction: forward's state at step t has read steps 1..t, backward's steps {T}..t "
        "(the probability figure instead runs the model anew on steps 1..t)"
    )


def _strips(axes: StepAxes, reading: Reading | None) -> str:
    """Each group's image beside its steps; the order of reading, in words, where one pixel is read a step."""
    for strip in axes.strips:
        if strip is not None and reading is not None:
            draw_strip(strip, reading, axes.down)
    return f"\n{reading.order}" if reading is not None and reading.along is None else ""


def _layout(reading: Reading | None, groups: int, per_group: int, T: int, H: int) -> tuple[tuple[float, float], float]:
    """A states or gates figure's inches, and its strip's share of a panel's width (or height)."""
    if reading is not None and reading.along == "rows":  # steps down: each panel's units across, the image beside
        return beside_rows(reading, groups, per_group, 5.6 if per_group == 1 else 2.9, (0.9, 1.9))
    width = min(13.0, max(7.0, 4 + 0.18 * T)) * (0.75 if groups > 1 else 1) * groups
    strip = 0 if reading is None else (1.4 if reading.along is None else 1.2)
    panel = min(3.6, max(1.8, 0.012 * H + 0.8))
    return (width, panel * per_group + strip + 1.1), strip / panel


def states(directions: Sequence[Direction], key: str, title: str, path: Path, reading: Reading | None = None) -> Path:
    """``key`` (h or c) after each step, one panel per direction, on one colour range."""
    T, H = directions[0].values[key].shape
    limit = robust_limit(d.values[key] for d in directions)
    peak = max(float(np.abs(d.values[key]).max()) for d in directions)
    capped = peak > 1.02 * limit  # where colours stop short of a few units' values
    size, strip = _layout(reading, len(directions), 1, T, H)
    fig = Figure(figsize=size, layout="constrained")
    axes = step_axes(fig, reading, len(directions), 1, strip)
    order = _strips(axes, reading)
    for d, (ax,) in zip(directions, axes.panels):
        image = over_steps(ax, d.sorted(key).T, "RdBu_r", -limit, limit, axes.down)
        said = f"{d.name}: {H} units" if d.name else f"{H} units"
        axes.unit_label(ax, f"{said}, {ORDER_RULE}" if axes.down else f"{said.replace(': ', chr(10))}\nsorted")
    axes.step_label(f"after step t (1 to {T})" + (", beside row t" if axes.down else ""))
    fig.colorbar(
        image,
        ax=[ax for (ax,) in axes.panels],
        extend="both" if capped else "neither",
        label=f"{key}: colours end at \u00b1{limit:.2g},{' ' if axes.down else chr(10)}the {RANGE_PERCENTILE:.0f}th "
        f"percentile of |{key}|" + (f" (largest {peak:.2g})" if capped else ""),
        location="bottom" if axes.down else "right",
        shrink=0.6 if axes.down else 0.9,
        fraction=0.05,
    )
    fig.suptitle(f"{title}\n{passes(directions, T)}; units {ORDER_RULE}{order}", fontsize=9)
    return save(fig, path)


def gates(directions: Sequence[Direction], title: str, path: Path, reading: Reading | None = None) -> Path:
    """A heatmap per gate and direction, each (T, H) activation with its units by their level (look.units): a gate's
    units each hold their own level, so in any one order shared with the states they read as stripes."""
    names = [k for k in directions[0].values if k in GATE_TITLES]
    T, H = directions[0].values[names[0]].shape
    size, strip = _layout(reading, len(directions), len(names), T, H)
    fig = Figure(figsize=size, layout="constrained")
    axes = step_axes(fig, reading, len(directions), len(names), strip)
    order = _strips(axes, reading)
    for g, (d, panels) in enumerate(zip(directions, axes.panels)):
        for ax, name in zip(panels, names):
            tanh = name in CANDIDATES
            values = d.values[name][:, level_order(d.values[name])]
            image = over_steps(ax, values.T, "RdBu_r" if tanh else "viridis", -1 if tanh else 0, 1, axes.down)
            ax.set_title(GATE_TITLES[name] + (f", {d.name}" if d.name else ""), fontsize=9)
            axes.unit_label(ax, f"{H} units" if axes.down else f"{H} units, sorted")
            if g == len(directions) - 1:
                fig.colorbar(image, ax=ax, location="bottom" if axes.down else "right", fraction=0.05, shrink=0.8)
    axes.step_label(f"step t (1 to {T})" + (", beside row t" if axes.down else ""))
    fig.suptitle(f"{title}\n{passes(directions, T)}; units {LEVEL_RULE}{order}", fontsize=9)
    return save(fig, path)


def layer_figures(
    trace: steps.StepTrace, layer: int, what: str, stem: Path, reading: Reading | None = None
) -> list[Path]:
    """The hidden (and cell) states and the gates of one layer, every direction, for the first sequence traced:
    ``<stem>_layerK_hidden_states.png``, ``..._cell_states.png``, ``..._gates.png``."""
    directions = directions_of(trace, layer)
    name = f"{trace.cell.upper()} layer {layer} of {len(trace.layers)}"
    base = stem.with_name(f"{stem.name}_layer{layer}")
    paths = [
        states(directions, "h", f"hidden state h after each step, {name}, {what}", _png(base, "hidden_states"), reading)
    ]
    if "c" in directions[0].values:
        title = f"cell state c after each step, {name}, {what}"
        paths.append(states(directions, "c", title, _png(base, "cell_states"), reading))
    if any(k in GATE_TITLES for k in directions[0].values):
        title = f"gate activations at each step, {name}, {what}"
        paths.append(gates(directions, title, _png(base, "gates"), reading))
    return paths


def _png(base: Path, what: str) -> Path:
    return base.with_name(f"{base.name}_{what}.png")
