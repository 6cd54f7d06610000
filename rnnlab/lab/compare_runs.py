"""`rnnlab compare-runs`: several run folders side by side, labelled by the settings in which they differ.

Tuning a recipe means reading many runs that differ in one or two flags; the label of each run is exactly those
flags (--init identity --chrono 784), so a figure or table needs no key on the side. The figure is written beside
the runs (their common folder) unless --out names another place.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnlab.config import DataConfig, sequence_shape
from rnnlab.errors import UserError
from rnnlab.runs.listing import RunSummary, labelled, load_run

FIGURE = "runs-compared.png"


def load_runs(paths: list[Path]) -> tuple[list[RunSummary], list[str]]:
    """The runs that can be compared, each labelled, and why each other one was left out (one that cannot be read,
    or that has not finished an epoch, has nothing to draw). None left: the reasons, as the error. A FIGURE among
    the paths (`rnnlab compare-runs runs/*` after a first comparison wrote runs/runs-compared.png) is passed over."""
    kept, left_out = [], []
    for path in paths:
        if path.name == FIGURE and path.is_file():
            continue
        try:
            run = load_run(path)
        except UserError as exc:
            left_out.append(str(exc))
            continue
        if run.validations:
            kept.append(run)
        else:
            left_out.append(f"RUN: {run.path} has not finished an epoch yet; nothing to compare")
    if not kept:
        raise UserError("; ".join(left_out) or "RUN: give run folders written by `rnnlab train`")
    return labelled(kept), [f"{reason}; left out" for reason in left_out]


def mixed(runs: list[RunSummary]) -> list[str]:
    """A warning for the way the runs are not of one task: different datasets, or else different sequence views
    (their step counts differ), whose accuracies and losses the figure and table still put side by side. Runs of
    different datasets are said to be so once (their step counts follow)."""
    views = {
        "datasets": [d.dataset for d in _data(runs)],
        "sequence views": [f"{d.sequence} ({sequence_shape(d.dataset, d.sequence)[0]} steps)" for d in _data(runs)],
    }
    warnings: list[str] = []
    for what, values in views.items():
        groups: dict[str, list[str]] = {}
        for run, value in zip(runs, values):
            groups.setdefault(value, []).append(run.path.name)
        if len(groups) > 1 and not warnings:
            listed = "; ".join(f"{value}: {', '.join(names)}" for value, names in groups.items())
            warnings.append(f"these runs are of different {what} ({listed}), drawn on the same axes")
    return warnings


def _data(runs: list[RunSummary]) -> list[DataConfig]:
    return [run.record.config.data for run in runs]


def figure_folder(runs: list[RunSummary]) -> Path:
    """Where the figure goes unless --out says: the folder that holds every run compared (runs/ for runs/a and
    runs/b). Runs with no folder in common but the file system's root: --out must say."""
    parents = [os.path.dirname(os.path.abspath(run.path)) for run in runs]
    common = Path(os.path.commonpath(parents))
    if common == Path(common.anchor):
        raise UserError(f"--out: these runs have no folder in common but {common}; give --out for {FIGURE}")
    here = Path.cwd()
    return common.relative_to(here) if common.is_relative_to(here) else common
