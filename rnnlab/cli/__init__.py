"""The `rnnlab` command line. Thin: parse options -> build configs -> call the library -> draw the result.

The commands live one group per module (training, lab, look, export, playground) and are merged here; none of them
imports this module, so there is no cycle. Nothing here or there imports torch before a command runs: `rnnlab --help`
is fast.
Errors a user can cause end in one line on stderr and exit code 2 (UserError, and Typer's own usage errors).
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

import rnnlab
from rnnlab.cli import export, lab, look, playground, training
from rnnlab.cli.tables import error_line
from rnnlab.cli.typer_adapt import CLICK_EXCEPTION, Command, Group, click_message, usage_message
from rnnlab.errors import CTRL_C, Stopped, UserError
from rnnlab.text import os_error


class OneLineErrors(Group):
    """Every error a user can cause becomes `rnnlab: error: ...` on one line, exit code 2, no traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args, prog_name, complete_var, standalone_mode=False, windows_expand_args=windows_expand_args, **extra
            )
        except CLICK_EXCEPTION as exc:
            ctx = getattr(exc, "ctx", None)
            if not click_message(exc):  # `rnnlab` alone: the help was the answer, there is no error to add
                sys.exit(getattr(exc, "exit_code", 2))
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _fail(f"{usage_message(exc)}{hint}", getattr(exc, "exit_code", 2))
        except UserError as exc:
            if isinstance(exc, Stopped):  # a further Ctrl-C while exiting must not end in a traceback
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            _fail(str(exc), exc.exit_code, exc.label)
        except BrokenPipeError:  # `rnnlab ... | head`: the reader has gone, and so has anywhere to say so
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:  # a path the file system refuses (a name too long, a folder it cannot make)
            _fail(os_error(exc), 2)
        except Exception as exc:  # typer's Abort (Ctrl-C at a prompt) has no common base across versions
            if type(exc).__name__ != "Abort":
                raise
            _fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        """Ctrl-C inside a command says so in one line; typer would otherwise exit 130 in silence."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Stopped(CTRL_C) from None


def _fail(message: str, code: int, label: str = "error") -> None:
    error_line(message, label)
    sys.exit(code)


def _version(show: bool) -> None:
    from importlib.metadata import PackageNotFoundError, version  # here: 20 ms that --help need not pay

    if show:
        try:
            torch = f", torch {version('torch')}"
        except PackageNotFoundError:
            torch = ""
        print(f"rnnlab {rnnlab.__version__}{torch}")
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train, compare and look inside recurrent networks (RNN, LSTM, GRU) that read images as sequences.",
)


@app.callback()
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print rnnlab's and torch's versions.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Train, compare and look inside recurrent networks (RNN, LSTM, GRU) that read images as sequences."""


def _reflowed(doc: str) -> str:
    """A docstring as help: its paragraphs each one line (rich would keep the source's line breaks and break
    sentences mid-line in a terminal of another width)."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _summary(help_text: str) -> str:
    """The command list's line: the first sentence."""
    first = help_text.split("\n\n")[0]
    end = first.find(". ")
    return first if end < 0 else first[: end + 1]


for group in (training, lab, look, export, playground):
    for name, command in group.COMMANDS.items():
        text = _reflowed(command.__doc__ or "")
        app.command(name, cls=Command, help=text, short_help=_summary(text))(command)
