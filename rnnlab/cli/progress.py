"""The training progress bar on the CLI's console (rnnlab.train.progress draws it), and the bar of a long stack
of images (``counting``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import Progress

from rnnlab.cli.tables import console, err_console
from rnnlab.train.progress import ProgressBar


class RichReporter(ProgressBar):
    """The training bar on the CLI's console (stdout, every name shown literally)."""

    def __init__(self) -> None:
        super().__init__(console)


@contextlib.contextmanager
def counting(total: int, least: int, what: str = "predicting") -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` items, where there are more than ``least`` (none for a few), gone when
    done, labelled ``what``; it leaves stdout alone (rich would otherwise route it through the bar, JSON and all)."""
    shown = total > least
    with Progress(
        console=err_console, transient=True, disable=not shown, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)
