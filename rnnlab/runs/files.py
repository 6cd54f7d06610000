"""Atomic writes: a temporary file beside the target, fsync, then os.replace, so a crash leaves the old file whole.

A write that fails (a full disk above all) removes its temporary file and ends in a UserError that names the file
and says the previous one is intact: the one line a user sees instead of torch.save's RuntimeError.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError
from rnnlab.text import first_line

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _mode_for(path: Path) -> int:
    """The permissions ``open`` would give: the replaced file's own, else 0o666 less the umask (not mkstemp's 0o600,
    which would hide every run file from the other users of a shared machine)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failed write (torch.save wraps it in a RuntimeError), if any."""
    return next((e for e in _chain(exc) if isinstance(e, OSError)), None)


def describe_write_error(exc: BaseException, path: Path) -> str:
    """'no space left on the device writing RUN/checkpoint.pt', or the system's own reason."""
    error = _os_error(exc)
    if error is not None and error.errno in _DISK_FULL:
        return f"no space left on the device writing {path}"
    if error is None:
        try:
            if shutil.disk_usage(path.parent).free < 1 << 20:
                return f"no space left on the device writing {path}"
        except OSError:
            pass
    reason = error.strerror if error is not None and error.strerror else first_line(exc, 120)
    return f"cannot write {path} ({reason})"


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    existed = path.exists()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(_failed(exc, path, existed)) from None
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        Path(tmp).unlink(missing_ok=True)
        stop = _interrupt_behind(exc)
        if stop is not None:  # a signal raised mid-write, and the writer's clean-up then failed on the half file
            raise stop from None
        if _os_error(exc) is None and not isinstance(exc, OSError) and "write" not in str(exc).lower():
            raise  # not a failed write: a bug
        raise UserError(_failed(exc, path, existed)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _interrupt_behind(exc: BaseException) -> BaseException | None:
    """The Ctrl-C (KeyboardInterrupt, or training's StopNow) that ``exc`` was raised while handling, if any: torch.save
    interrupted inside its zip writer fails again on closing it, and that second error would hide the stop."""
    seen = exc.__context__
    while seen is not None:
        if not isinstance(seen, Exception):
            return seen
        seen = seen.__context__
    return None


def _failed(exc: BaseException, path: Path, existed: bool) -> str:
    kept = f"the previous {path.name} is intact" if existed else "nothing was written"
    return f"{describe_write_error(exc, path)}; {kept}"


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))
