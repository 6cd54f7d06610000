"""What training shows as it goes, from the command line and from ``rnnlab.fit``: what it is doing before the
first step (reading the data, building the model), then a progress bar with the lines printed above it (each
epoch, a resume, a stop requested, a busy CPU).

The bar says which epoch it is in and what its loss averages; at 80 columns it keeps the bar, the step count and
the ETA and drops the figures. Everything else is printed through the bar's own console, so no line is ever
glued onto the bar's.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.status import Status
from rich.text import Text

from rnnlab.text import number, pct, visible

BAR_MIN = 80  # what the description, a short bar, the step count and the ETA need


class FiguresColumn(ProgressColumn):
    """Loss and accuracy over the last steps, the rate and samples/s; left out where they would squeeze the bar."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def render(self, task: Task) -> Text:
        f = task.fields
        if "loss" not in f:
            return Text("")
        short = f"loss {number(f['loss'])} acc {100 * f['accuracy']:.1f}% (last {f['window']})"
        full = f"{short} lr {f['lr']:.0e} {f['sps']:,.0f}/s"
        fitting = [text for text in (full, short) if self.console.width >= BAR_MIN + len(text)]
        return Text(fitting[0] if fitting else "")


def epoch_parts(record: dict[str, Any], epochs: int) -> list[str]:
    """`epoch 3/40 (step 123):`, `train loss ... acc ...`, `val loss ... acc ...`, `1.2s`: the pieces of an epoch's
    line, which wraps only between them."""
    if record["kind"] == "epoch":
        label = f"epoch {record['epoch'] + 1}/{epochs} (step {record['step']}):"
    else:
        label = f"stopped at step {record['step']}:"
    skipped = record.get("skipped", 0)  # by --on-nan skip, in the whole run so far
    if skipped and not record["samples_per_s"]:  # every batch of this epoch skipped: there is no mean to show
        train = f"train: every batch skipped, the loss not finite ({skipped} so far)"
    else:
        train = f"train loss {number(record['train_loss'])} acc {pct(record['train_accuracy'])}"
        train += f" ({skipped} batches skipped so far)" if skipped else ""
    val = f"val loss {number(record['val_loss'])} acc {pct(record['val_accuracy'])}"
    return [label, train, val, f"{record['seconds']:.1f}s"]


def packed(parts: list[str], width: int, seps: tuple[str, ...] = (" ", " | ", " | ")) -> str:
    """``parts`` on one line, joined by ``seps``; where that is wider than ``width``, wrapped between parts, each
    line after the first indented."""
    line, lines = parts[0], []
    for sep, part in zip(seps, parts[1:]):
        if len(line) + len(sep) + len(part) <= width:
            line += sep + part
        else:
            lines.append(line.rstrip(" |") if sep.strip() else line)
            line = "  " + part
    return "\n".join([*lines, line])


class ProgressBar:
    """A Reporter: what it is doing before the first step, then a bar with epoch k/N, the last steps' loss and
    accuracy, learning rate, samples/s and ETA, and a line per epoch. ``console``: where it draws (default: a
    console of its own on stdout); names from the run's files are shown literally."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, emoji=False)
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            FiguresColumn(self.console),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal and "pytest" in sys.modules,
            expand=False,
        )
        self.status: Status | None = None
        self.task: Any = None
        self.epochs = 0
        self.started = False

    def doing(self, what: str) -> None:
        """A line that says what happens now, replaced by the next (a spinner in a terminal; nothing elsewhere)."""
        if self.status is None:
            self.status = Status(Text(visible(what)), console=self.console)
            self.status.start()
        else:
            self.status.update(Text(visible(what)))

    def _done(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def start(self, total_steps: int, done_steps: int, epochs: int, description: str) -> None:
        self._done()
        self.epochs = epochs
        self.console.print(
            Text(
                f"training {visible(description)}: {total_steps:,} steps. Each epoch's line: train loss and accuracy "
                "averaged over its batches, then validation on the held-out split."
            )
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
        parts = epoch_parts(record, self.epochs)
        if new_best:
            parts[-1] += "  new best"
        text = packed(parts, self.console.width)
        line = Text(text)
        if new_best:
            line.stylize("green", len(text) - len("new best"))
        self.console.print(line)

    def notice(self, message: str) -> None:
        self._done()
        self.console.print(Text(visible(message, keep="\n")))  # wrapped between words, as the console is wide

    def finish(self) -> None:
        self._done()
        if self.started:
            self.progress.stop()
            self.started = False
