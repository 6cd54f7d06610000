"""The tables of many runs: `rnnlab runs` (run_list_table) and `rnnlab compare-runs` (runs_table).

Each run reads as its folder's name, whole, and under it the flags in which it differs from the others, wrapped
only between flags (never between a flag and its value). The run column is the one that gives way: the others are
set (two-line cells, no vertical lines), so it takes all the width they leave, which at 80 columns holds a name of
30-odd characters and every flag whole; runs that differ in one setting still read as that setting. A column
whose value is the same for every run (status, engine, epochs, steps) leaves the table and is said once, in the
caption.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from rnnlab.cli.tables import LISTING, Table, steps
from rnnlab.text import pct, visible

STATE_STYLE = {"running": "cyan", "finished": "green", "stopped": "yellow", "failed": "red"}


class RunName:
    """A run's name (bold) and, on lines of their own, its flags: as many on a line as fit, each flag whole."""

    def __init__(self, name: str, flags: list[str]) -> None:
        self.name = visible(name)
        self.flags = [visible(f) for f in flags]

    @property
    def narrowest(self) -> int:
        """The width that holds the name and every flag whole."""
        return max(cell_len(text) for text in (self.name, *self.flags))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.narrowest, max(cell_len(self.name), cell_len(" ".join(self.flags))))

    def lines(self, width: int) -> list[str]:
        """The flags packed into lines of at most ``width`` (a flag wider than that alone on its line)."""
        packed: list[str] = []
        for flag in self.flags:
            if packed and cell_len(packed[-1]) + 1 + cell_len(flag) <= width:
                packed[-1] += f" {flag}"
            else:
                packed.append(flag)
        return packed

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.name, style="bold", overflow="fold")
        for line in self.lines(options.max_width):
            yield Text(line, overflow="fold")


def run_names(rows: list[dict[str, Any]]) -> list[RunName]:
    return [RunName(r["name"], r["flags"]) for r in rows]


def best_validation(row: dict[str, Any], sep: str = " ") -> str:
    """'97.50% (epoch 3)', or '(step 40)' where no epoch finished, or '-' before any validation; ``sep`` between."""
    if row["best_val_accuracy"] is None:
        return "-"
    when = f"epoch {row['best_epoch']}" if row["best_epoch"] else f"step {row['best_step']}"
    return f"{pct(row['best_val_accuracy'])}{sep}({when})"


def shared(rows: list[dict[str, Any]], said: dict[str, Callable[[Any], str]]) -> dict[str, str]:
    """Of the columns ``said`` names (key -> how the caption says its value), those whose value is the same in every
    row, as the caption says them."""
    return {key: say(rows[0][key]) for key, say in said.items() if len({repr(r[key]) for r in rows}) == 1}


def _common_line(rows: list[dict[str, Any]], same: dict[str, str]) -> str:
    if not same:
        return ""
    return f"{'every run' if len(rows) > 1 else 'the run'}: {'; '.join(same.values())}\n"


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _started(at: str | None) -> str:
    """'11-23' over '15:49': the year says little."""
    return at.replace("T", " ")[5:16].replace(" ", "\n") if at else "-"


def _table(title: str, caption: str) -> Table:
    """A table whose run column takes the width the others leave (each of them no_wrap), in a listing's look."""
    table = Table(title=title, caption=caption, **LISTING)
    table.add_column("run", min_width=3)
    return table


def runs_table(rows: list[dict[str, Any]]) -> Table:
    """compare-runs: epochs, steps, best and last validation, test accuracy of the last and the best, s per epoch."""
    same = shared(rows, {"epochs": _epochs, "steps": steps})
    names = run_names(rows)
    table = _table(
        "runs compared",
        _common_line(rows, same) + "under each run's name, the flags in which it differs from the others; val acc: "
        "validation accuracy; test: of the last parameters, and of best.pt's (the best validation)",
    )
    counts = [key for key in ("epochs", "steps") if key not in same]  # one column, one over the other
    columns: dict[str, Callable[[dict[str, Any]], str]] = {
        "\n".join(counts): lambda r: "\n".join(f"{r[key]:,}" for key in counts),
        "best\nval acc": lambda r: best_validation(r, "\n"),
        "last\nval acc": lambda r: pct(r["last_val_accuracy"]),
        "test\n(last)": lambda r: pct(r["test_accuracy"]),
        "test\n(best)": lambda r: pct(r["best_test_accuracy"]),
        "s per\nepoch": lambda r: "-" if r["seconds_per_epoch"] is None else f"{r['seconds_per_epoch']:.1f}",
    }
    shown = {head: cell for head, cell in columns.items() if head}
    for head in shown:
        table.add_column(head, justify="right", no_wrap=True)
    for name, r in zip(names, rows):
        table.add_row(name, *(cell(r) for cell in shown.values()))
    return table


def run_list_table(rows: list[dict[str, Any]], folder: str) -> Table:
    """runs: status, epochs done, best validation, test accuracy of the last and the best, when it started."""
    said: dict[str, Callable[[Any], str]] = {
        "status": str,
        "engine": lambda e: f"engine {e}",
        "epochs_planned": lambda n: f"{_epochs(n)} planned",
    }
    same = shared(rows, said)
    names = run_names(rows)
    table = _table(
        f"runs in {visible(folder)}",
        _common_line(rows, same) + "under each run's name, the flags in which it differs from the others; best val "
        "acc: the best validation accuracy; test: of the last parameters, and of best.pt's",
    )
    for col in ("epochs\ndone", "best\nval acc", "test\n(last)", "test\n(best)"):
        table.add_column(col, justify="right", no_wrap=True)
    status = "status" not in same  # then over the start, which takes one line: 11 columns, not 8 more
    table.add_column("status\nstarted" if status else "started", no_wrap=True)
    for name, r in zip(names, rows):
        state = r["status"]
        table.add_row(
            name,
            str(r["epochs"]),
            best_validation(r, "\n"),
            pct(r["test_accuracy"]),
            pct(r["best_test_accuracy"]),
            Text.assemble((state, STATE_STYLE.get(state, "white")), "\n", _started(r["started"]).replace("\n", " "))
            if status
            else _started(r["started"]),
        )
    return table
