"""The training progress bar: loss, accuracy, learning rate, samples/s and ETA, with one line per epoch above it."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rnnlab.cli.tables import console, pct


class RichReporter:
    """Progress bar with loss, accuracy, learning rate, samples/s and ETA; one line per epoch above it."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2f}%  lr {task.fields[lr]:.1e}  "
                "{task.fields[sps]:6.0f} samples/s"
            ),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal and "pytest" in sys.modules,
        )
        self.task: Any = None

    def start(self, total_steps: int, done_steps: int, description: str) -> None:
        self.progress.start()
        self.task = self.progress.add_task(
            description, total=total_steps, completed=done_steps, loss=0.0, acc=0.0, lr=0.0, sps=0.0
        )

    def step(self, step: int, stats: dict[str, float]) -> None:
        self.progress.update(
            self.task,
            completed=step,
            loss=stats["loss"],
            acc=100 * stats["accuracy"],
            lr=stats["lr"],
            sps=stats["samples_per_s"],
        )

    def epoch(self, record: dict[str, Any]) -> None:
        label = f"epoch {record['epoch'] + 1}" if record["kind"] == "epoch" else f"stopped at step {record['step']}"
        self.progress.console.print(
            f"{label:>16}  step {record['step']:>6}  "
            f"train loss {record['train_loss']:.4f} acc {pct(record['train_accuracy'])}"
            f"  val loss {record['val_loss']:.4f} acc {pct(record['val_accuracy'])}  {record['seconds']:.1f}s"
        )

    def finish(self) -> None:
        self.progress.stop()
