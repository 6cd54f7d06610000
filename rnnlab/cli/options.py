"""Commands' options built from the config fields that declare them, and the few shared ones that no config holds.

``@takes(ModelConfig, DataConfig, ...)`` adds every flag-backed field of those configs to a command as an option
(name, help, panel, choices, default: all from the field) and hands the command one ``Flags`` value: the values as
the configs take them, and which flags were typed. Nothing here restates a field.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import shlex
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from rnnlab.config import Flag, flag_of
from rnnlab.config.flags import Unchosen
from rnnlab.errors import flag_name

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

KEYWORD = inspect.Parameter.KEYWORD_ONLY

V = TypeVar("V", bound="DataclassInstance")


@dataclass(frozen=True)
class Default:
    """A command's own default for a field: ``value``, shown in --help as ``shown`` (else as the value); ``help``:
    the command's own words for the flag, where the field's speak of another command (training's threads)."""

    value: Any
    shown: str | None = None
    help: str | None = None


def _cli_type(kind: Any, flag: Flag) -> Any:
    """What the command line hands over: text where the field parses it (sizes, names), else the field's type."""
    if flag.parse is not None:
        return str
    return kind


SHORT_CHOICES = 16  # a longer list of choices is named in the help instead, leaving an 80-column help its width


def _metavar(flag: Flag, name: str) -> str | None:
    if flag.metavar:
        return flag.metavar
    if flag.choices:
        listed = "|".join(flag.choices)
        return listed if len(listed) <= SHORT_CHOICES else name.upper()
    return None


def _help(flag: Flag, own: str | None = None) -> str:
    """The field's help (or a command's ``own`` words), naming the choices where the metavar does not and the help
    does not already."""
    text = flag.help if own is None else own
    listed = "|".join(flag.choices)
    named = flag.metavar or len(listed) <= SHORT_CHOICES or all(c in text for c in flag.choices)
    return text if named else f"{text} One of {listed}."


def _completer(choices: Iterable[str]) -> Callable[[], list[str]]:
    """The values shell completion offers (typer calls it with no arguments)."""

    def complete() -> list[str]:
        return list(choices)

    return complete


def _shown(flag: Flag, value: Any) -> Any:
    """The default as the command line would type it."""
    if value is None or flag.show is None:
        return value
    return flag.show(value)


def _parameter(f: dataclasses.Field, kind: Any, default: Default | None) -> inspect.Parameter:
    flag = flag_of(f)
    assert flag is not None
    value = f.default if default is None else default.value
    if value is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    shown = None if default is None else default.shown
    text = _help(flag, None if default is None else default.help)
    info = typer.Option(
        help=text if shown is None else f"{text} \\[default: {shown}]",
        rich_help_panel=flag.panel,
        metavar=_metavar(flag, f.name),
        autocompletion=_completer(flag.choices) if flag.choices else None,
        show_default=shown is None,
    )
    return inspect.Parameter(
        f.name, KEYWORD, default=_shown(flag, value), annotation=Annotated[_cli_type(kind, flag), info]
    )


def flag_parameters(
    cls: type, only: Iterable[str] | None = None, defaults: dict[str, Default] | None = None
) -> list[inspect.Parameter]:
    """One option per flag-backed field of ``cls`` (``only``: these fields, even ones not offered by default)."""
    hints = typing.get_type_hints(cls)
    wanted = None if only is None else set(only)
    params = []
    for f in dataclasses.fields(cls):
        flag = flag_of(f)
        if flag is None or (wanted is None and not flag.cli) or (wanted is not None and f.name not in wanted):
            continue
        params.append(_parameter(f, hints[f.name], (defaults or {}).get(f.name)))
    return params


@dataclass(frozen=True)
class Flags:
    """The config-backed options of one invocation: each field's value as its config takes it, and what was typed."""

    values: dict[str, Any]
    given: frozenset[str]  # fields whose flag was typed on the command line
    owners: dict[str, type]  # the config class whose field declares each flag
    command: str = ""  # the command as typed (what typer parsed), recorded in every file the command writes
    # fields whose default here is one some dataset replaces (config.flags.Unchosen): left out unless typed, so that
    # the config puts in the dataset's own; a command that sets its own default for one keeps it
    per_dataset: frozenset[str] = frozenset()

    def of(self, cls: type, *, typed_only: bool = False) -> dict[str, Any]:
        """The values of ``cls``'s fields among these flags (``typed_only``: only those typed). A flag not typed
        whose default depends on the dataset is left out, so that the config puts in the dataset's own."""
        left = self.per_dataset - self.given
        mine = (k for k in self.values if self.owners[k] is cls and (k in self.given or not typed_only))
        return {k: self.values[k] for k in mine if k not in left}

    def build(self, cls: type, **fixed: Any) -> Any:
        """``cls`` from these flags (and ``fixed`` values): the config checks them, and an error names the flag."""
        return cls(**fixed, **self.of(cls))

    def view(self, cls: type[V]) -> V:
        """The values of this command's flags as ``cls``, a dataclass whose fields are named like some of them (a
        typed view: the flags are declared on their own config fields; a field no flag of this command gives keeps
        its default)."""
        return cls(**{f.name: self.values[f.name] for f in dataclasses.fields(cls) if f.name in self.values})

    def check(self, cls: type) -> None:
        """Check the typed flags of ``cls`` (those a command passes on without building a whole ``cls`` itself)."""
        cls(**self.of(cls, typed_only=True))

    def typed(self, names: Iterable[str] | None = None) -> list[str]:
        """The flags typed on the command line (among ``names``), as the user wrote them."""
        pool = self.given if names is None else self.given & set(names)
        return [flag_name(n) for n in self.values if n in pool]


def _parsers(classes: tuple[type, ...]) -> dict[str, Callable[[str], Any]]:
    return {
        f.name: flag.parse
        for cls in classes
        for f in dataclasses.fields(cls)
        if (flag := flag_of(f)) is not None and flag.parse is not None
    }


def takes(
    *classes: type, only: Iterable[str] | None = None, defaults: dict[str, Default] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give the decorated command an option for every flag-backed field of ``classes``; it receives ``flags``.

    ``only`` picks fields by name (across the classes; a name two classes declare is the first one's);
    ``defaults`` sets a command's own default for a field.
    """

    declared = {f.name for cls in classes for f in dataclasses.fields(cls) if flag_of(f) is not None}
    unknown = sorted({*(only or ()), *(defaults or {})} - declared)
    if unknown:  # a typo would silently drop an option: fail at import, naming it
        raise TypeError(f"takes(): {', '.join(unknown)} is no flag of {', '.join(c.__name__ for c in classes)}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p.replace(kind=KEYWORD)
            for p in inspect.signature(fn, eval_str=True).parameters.values()
            if p.name != "flags"
        ]
        owners: dict[str, type] = {}
        added = []
        for cls in classes:  # a field two classes declare is the first one's
            for p in flag_parameters(cls, only, defaults):
                if p.name not in owners:
                    owners[p.name] = cls
                    added.append(p)
        names = list(owners)
        parsers = _parsers(classes)
        set_here = defaults or {}
        field_defaults = {n: next(f.default for f in dataclasses.fields(owners[n]) if f.name == n) for n in names}
        per_dataset = frozenset(
            n for n in names if isinstance(set_here[n].value if n in set_here else field_defaults[n], Unchosen)
        )

        @functools.wraps(fn)
        def command(ctx: typer.Context, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            for name, parse in parsers.items():
                if name in values and isinstance(values[name], str):
                    values[name] = parse(values[name])
            given = frozenset(n for n in names if _typed(ctx, n))
            return fn(flags=Flags(values, given, owners, command_line(ctx), per_dataset), **kwargs)

        context = inspect.Parameter("ctx", KEYWORD, annotation=typer.Context)
        command.__signature__ = inspect.Signature([context, *added, *own])  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in (context, *added, *own)}
        return command

    return decorate


def _typed(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def command_line(ctx: typer.Context) -> str:
    """`rnnlab train --dataset digits --hidden 8 ...`: the command and every option and argument typed, as parsed
    (the same in a terminal, under torchrun and from Python through typer's runner)."""
    words = ["rnnlab", ctx.info_name or ""]
    for param in ctx.command.params:
        name = param.name or ""
        if not _typed(ctx, name):
            continue
        value = ctx.params.get(name)
        if param.param_type_name == "argument":
            words += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        elif getattr(param, "is_flag", False):
            words.append(param.opts[0] if value else (param.secondary_opts or param.opts)[0])
        else:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


# ---- options no config holds, shared by several commands -----------------------------------------------------------

RUN_HELP = "A run folder (its best.pt, else checkpoint.pt) or a checkpoint file written by `rnnlab train`."
Run = Annotated[str, typer.Argument(help=RUN_HELP, metavar="RUN")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
Out = Annotated[
    Path | None, typer.Option(help="Folder for what the command writes \\[default: RUN/figures].", metavar="DIR")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print every row, not only the summary.")]
