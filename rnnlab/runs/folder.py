"""The run folder: config.json, metrics.jsonl, checkpoint.pt, best.pt (and figures/, logs/ written beside them).

Nothing of a run is written before training has taken its first step (begin_run): a start that fails leaves the
folder as it was, and a run that `--force` replaces is removed only then.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.runs.config_file import refuse_if_trained_now
from rnnlab.text import shown_path

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt")
RUN_OWNED = (*RUN_FILES, "figures", "logs", "metrics.csv")  # what replacing a run replaces; nothing else is touched


def default_run_dir(root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    path, n = root / stamp, 1
    while path.exists():
        n += 1
        path = root / f"{stamp}_{n}"
    return path


def check_writable(path: Path, flag: str = "--out") -> None:
    """Fail early if ``path`` could not be created and written, leaving nothing behind: the missing part of the path
    is made for real inside a temporary folder beside it, so a name too long, a read-only or virtual file system
    (/proc) and a permission the process lacks all show now, not after training has begun."""
    probe = path
    while not _exists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag}: cannot create {path}: {probe} is a file, not a folder; choose another {flag}")
    try:
        trial = Path(tempfile.mkdtemp(prefix=".rnnlab-probe-", dir=probe))
    except OSError as exc:
        raise UserError(f"{flag}: cannot write to {probe} ({exc.strerror or exc}); choose another {flag}") from None
    try:
        if path != probe:
            (trial / path.relative_to(probe)).mkdir(parents=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise UserError(f"{flag}: cannot create {shown_path(path)} ({reason}); choose another {flag}") from None
    finally:
        shutil.rmtree(trial, ignore_errors=True)


def check_file_target(path: Path, flag: str) -> None:
    """Fail early if a file could not be written at ``path`` (a folder there, a parent that cannot be made)."""
    if _exists(path) and path.is_dir():
        raise UserError(f"{flag}: {path} is a folder; give a file name")
    # a file there is replaced: its folder must take a new file; else a folder of its name is made and removed,
    # the same test of the name and the place
    check_writable(path.parent if _exists(path) else path, flag)


def _exists(path: Path) -> bool:
    """Path.exists, but a name the file system refuses (too long) does not exist either."""
    try:
        return path.exists()
    except OSError:
        return False


def output_folder(path: Path, flag: str = "--out") -> Path:
    """A folder a command writes into (figures, tables): created where missing; a file there, or a place that
    cannot be written, is one line naming the flag."""
    if _exists(path) and not path.is_dir():
        raise UserError(f"{flag}: {path} is a file; give a folder")
    check_writable(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag}: cannot create {path} ({exc.strerror or exc}); choose another folder") from None
    return path


def run_files(path: Path) -> list[str]:
    return [f for f in RUN_FILES if (path / f).exists()] if _exists(path) else []


def check_new_run(path: Path, force: bool) -> None:
    """Check a fresh run can be written to ``path`` without touching anything that is already there."""
    if _exists(path) and not path.is_dir():
        raise UserError(f"--out: {path} is a file; give a folder")
    existing = run_files(path)
    if existing and not force:
        raise UserError(
            f"--out: {path} already holds a run ({', '.join(existing)}); pass --force to replace it, or --resume {path}"
        )
    if existing:
        refuse_if_trained_now(path, None, "--force")
    check_writable(path)


def remove_stale_temporaries(path: Path) -> None:
    """A process killed while writing leaves `.checkpoint.pt.*.tmp` beside the intact old file: sweep them."""
    for f in path.glob(".*.tmp"):
        f.unlink(missing_ok=True)


def begin_run(path: Path, replace: bool) -> None:
    """Make ``path`` a new run's folder: called once training has taken its first step, so that a start that fails
    touches nothing of a run already there and leaves nothing that would block the retry. ``replace`` (a run was
    there, and --force said so) removes what that run owned; otherwise nothing but the new run's files changes."""
    path.mkdir(parents=True, exist_ok=True)
    for name in RUN_OWNED if replace else RUN_FILES:
        _remove(path / name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
