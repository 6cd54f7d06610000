"""The `rnnlab` command line. Thin: parse options -> build configs -> call the library -> draw the result.

The commands live one group per module (training, lab, look) and are merged here; none of them imports this
module, so there is no cycle. Nothing here or there imports torch before a command runs: `rnnlab --help` is fast.
Errors a user can cause end in one line on stderr and exit code 2 (UserError, and Typer's own usage errors).
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

import rnnlab
from rnnlab.cli import lab, look, training
from rnnlab.cli.tables import error_line
from rnnlab.errors import CTRL_C, Stopped, UserError
from rnnlab.text import os_error

# Typer vendors click in new releases and imports it in old ones: find its exception base either way.
_CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _quiet_flags(params: list[Any]) -> list[Any]:
    """--help shows no Python type where the name says it all: an on/off flag takes no value (typer would print
    `<bool>`), and an argument's name (RUN) already says what it is (typer would add `<str>`)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        _plain_bool(param)
        if param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    return params


def _plain_bool(param: Any) -> None:
    """An on/off flag needs no converting, yet typer >= 0.24 builds a pydantic adapter for --help's own flag (and
    completion's) on every call: importing pydantic is a third of `rnnlab train --help`. Give such flags typer's
    pass-through converter up front; typer releases without this machinery have no `_runtime_param` and are left
    as they are."""
    descriptor = getattr(param, "type_descriptor", None)
    if getattr(param, "_runtime_param", False) is not None or getattr(descriptor, "annotation", None) is not bool:
        return
    try:
        from typer._coercion import PassThroughRuntimeParam
    except ImportError:
        return
    param._runtime_param = PassThroughRuntimeParam(parameter_info=descriptor.parameter_info, annotation=bool)


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet_flags(super().get_params(ctx))


class OneLineErrors(TyperGroup):
    """Every error a user can cause becomes `rnnlab: error: ...` on one line, exit code 2, no traceback."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet_flags(super().get_params(ctx))

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_EXCEPTION as exc:
            ctx = getattr(exc, "ctx", None)
            if not exc.format_message():  # `rnnlab` alone: the help was the answer, there is no error to add
                sys.exit(getattr(exc, "exit_code", 2))
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            _fail(f"{_usage_message(exc)}{hint}", getattr(exc, "exit_code", 2))
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


# typer's value errors in the words rnnlab's own checks use (`--epochs: expected a whole number`)
_REWORDED = (
    (re.compile(r"Input should be a valid integer.*"), "expected a whole number"),
    (re.compile(r"Input should be a valid number.*"), "expected a number"),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be >= \1"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be > \1"),
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be <= \1"),
    (re.compile(r"Input should be less than (\S+)"), r"must be < \1"),
)


def _usage_message(exc: Exception) -> str:
    """`--flag: reason` for a value typer refused, as for the values rnnlab checks; other usage errors as typer
    words them."""
    param, message = getattr(exc, "param", None), getattr(exc, "message", "")
    names = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if type(exc).__name__ != "BadParameter" or not names or not message:
        return exc.format_message()  # type: ignore[attr-defined]
    for pattern, words in _REWORDED:
        if pattern.fullmatch(message):
            message = pattern.sub(words, message)
            break
    return f"{names[0]}: {message}"


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


for group in (training, lab, look):
    for name, command in group.COMMANDS.items():
        text = _reflowed(command.__doc__ or "")
        app.command(name, cls=Command, help=text, short_help=_summary(text))(command)
