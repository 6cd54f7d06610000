"""Which validation best.pt holds: the highest validation accuracy, and of equal ones the latest.

On a small validation set many epochs tie (digits' 144 samples score in steps of 0.69%), and the first to reach
the top is an early one; the latest of them has trained longest. Over the digits defaults' seeds 0-4 the latest
scored 97.71% on test on average, the earliest 97.66%, the lowest validation loss 97.55% (docs/BENCHMARKS.md).
One rule for the trainer, its results and every listing of runs; --patience counts epochs since the accuracy
last rose (a tie is not a rise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RULE = "the highest validation accuracy, the latest of equal ones"


def is_best(accuracy: float, best: float) -> bool:
    """Whether a validation of ``accuracy`` takes best.pt from one of ``best``."""
    return accuracy >= best


def _tops(validations: Sequence[dict[str, Any]]) -> list[int]:
    """The indices of the validations at the highest accuracy, in order."""
    if not validations:
        return []
    top = max(record["val_accuracy"] for record in validations)
    return [k for k, record in enumerate(validations) if record["val_accuracy"] == top]


def best_index(validations: Sequence[dict[str, Any]]) -> int | None:
    """The index of best.pt's validation among ``validations`` (records with val_accuracy), None if there are none:
    the latest at the highest accuracy, as is_best keeps it."""
    tops = _tops(validations)
    return tops[-1] if tops else None


def last_rise(validations: Sequence[dict[str, Any]]) -> int | None:
    """The index of the validation that first reached the highest accuracy (what --patience counts from)."""
    tops = _tops(validations)
    return tops[0] if tops else None
