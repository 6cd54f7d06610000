"""The tables and consoles rnnlab prints with rich (the training progress bar is in cli.progress).

Every string these consoles print is shown as written: rich's markup is never parsed (a class name `[/]` or a file
named `[red]x` is text, not a style) and control characters are made visible (``text.visible``), because the names
they show come from files and folders someone else may have made. Our own styles are ``Text`` objects (``styled``).
"""

from __future__ import annotations

import os
import sys
from copy import copy
from typing import TYPE_CHECKING, Any

from rich import box
from rich import table as rich_table
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from rnnlab.runs.best import RULE
from rnnlab.text import human_bytes, number, pct, visible

if TYPE_CHECKING:
    from rnnlab.runs.evaluation import EvalResult
    from rnnlab.train.loop import TrainResult

# Piped or captured output has no terminal width; rich would assume 80 columns and squeeze the tables.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140


class LiteralConsole(Console):
    """A console that takes every string literally: no markup, no emoji codes, control characters made visible.
    Line breaks are kept for the tables' own two-line headings and captions, so a name put into a table goes
    through ``visible`` first (a file named 'a\\nrnnlab: error: ...' must not forge a line)."""

    def render_str(self, text: str, **how: Any) -> Text:
        how["markup"] = how["emoji"] = False  # `[/]` and `:thumbs_up:` in a name are text
        return super().render_str(visible(text, keep="\n"), **how)


def styled(text: str, style: str) -> Text:
    """``text`` in ``style`` (a rich style: "green", "bold", "dim"), as written."""
    return Text(visible(text, keep="\n"), style=style)


console = LiteralConsole(width=_WIDTH)
err_console = LiteralConsole(stderr=True, highlight=False, soft_wrap=True)


class Table(rich_table.Table):
    """A rich table whose title and caption may be wider than its columns: rich wraps them to the table's width,
    so a two-column table's title read as a 20-column stack of words. One longer than the table is set at the
    console's width instead, from the table's left edge."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        bare = copy(self)
        bare.title = bare.caption = None
        width = min(Measurement.get(console, options, bare).maximum, options.max_width)
        lines = [line for text in (self.title, self.caption) if text for line in str(text).splitlines()]
        longest = max((cell_len(console.render_str(line).plain) for line in lines), default=0)
        if longest <= width:
            yield from super().__rich_console__(console, options)
            return
        wide = options.update(width=options.max_width, justify="default", highlight=False)
        if self.title:
            yield from console.render(console.render_str(str(self.title), style="table.title"), wide)
        yield from bare.__rich_console__(console, options)
        if self.caption:
            yield from console.render(console.render_str(str(self.caption), style="table.caption"), wide)


# A long listing's look: no vertical lines (they took 8 of 80 columns), two spaces between columns, a rule under
# the headings: runs, compare-runs and gradcheck fit 80 columns with every name whole
LISTING: dict[str, Any] = {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False, "padding": (0, 0, 0, 1)}


def error_line(message: str, label: str = "error") -> None:
    """One line on stderr, `rnnlab: error: ...`: how every error a user can cause ends."""
    flat = message.replace("\n", " ").replace("\t", " ")  # our own line breaks; a name's other controls are escaped
    err_console.print(f"rnnlab: {label}: {' '.join(visible(flat).split())}", highlight=False)


def steps(n: int) -> str:
    """'1 step', '1,200 steps'."""
    return f"{n:,} step" + ("" if n == 1 else "s")


def results_table(result: TrainResult) -> Table:
    """The last and the best parameters of a run side by side, each with its epochs, step, validation and test
    scores: one column each, so that every heading reads whole at 80 columns."""
    table = Table(title=f"results: {visible(result.run_dir)}")
    table.add_column("")
    table.add_column("last (checkpoint.pt)", justify="right")
    table.add_column("best validation (best.pt)", justify="right")
    pair = (result.last, result.best)
    table.add_row("epochs completed", *(str(s.epoch) for s in pair))
    table.add_row("step", *(f"{s.step:,}" for s in pair))
    table.add_row("val accuracy", *(pct(s.val.accuracy) for s in pair))
    table.add_row("val loss", *(number(s.val.loss) for s in pair))
    table.add_row("test accuracy", *(pct(s.test.accuracy) for s in pair))
    table.add_row("test loss", *(number(s.test.loss) for s in pair))
    session = result.steps - result.first_step
    resumed = f" (resumed at step {result.first_step:,})" if result.first_step else ""
    table.caption = (
        f"{steps(session)} in this session{resumed}, {result.steps:,} in all: {result.seconds:.1f}s of training "
        f"(validation included) and {result.eval_seconds:.1f}s of final scoring. best.pt holds {RULE}; "
        "`rnnlab eval RUN` scores it" + (f"; {result.stopped_early}" if result.stopped_early else "") + "."
    )
    return table


def eval_table(source: str, which: str, engine: str, result: EvalResult, plain: float | None = None) -> Table:
    """The per-class accuracies; ``plain``: a zoneout model's accuracy without zoneout's evaluation rule."""
    table = Table(title=f"eval: {visible(source)} ({visible(which)}; engine {engine})")
    table.add_column("class", justify="right")
    table.add_column("accuracy", justify="right")
    for k, acc in enumerate(result.per_class_accuracy):
        table.add_row(str(k), pct(acc))
    table.add_section()
    table.add_row("all", pct(result.accuracy))
    table.caption = (
        f"loss {number(result.loss)} over {result.samples:,} samples; {result.samples_per_s:,.0f} samples/s; "
        f"peak memory {human_bytes(result.peak_memory_bytes)} ({result.peak_memory_kind})"
    )
    if plain is not None:
        table.caption += (
            f"\nwith zoneout's evaluation rule (each step mixes in its share of the previous state); without it, "
            f"as PyTorch's own layers compute the same weights, {pct(plain)}"
        )
    return table


def _timed(row: dict[str, Any], key: str) -> str | Text:
    """'12.34' over '±8%': the median and, where the row has them, half the range of its repeats, as a share."""
    spread, ms = row.get(f"{key}_spread"), row[key]
    shown = _short(ms)
    if not spread or not ms:
        return shown
    return Text.assemble(f"{shown}\n", (f"±{50 * (spread[1] - spread[0]) / ms:.0f}%", "dim"))


def _short(x: float) -> str:
    """12.34, 12,345 or 1.2e+05: at most 7 wide, so that compare-cells' table fits 80 columns."""
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:,.0f}" if abs(x) < 1e5 else f"{x:.1e}"


def _sci(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def compare_table(rows: list[dict[str, Any]], title: str) -> Table:
    """One row per engine and layout. A kernel variant's description and why an engine did not run are notes under
    the table, each said once and marked on its engine (triton¹): in a cell, a sentence wrapped a word a line."""
    table = Table(title=title)
    # two-line headings, and an engine column that may wrap: the table fits an 80-column terminal whole
    columns = ("max|Δ|\nout", "max|Δ|\ngrad", "fwd\nms", "fwd+bwd\nms", "×\ncudnn", "memory")
    table.add_column("engine", min_width=8, overflow="fold")
    table.add_column("layout", min_width=6, no_wrap=True)
    for col in columns:
        table.add_column(col, justify="right", no_wrap=True)
    notes: dict[str, int] = {}

    def engine(r: dict[str, Any], note: str) -> Text:
        if not note:
            return Text(visible(r["engine"]))
        mark = str(notes.setdefault(visible(note), len(notes) + 1)).translate(SUPERSCRIPT)
        return Text.assemble(visible(r["engine"]), (mark, "yellow" if r["status"] != "ok" else "dim"))

    for r in rows:
        if r["status"] != "ok":
            why = r["status"].partition(": ")[2]  # 'unavailable: needs a CUDA device': said in a note
            table.add_row(engine(r, r["status"] if why else ""), r["layout"], styled("not run", "yellow"), *[""] * 5)
            continue
        ratio = r.get("ratio_to_cudnn")
        table.add_row(
            engine(r, r.get("variant") or ""),
            r["layout"],
            _sci(r["max_abs_diff_output"]),
            _sci(r["max_abs_diff_grad"]),
            _timed(r, "fwd_ms"),
            _timed(r, "fwdbwd_ms"),
            "-" if ratio is None else _short(ratio),
            human_bytes(r["peak_memory_bytes"]).replace(" ", "\n"),  # '29.5' over 'KiB'
        )
    kinds = sorted({r["memory_kind"] for r in rows if r["status"] == "ok"})
    table.caption = (
        (
            "differences against the unrolled engine in float64 on the same parameters; times are medians of repeats "
            "the engines take in turns (± half their range)"
        )
        + (f"; memory = {', '.join(kinds)}" if kinds else "")
        + "".join(f"\n{str(k).translate(SUPERSCRIPT)} {note}" for note, k in notes.items())
    )
    return table


def _stacked(text: str) -> str:
    """What a gradcheck row names, a line a part, so that its table fits 80 columns: 'zoneout, recurrent-dropout'
    a regulariser a line, a parameter 'rnns.1.weight_hh_l0_reverse' as its module over its name."""
    if ", " in text:
        return text.replace(", ", ",\n")
    module, _, name = text.rpartition(".")
    return f"{module}\n{name}" if module else text


def gradcheck_table(rows: list[Any], engine: str) -> Table:
    table = Table(title=f"{engine}: gradients against autograd and finite differences (float64)", **LISTING)
    heads = ("cell\nlayout", "regularisers", "parameter", f"max |{engine}\n- autograd|", "ok")
    for col in heads:
        table.add_column(col, justify="right" if col.startswith("max") else "left", no_wrap=True)
    for r in rows:
        diff = "finite\ndifferences" if r.name == "gradcheck" else f"{r.max_abs_diff:.2e}"
        table.add_row(f"{r.cell}\n{r.layout}", _stacked(r.regularisers), _stacked(r.name), diff, _yes(r.ok))
    return table


def _yes(ok: bool) -> Text:
    return styled("yes", "green") if ok else styled("NO", "red")


def gradcheck_summary(rows: list[Any], engine: str) -> Table:
    """One row per cell and layout: finite differences passed or not, and the worst parameter (--verbose: all)."""
    table = Table(title=f"{engine}: gradients in float64", caption="every parameter's row: --verbose", **LISTING)
    heads = ("cell\nlayout", "regularisers", "finite\ndifferences", "parameters", "worst |diff|\nto autograd", "ok")
    for col in heads:
        table.add_column(col, justify="right" if col.startswith("param") else "left", no_wrap=True)
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for r in rows:
        groups.setdefault((r.cell, r.regularisers, r.layout), []).append(r)
    for (cell, regularisers, layout), group in groups.items():
        fd = [r for r in group if r.name == "gradcheck"]
        params = [r for r in group if r.name != "gradcheck"]
        worst = max(params, key=lambda r: r.max_abs_diff)
        ok = all(r.ok for r in group)
        table.add_row(
            f"{cell}\n{layout}",
            _stacked(regularisers),
            "passed" if all(r.ok for r in fd) else styled("FAILED", "red"),
            str(len(params)),
            f"{worst.max_abs_diff:.2e}\n{_stacked(worst.name)}",
            _yes(ok),
        )
    return table
