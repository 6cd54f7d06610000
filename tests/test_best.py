"""best.pt's rule: the highest validation accuracy, the latest of equal ones; --patience counts from the rise."""

from __future__ import annotations

from rnnlab.runs.best import RULE, best_index, is_best, last_rise


def _v(*accuracies: float) -> list[dict[str, float]]:
    return [{"val_accuracy": a} for a in accuracies]


def test_of_equal_accuracies_the_latest_holds_best_pt() -> None:
    assert best_index(_v(0.5, 0.9, 0.7, 0.9, 0.8)) == 3
    assert best_index(_v(0.9, 0.5)) == 0 and best_index([]) is None
    assert is_best(0.9, 0.9) and not is_best(0.89, 0.9) and is_best(0.0, -1.0)  # -1: none yet
    assert "latest of equal" in RULE


def test_patience_counts_from_the_first_to_reach_the_top() -> None:
    assert last_rise(_v(0.5, 0.9, 0.7, 0.9, 0.8)) == 1
    assert last_rise(_v(0.5, 0.5, 0.5)) == 0 and last_rise([]) is None
