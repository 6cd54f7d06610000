"""`rnnlab compare-runs`: several run folders side by side, labelled by the settings in which they differ.

Tuning a recipe means reading many runs that differ in one or two flags; the label of each run is exactly those
flags (--init identity --chrono 784), so a figure or table needs no key on the side.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.runs.listing import RunSummary, labelled, load_run


def load_runs(paths: list[Path]) -> tuple[list[RunSummary], list[str]]:
    """The runs that can be compared, each labelled, and why each other one was left out (one that cannot be read,
    or that has not finished an epoch, has nothing to draw). None left: the reasons, as the error."""
    kept, left_out = [], []
    for path in paths:
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
        raise UserError("; ".join(left_out))
    return labelled(kept), [f"{reason}; left out" for reason in left_out]
