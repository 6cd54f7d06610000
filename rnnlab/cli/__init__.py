"""The `rnnlab` command line. Thin: parse options -> build configs -> call the library -> draw the result.

The commands live one group per module (training, lab, look) and are merged here; none of them imports this
module, so there is no cycle. Nothing here or there imports torch before a command runs: `rnnlab --help` is fast.
Errors a user can cause end in one line on stderr and exit code 2 (UserError, and Typer's own usage errors).
"""

from __future__ import annotations

import os
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
            _fail(f"{exc.format_message()}{hint}", getattr(exc, "exit_code", 2))
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


for group in (training, lab, look):
    for name, command in group.COMMANDS.items():
        app.command(name, cls=Command)(command)
