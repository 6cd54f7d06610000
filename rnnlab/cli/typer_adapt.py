"""Every place rnnlab leans on typer's (and, through it, pydantic's) behaviour beyond its documented API.

Kept in one module so that a new typer release is checked in one place: ``TESTED`` names the releases this code
is tested against, and pyproject's bound on typer says the same (tests/test_cli_typer.py holds the two together;
raising the bound is a deliberate change to both, after the suite passes on the new release).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

import typer
from typer.core import TyperCommand, TyperGroup

from rnnlab.cli.typer_help import print_help

TESTED = ("0.12", "0.30")  # typer >= the first, < the second: the bound in pyproject.toml

# Typer vendors click in new releases and imports it in old ones: find its exception base either way.
CLICK_EXCEPTION: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _ClickError(Protocol):
    def format_message(self) -> str: ...


def click_message(exc: Exception) -> str:
    """A CLICK_EXCEPTION's own words, as click formats them (whichever click, vendored or not, typer brings)."""
    return cast(_ClickError, exc).format_message()


def quiet_flags(params: list[Any]) -> list[Any]:
    """--help shows no Python type where the name says it all: an on/off flag takes no value (typer would print
    `<bool>`), and an argument's name (RUN) already says what it is (typer would add `<str>`)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        plain_bool(param)
        if param.param_type_name == "argument" and param.metavar is not None:
            param.display_type_rich = lambda ctx: None
    return params


def plain_bool(param: Any) -> None:
    """An on/off flag needs no converting, yet typer >= 0.24 builds a pydantic adapter for --help's own flag (and
    completion's) on every call: importing pydantic is a third of `rnnlab train --help`. Give such flags typer's
    pass-through converter up front; typer releases without this machinery have no `_runtime_param` and are left
    as they are."""
    descriptor: Any = getattr(param, "type_descriptor", None)
    if getattr(param, "_runtime_param", False) is not None or getattr(descriptor, "annotation", None) is not bool:
        return
    try:
        from typer._coercion import PassThroughRuntimeParam
    except ImportError:
        return
    param._runtime_param = PassThroughRuntimeParam(parameter_info=descriptor.parameter_info, annotation=bool)


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return quiet_flags(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """rnnlab's help layout (cli.typer_help), in place of typer's: it reads whole at 80 columns."""
        print_help(self, ctx)


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return quiet_flags(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        print_help(self, ctx)


# typer's value errors (pydantic's words in typer >= 0.24) in the words rnnlab's own checks use
_REWORDED = (
    (re.compile(r"Input should be a valid integer.*"), "expected a whole number"),
    (re.compile(r"Input should be a valid number.*"), "expected a number"),
    (re.compile(r"Input should be greater than or equal to (\S+)"), r"must be >= \1"),
    (re.compile(r"Input should be greater than (\S+)"), r"must be > \1"),
    (re.compile(r"Input should be less than or equal to (\S+)"), r"must be <= \1"),
    (re.compile(r"Input should be less than (\S+)"), r"must be < \1"),
)


def usage_message(exc: Exception) -> str:
    """`--flag: reason` for a value typer refused, as for the values rnnlab checks; other usage errors as typer
    words them."""
    param, message = getattr(exc, "param", None), getattr(exc, "message", "")
    names = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    if type(exc).__name__ != "BadParameter" or not names or not message:
        return click_message(exc)
    for pattern, words in _REWORDED:
        if pattern.fullmatch(message):
            message = pattern.sub(words, message)
            break
    return f"{names[0]}: {message}"
