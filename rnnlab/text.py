"""Small pieces of user-facing text that several modules write: percentages, losses, sizes in bytes, an error's
gist in one line, paths shortened for messages, names with their control characters made visible, and JSON that
every parser reads."""

from __future__ import annotations

import json
import math
import re
import reprlib
from typing import Any

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60

# C0 and C1 controls, DEL, the invisible marks that reorder or hide text (bidirectional overrides, zero widths), and
# the surrogates by which Python holds the bytes of a file name that are not UTF-8 (no terminal or font shows them)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def visible(text: object, keep: str = "") -> str:
    """``text`` with each control character written as its escape (ESC as \\x1b): a name read from a file or a
    folder, shown in a terminal, can then neither clear the screen nor retitle the window nor hide what follows.
    ``keep``: the characters left as they are (a table's own line breaks)."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), str(text))


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a name that is not UTF-8, as os.fsdecode keeps it: shown as that byte
        code -= 0xDC00
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def short_repr(value: object) -> str:
    """repr(value), cut short (a value from a file may be a list of a million items or a string of a megabyte)."""
    return _SHORT.repr(value)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def number(x: float | None) -> str:
    """A loss: four decimals, or scientific notation where those would hide it (a diverging run's 3.2e+07)."""
    if x is None:
        return "-"
    return f"{x:.3e}" if x != 0 and not 1e-3 <= abs(x) < 1e5 else f"{x:.4f}"


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; up to PiB, for the 16 TiB a mistyped --hidden asks for."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def first_line(exc: BaseException, width: int = 160) -> str:
    """The first line of an exception's message (libraries' messages run to pages), or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0][:width] if lines else type(exc).__name__


def shown_path(path: object) -> str:
    """A path as a message shows it: one too long to read (a mistyped 300-character name) keeps its two ends."""
    name = str(path)
    return name if len(name) <= 100 else f"{name[:50]}...{name[-40:]}"


def os_error(exc: OSError) -> str:
    """'cannot use PATH: File name too long': what the file system refused, and where."""
    reason = exc.strerror or str(exc)
    return reason if exc.filename is None else f"cannot use {shown_path(exc.filename)}: {reason}"


def json_text(document: Any, indent: int | None = None) -> str:
    """JSON as the standard has it: a number that is NaN or infinite (a diverged loss) is written as null, where
    json.dumps would write `NaN`, which strict parsers (JavaScript's, Go's, jq) refuse."""
    return json.dumps(_finite(document), indent=indent, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
