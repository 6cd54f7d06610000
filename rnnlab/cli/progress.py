"""The training progress bar, and the lines printed above it (each epoch, a resume, a stop requested); and the
bar of a long stack of images (``counting``).

The bar says which epoch it is in and what its loss averages; at 80 columns it keeps the bar, the step count and
the ETA and drops the figures. Everything else is printed through the bar's own console, so no line is ever
glued onto the bar's.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from rnnlab.cli.tables import console, err_console, number, pct, styled
from rnnlab.text import visible

BAR_MIN = 80  # what the description, a short bar, the step count and the ETA need


class FiguresColumn(ProgressColumn):
    """Loss and accuracy over the last steps, the rate and samples/s; left out where they would squeeze the bar."""

    def render(self, task: Task) -> Text:
        f = task.fields
        if "loss" not in f:
            return Text("")
        short = f"loss {number(f['loss'])} acc {100 * f['accuracy']:.1f}% (last {f['window']})"
        full = f"{short} lr {f['lr']:.0e} {f['sps']:,.0f}/s"
        fitting = [text for text in (full, short) if console.width >= BAR_MIN + len(text)]
        return Text(fitting[0] if fitting else "")


class RichReporter:
    """Progress bar with epoch k/N, the last steps' loss and accuracy, learning rate, samples/s and ETA."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            FiguresColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal and "pytest" in sys.modules,
            expand=False,
        )
        self.task: Any = None
        self.epochs = 0
        self.started = False

    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None:
        self.epochs = epochs
        self.progress.console.print(
            f"training {visible(description)}: {total_steps:,} steps. Each epoch's line: train loss and accuracy "
            "averaged over its batches, then validation on the held-out split.",
            highlight=False,
        )
        self.progress.start()
        self.started = True
        self.task = self.progress.add_task(f"epoch -/{epochs}", total=total_steps, completed=done_steps)

    def step(self, step: int, stats: dict[str, float]) -> None:
        self.progress.update(
            self.task,
            completed=step,
            description=f"epoch {int(stats['epoch'])}/{self.epochs}",
            loss=stats["loss"],
            accuracy=stats["accuracy"],
            window=int(stats["window"]),
            lr=stats["lr"],
            sps=stats["samples_per_s"],
        )

    def epoch(self, record: dict[str, Any], new_best: bool) -> None:
        if record["kind"] == "epoch":
            label = f"epoch {record['epoch'] + 1}/{self.epochs} (step {record['step']})"
        else:
            label = f"stopped at step {record['step']}"
        best = styled("  new best", "green") if new_best else ""
        skipped = record.get("skipped", 0)  # by --on-nan skip, in the whole run so far
        if skipped and not record["samples_per_s"]:  # every batch of this epoch skipped: there is no mean to show
            train = f"train: every batch skipped, the loss not finite ({skipped} so far)"
        else:
            train = f"train loss {number(record['train_loss'])} acc {pct(record['train_accuracy'])}"
            train += f" ({skipped} batches skipped so far)" if skipped else ""
        line = f"{label}: {train} | val loss {number(record['val_loss'])} acc {pct(record['val_accuracy'])} | "
        self.progress.console.print(line, f"{record['seconds']:.1f}s", best, sep="", highlight=False)

    def notice(self, message: str) -> None:
        self.progress.console.print(message, highlight=False, markup=False, soft_wrap=True)

    def finish(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False


@contextlib.contextmanager
def counting(total: int, least: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` items, where there are more than ``least`` (none for a few), gone when
    done; it leaves stdout alone (rich would otherwise route it through the bar, JSON and all)."""
    shown = total > least
    with Progress(
        console=err_console, transient=True, disable=not shown, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        task = bar.add_task("predicting", total=total)
        yield lambda n: bar.advance(task, n)
