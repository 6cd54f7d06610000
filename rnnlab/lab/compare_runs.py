"""`rnnlab compare-runs`: several run folders side by side, labelled by the settings in which they differ.

Tuning a recipe means reading many runs that differ in one or two flags; the label of each run is exactly those
flags (--init identity --chrono 784), so a figure or table needs no key on the side.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.runs.listing import RunSummary, labelled, load_run


def load_runs(paths: list[Path]) -> list[RunSummary]:
    """The runs, each labelled; a run that has not finished an epoch has nothing to draw."""
    runs = [load_run(p) for p in paths]
    for run in runs:
        if not run.validations:
            raise UserError(f"RUN: {run.path} has not finished an epoch yet; nothing to compare")
    return labelled(runs)
