"""What fit tells the world as it goes (Reporter) and what it ends with: the last and the best parameters, scored,
or a stop that says what was kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from rnnlab.errors import Stopped
from rnnlab.runs.best import last_rise
from rnnlab.runs.evaluation import EvalResult


class Reporter(Protocol):
    """What the loop tells the outside world (the CLI draws a progress bar from it)."""

    def doing(self, what: str) -> None: ...  # before the first step: what takes the time now
    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any], new_best: bool) -> None: ...
    def notice(self, message: str) -> None: ...
    def finish(self) -> None: ...


class NullReporter:
    def doing(self, what: str) -> None: ...
    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None: ...
    def step(self, step: int, stats: dict[str, float]) -> None: ...
    def epoch(self, record: dict[str, Any], new_best: bool) -> None: ...
    def notice(self, message: str) -> None: ...
    def finish(self) -> None: ...


class Interrupted(Stopped):
    """SIGINT/SIGTERM stopped the run; the message says what was kept and how to go on."""

    def __init__(self, signame: str, detail: str, step: int) -> None:
        super().__init__(f"by {signame} {detail}")
        self.exit_code = 143 if signame == "SIGTERM" else 130
        self.step = step


@dataclass(frozen=True)
class Scored:
    """A set of parameters and what it scores: the last (checkpoint.pt) or the best validation's (best.pt)."""

    which: str  # "last" or "best"
    epoch: int  # epochs completed when they were saved
    step: int
    val: EvalResult
    test: EvalResult


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps: int
    first_step: int  # the step this session began at (0, or where it resumed)
    seconds: float  # training in this session, per-epoch validation included
    eval_seconds: float  # the final scoring of the last and the best parameters
    history: list[dict[str, Any]]
    model: torch.nn.Module  # the trained model, as this process holds it
    last: Scored
    best: Scored
    stopped_early: str = ""  # why --patience ended the run, if it did

    @property
    def val(self) -> EvalResult:
        return self.last.val

    @property
    def test(self) -> EvalResult:
        return self.last.test

    @property
    def best_val_accuracy(self) -> float:
        return self.best.val.accuracy


def patience_spent(history: list[dict[str, Any]], patience: int) -> str:
    """Why --patience ends the run now ("" while it goes on): validation accuracy has not risen for ``patience``
    epochs (a tie is not a rise; best.pt holds the latest of the tied, runs.best)."""
    epochs = [r for r in history if r["kind"] == "epoch"]
    rose = last_rise(epochs)
    if not patience or rose is None:
        return ""
    waited = len(epochs) - 1 - rose
    if waited < patience:
        return ""
    top = 100 * epochs[rose]["val_accuracy"]
    return (
        f"stopped early after epoch {len(epochs)}: validation accuracy has not risen above {top:.2f}% (reached "
        f"after epoch {rose + 1}) for {waited} epochs (--patience {patience}); best.pt holds the parameters of the "
        "latest validation at the highest accuracy"
    )
