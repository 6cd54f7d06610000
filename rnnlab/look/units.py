"""The order in which a layer's units are drawn, and the colour range that shows the typical unit.

Units in storage order read as a barcode: neighbours share nothing. Sorted by *when* each unit's hidden state
changes most, a layer's units form a band that follows the sequence: the units that react to the first strokes
on top, those that react last at the bottom. One order per direction, computed from h and used for its cell
state too, so that row k is the same unit in both. A gate's units are drawn by their level instead (level_order).
Legend: T time steps, H hidden units.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ORDER_RULE = "sorted by the step at which h changes most"  # what change_order does, for figures to say
LEVEL_RULE = "of each gate sorted by their mean over the steps, lowest first (each panel its own order)"
RANGE_PERCENTILE = 99.0


def change_order(
    h: np.ndarray,  # (T, H): the hidden state after each step, in position order
    reverse: bool = False,  # a backward direction: it reads from position T down to 1
) -> np.ndarray:  # (H,): unit indices, the one drawn first first
    """Units sorted by the step of their largest change |h_t - h_(t-1)| (the state before the first step is 0),
    counted in the direction's own reading order; units whose largest change is at the same step by its sign
    (rises first), then by its size, largest first; then by index (the sort is stable)."""
    read = h[::-1] if reverse else h
    change = np.diff(read, axis=0, prepend=np.zeros((1, read.shape[1]), dtype=read.dtype))  # (T, H)
    when = np.abs(change).argmax(axis=0)
    at = change[when, np.arange(read.shape[1])]
    return np.lexsort((-np.abs(at), at < 0, when))


def level_order(
    values: np.ndarray,  # (T, H): one gate's activation after each step
) -> np.ndarray:  # (H,): unit indices, the lowest mean first
    """A gate's units by their mean over the steps. Each unit of a gate sits at a level of its own (a forget gate
    near 1 remembers, near 0 forgets); side by side in any other order those levels read as a barcode, and the
    changes over the steps, which are what the figure is for, drown in them."""
    return np.argsort(values.mean(axis=0), kind="stable")


def robust_limit(values: Iterable[np.ndarray], percentile: float = RANGE_PERCENTILE) -> float:
    """The ``percentile`` of |value| over every array: a symmetric colour range that a few large units do not
    set (an LSTM's cell state reaches +-10 where most units stay within +-2). Never 0."""
    flat = np.concatenate([np.abs(np.asarray(v, dtype=np.float64)).reshape(-1) for v in values])
    if not flat.size:
        return 1.0
    limit = float(np.percentile(flat, percentile))
    return limit if limit > 0 else float(flat.max()) or 1.0
