"""A config field that is also a command-line flag: its help, panel, choices, range, parser and default, once.

``option(default, help, panel, ...)`` is a dataclass field whose metadata says how the CLI offers it; the CLI builds
its commands' signatures from these fields (rnnlab.cli.options) and never restates them. ``validate`` checks every
such field of a config against its declaration (type, choices, range, finite numbers), so that a bad value from a
flag or from a hand-edited config.json fails in one line that names the flag or the field.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnlab.errors import ConfigError
from rnnlab.text import short_repr

MODEL, DATA, TRAINING, OUTPUT = "Model", "Data", "Training", "Output"  # the help panels
REGULARISE, RUNTIME = "Recurrent regularisers", "Where it computes"


@dataclass(frozen=True)
class Range:
    """An interval a number must lie in; an open end excludes its bound."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (value > self.high or (self.high_open and value == self.high))

    def describe(self) -> str:
        assert self.low is not None, "every Range declared here has a low bound"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {_bound(self.low)}"
        low, high = _bound(self.low), _bound(self.high)
        return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
FRACTION = Range(0, 1, high_open=True)  # [0, 1)
SHARE = Range(0, 1, low_open=True, high_open=True)  # (0, 1)
UNIT = Range(0, 1)  # [0, 1]
SEED = Range(0, 2**63 - 1)  # what torch.manual_seed and numpy take
THREADS = Range(0, 1024)  # a million threads (a config.json edited by hand) crash the process and its neighbours


@dataclass(frozen=True)
class Flag:
    help: str
    panel: str
    choices: tuple[str, ...] = ()
    range: Range | None = None
    parse: Callable[[str], Any] | None = None  # the text typed on the command line -> the field's value
    show: Callable[[Any], str] | None = None  # the field's value -> that text (the default in --help)
    metavar: str | None = None
    resumable: bool = False  # `train --resume RUN` may change it for the run in progress
    cli: bool = True  # False: derived, never typed (ModelConfig.input_size follows from the data)
    # the value at which the setting does nothing (--max-steps 0: no limit; --clip 0: no clipping): a run's label
    # leaves the flag out at it (runs.listing); None: every value does something
    off: Any = None


def _bound(x: float) -> str:
    """0.5 as 0.5, 2**63 - 1 whole (not 9.22337e+18)."""
    return f"{x:,}" if isinstance(x, int) and abs(x) >= 10**6 else f"{x:g}"


def option(default: Any, help: str, panel: str, per_dataset: bool = False, **how: Any) -> Any:
    """A dataclass field offered as ``--field-name`` (see Flag for ``how``). ``per_dataset``: the run may put its
    own default in its place (a dataset's, config.run.DATASET_DEFAULTS; or one that the run's other settings call
    for), so the default is marked as not chosen."""
    return field(default=unchosen(default) if per_dataset else default, metadata={"flag": Flag(help, panel, **how)})


class Unchosen:
    """Marks a default nobody chose (the field was left out), so that RunConfig may put the dataset's own default in
    its place: the same settings then make the same run from Python and from the command line. A marked value
    compares, hashes, prints and pickles as the value it marks."""

    __slots__ = ()


class UnchosenInt(int, Unchosen):
    __slots__ = ()


class UnchosenFloat(float, Unchosen):
    __slots__ = ()


class UnchosenStr(str, Unchosen):
    __slots__ = ()


class UnchosenTuple(tuple, Unchosen):
    __slots__ = ()


_UNCHOSEN: dict[type, type] = {int: UnchosenInt, float: UnchosenFloat, str: UnchosenStr, tuple: UnchosenTuple}


def unchosen(value: Any) -> Any:
    """``value``, marked as a default left in place."""
    if type(value) not in _UNCHOSEN:  # bool and None cannot be subclassed
        raise TypeError(f"a default some dataset replaces must be an int, float, str or tuple, not {value!r}")
    return _UNCHOSEN[type(value)](value)


def chosen(value: Any) -> Any:
    """``value`` with the mark taken off (what is saved in config.json and checkpoints)."""
    return type(value).__mro__[1](value) if isinstance(value, Unchosen) else value


def flag_of(f: dataclasses.Field) -> Flag | None:
    return f.metadata.get("flag")


def flag_for(f: dataclasses.Field) -> Flag:
    """The Flag of a field known to be flag-backed (one of ``flagged_fields``); an unflagged field is a bug."""
    flag = flag_of(f)
    if flag is None:
        raise ValueError(f"field {f.name!r} is not a flag-backed field")
    return flag


def flagged_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if flag_of(f) is not None]


def _type_error(kind: Any, value: Any) -> str | None:
    """Why ``value`` is not of the field type ``kind`` (int, float, str, bool, tuple[int, ...], X | None)."""
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        options = typing.get_args(kind)
        return None if any(_type_error(k, value) is None for k in options) else f"expected {_name(kind)}"
    if kind is type(None):
        return None if value is None else "expected nothing"
    if kind is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected a whole number"
    if kind is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "expected a number"
    if kind is str:
        return None if isinstance(value, str) else "expected text"
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        ok = isinstance(value, tuple) and all(_type_error(item, v) is None for v in value)
        return None if ok else f"expected a list of {_name(item)}"
    return None


def _name(kind: Any) -> str:
    names = {int: "whole numbers", float: "numbers", str: "text", bool: "true or false", type(None): "nothing"}
    return " or ".join(names.get(k, str(k)) for k in (typing.get_args(kind) or (kind,)))


def validate(cfg: Any) -> None:
    """Check each flag-backed field of ``cfg`` against its declaration; the error names the field's flag."""
    hints = typing.get_type_hints(type(cfg))
    for f in flagged_fields(type(cfg)):
        flag, value = flag_for(f), getattr(cfg, f.name)
        problem = _type_error(hints[f.name], value)
        if problem:
            raise ConfigError(f.name, f"{problem}, got {short_repr(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f.name, f"must be a finite number, got {value}")
        values = value if isinstance(value, tuple) else (value,)
        unknown = [v for v in values if flag.choices and v not in flag.choices]
        if unknown:
            raise ConfigError(f.name, f"unknown value {short_repr(unknown[0])}; choose from {', '.join(flag.choices)}")
        if flag.range and any(isinstance(v, (int, float)) and not flag.range.holds(v) for v in values):
            raise ConfigError(f.name, f"must be {flag.range.describe()}, got {_show(flag, value)}")
        if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in values):  # what torch and numpy hold
            raise ConfigError(f.name, f"must fit in 64 bits, got {_show(flag, value)[:40]}")


def _show(flag: Flag, value: Any) -> str:
    return flag.show(value) if flag.show else short_repr(value)


def parse_sizes(text: str | int | tuple[int, ...]) -> tuple[int, ...]:
    """'256' -> (256,); '128,256' -> (128, 256): how --hidden takes one size or one per layer."""
    if isinstance(text, int):
        return (text,)
    if isinstance(text, tuple):
        return text
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError("hidden", f"expected a size or comma-separated sizes like 128,256, got {text!r}") from None
    if not sizes:
        raise ConfigError("hidden", "expected at least one size")
    if min(sizes) < 1:
        raise ConfigError("hidden", f"every size must be > 0, got {text}")
    return sizes


def show_sizes(sizes: tuple[int, ...]) -> str:
    return ",".join(map(str, sizes))


def parse_names(text: str) -> tuple[str, ...]:
    """'cudnn, bptt' -> ('cudnn', 'bptt'): how a flag takes several names; a name given twice counts once."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def show_names(names: tuple[str, ...]) -> str:
    return ",".join(names)
