"""--help as rnnlab draws it: typer's panels, with every option's names on the left and its help beside them.

Typer's own layout gives an option four columns (name, short name, `--no-` name, type) before its help; at 80
columns `train --help` squeezed the help to a word or two a line (294 lines) and cut `--no-reuse-cpu-memory` and
a long choice list with an ellipsis. Here an option's names and value take one column, one name a line
(`--bidirectional` over `--no-bidirectional`), as wide as the widest of them needs, and its help the rest, so
that every command's help reads whole at 80 columns. Everything shown comes from click's public help records
(``get_help_record``: the names, the value's metavar, the help with its default), so a typer release that draws
its own help differently changes nothing here.
"""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

NAMES_MAX = 30  # a wider name-and-value wraps at its space (`--dtype` over `float32|float64|bfloat16`)


def _markup(text: str) -> Text:
    """Help text as typer's rich markup mode reads it: `\\[default: x]` is the text [default: x]."""
    return Text.from_markup(text, emoji=False)


def _names(record: str) -> Text:
    """'--bidirectional / --no-bidirectional' as two lines; option names bold, the value's metavar plain."""
    lines = Text()
    for k, part in enumerate(record.split(" / ")):
        if k:
            lines.append("\n")
        for j, word in enumerate(part.split(" ")):
            lines.append(" " if j else "")
            lines.append(word, style="bold cyan" if word.startswith("-") else "yellow")
    return lines


class Wrapped:
    """Help text wrapped at spaces, except inside a bracketed default: `[default: 5; digits: 40]` moves to the next
    line whole rather than leave `digits:` on one line and `40]` on the next (where the bracket fits a line)."""

    KEEP = "\ue000"  # stands for a space that must not break while rich wraps the text

    def __init__(self, text: Text) -> None:
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        kept = self.text.copy()
        plain = kept.plain
        for match in re.finditer(r"\[default: [^]]*\]", plain):
            if cell_len(match.group()) <= width:
                plain = plain[: match.start()] + match.group().replace(" ", self.KEEP) + plain[match.end() :]
        kept.plain = plain  # the same length: the styles stay where they were
        for line in kept.wrap(console, width):
            line.plain = line.plain.replace(self.KEEP, " ")
            yield line


def _help(param: Any, record: str) -> Text:
    """The parameter's own help (rich markup, as written) and what click adds after it ([default: ...]), as text."""
    own = param.help or ""
    if not record.startswith(own):  # click words the record itself: show it as it is
        return Text(record)
    text = _markup(own)
    added = record[len(own) :].strip()
    if added:
        text.append((" " if own else "") + added, style="dim")
    return text


Rows = list[tuple[Text, Text]]


def _panel(title: str, rows: Rows, names_width: int) -> Panel:
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column(width=names_width)
    table.add_column(ratio=1)
    for names, text in rows:
        table.add_row(names, Wrapped(text))
    return Panel(table, title=title, title_align="left", border_style="dim", box=box.ROUNDED)


def _width(panels: dict[str, Rows]) -> int:
    """One names column for every panel, so that the helps line up: the widest name line, up to NAMES_MAX."""
    lines = [line for rows in panels.values() for names, _ in rows for line in names.plain.splitlines()]
    return min(max(map(cell_len, lines), default=1), NAMES_MAX)


def _panels(command: Any, ctx: Any) -> dict[str, Rows]:
    """Arguments first, then Options, then each panel the options name (rich_help_panel), in their order; a
    group's commands last."""
    grouped: dict[str, Rows] = {"Arguments": [], "Options": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        default = "Arguments" if param.param_type_name == "argument" else "Options"
        title = getattr(param, "rich_help_panel", None) or default
        grouped.setdefault(title, []).append((_names(record[0]), _help(param, record[1])))
    for name in command.list_commands(ctx) if hasattr(command, "list_commands") else ():
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            row = (Text(name, style="bold cyan"), _markup(sub.get_short_help_str(limit=10**6)))
            grouped.setdefault("Commands", []).append(row)
    return {title: rows for title, rows in grouped.items() if rows}


def print_help(command: Any, ctx: Any) -> None:
    """The usage line, the command's help, and its panels of arguments, options and (a group's) commands."""
    parts: list[RenderableType] = [Padding(Text(command.get_usage(ctx), style="bold"), 1)]
    if command.help:
        parts.append(Padding(_markup(command.help), (0, 1, 1, 1)))
    panels = _panels(command, ctx)
    width = _width(panels)
    parts += [_panel(title, rows, width) for title, rows in panels.items()]
    if command.epilog:
        parts.append(Padding(_markup(command.epilog), 1))
    Console(highlight=False).print(Group(*parts))
