"""Reading files that someone may have handed you: only regular files, text within a size, JSON within a depth.

A run folder, a checkpoint or an image is often made elsewhere. A FIFO or a device in its place would block a
reader for ever; a config.json of 10 MB or a line of JSON nested 100,000 deep would exhaust memory or Python's
stack (json.loads recurses). These checks come before anything is parsed, and each refusal is a UserError in one
line naming the file.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError

MAX_DEPTH = 32  # nesting of JSON that rnnlab reads; what it writes nests 4 deep


def require_regular(path: Path, what: str = "") -> None:
    """Refuse a path that is not a regular file (a FIFO, socket or device) before it is opened; a missing file is
    left to the caller, which knows what to say of it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UserError(f"{what or path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise UserError(f"{what or path}: not a regular file (a FIFO, a socket or a device); rnnlab reads only files")


def read_bounded(path: Path, limit: int, what: str) -> str:
    """The text of a regular file of at most ``limit`` bytes; a longer one is refused unread (``what``: what the
    file is, for the message)."""
    require_regular(path)
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UserError(f"{path}: larger than any {what} rnnlab writes (over {limit:,} bytes); it was not written here")
    return data.decode("utf-8", errors="replace")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays and objects deeper than ``limit``; strings are skipped, escapes too. The
    count of brackets bounds the depth, so the usual text is judged without a scan."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def too_deep_object(value: Any, limit: int = MAX_DEPTH, most: int = 10_000_000) -> str | None:
    """Why the plain containers of ``value`` (what torch.load builds with weights_only: dicts, lists, tuples) are
    too deep or too many to walk, or None; walked without recursion, as repr, json and == would recurse."""
    stack, seen = [(value, 0)], 0
    while stack:
        item, depth = stack.pop()
        children = list(item.values()) if isinstance(item, dict) else item if isinstance(item, (list, tuple)) else None
        if children is None:
            continue
        if depth >= limit:
            return f"nested deeper than {limit} levels"
        seen += len(children)
        if seen > most:
            return f"more than {most:,} entries"
        stack.extend((child, depth + 1) for child in children)
    return None


def loads(text: str, limit: int = MAX_DEPTH) -> Any:
    """json.loads, after the depth check: raises ValueError for text nested too deep, as for text that is not
    JSON."""
    if too_deep(text, limit):
        raise ValueError(f"nested deeper than {limit} levels")
    return json.loads(text)
