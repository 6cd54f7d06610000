"""The run folder's paths (config.json, metrics.jsonl, checkpoint.pt, best.pt; figures/, logs/ and metrics.csv
beside them), and the checks that a folder or file a command is about to write can be written.

Whether a run may be written into a folder is decided by runs.writer alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rnnlab.errors import UserError
from rnnlab.text import shown_path


@dataclass(frozen=True)
class RunFolder:
    """Every path of a run, and the only place a run file is named."""

    path: Path

    FILES: ClassVar[tuple[str, ...]] = ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt")
    # what replacing a run replaces; nothing else in the folder is touched
    OWNED: ClassVar[tuple[str, ...]] = (*FILES, "figures", "logs", "metrics.csv")

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:  # the last: written at each epoch's end, read by --resume
        return self.path / "checkpoint.pt"

    @property
    def best(self) -> Path:  # the parameters of the best validation so far
        return self.path / "best.pt"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    @property
    def logs(self) -> Path:  # TensorBoard's event files
        return self.path / "logs"

    @property
    def metrics_csv(self) -> Path:
        return self.path / "metrics.csv"

    def files(self) -> list[str]:
        """The run files present: a folder holding any of them holds a run."""
        return [f for f in self.FILES if (self.path / f).exists()] if path_exists(self.path) else []

    def named(self, path: Path) -> str | None:
        """The run's own file or folder that ``path`` is, however spelled (a link, ``..``), such as 'config.json';
        None where it is none of them."""
        target = path.resolve()
        return next((name for name in self.OWNED if (self.path / name).resolve() == target), None)

    def model_file(self) -> Path | None:
        """The checkpoint a model is read from: best.pt, else checkpoint.pt; None before the first is written."""
        return next((p for p in (self.best, self.checkpoint) if p.is_file()), None)

    @staticmethod
    def which(checkpoint: Path) -> str:
        """'best' for a best.pt, 'last' for a checkpoint.pt, else the file's own name."""
        return {"best.pt": "best", "checkpoint.pt": "last"}.get(checkpoint.name, checkpoint.name)

    def remove_stale_temporaries(self) -> None:
        """A process killed while writing leaves `.checkpoint.pt.*.tmp` beside the intact old file: sweep them."""
        for f in self.path.glob(".*.tmp"):
            f.unlink(missing_ok=True)


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
    while not path_exists(probe) and probe != probe.parent:
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
    if path_exists(path) and path.is_dir():
        raise UserError(f"{flag}: {path} is a folder; give a file name")
    # a file there is replaced: its folder must take a new file; else a folder of its name is made and removed,
    # the same test of the name and the place
    check_writable(path.parent if path_exists(path) else path, flag)


def path_exists(path: Path) -> bool:
    """Path.exists, but a name the file system refuses (too long) does not exist either."""
    try:
        return path.exists()
    except OSError:
        return False


def output_folder(path: Path, flag: str = "--out", own: bool = False) -> Path:
    """A folder a command writes into (figures, tables): created where missing; a file there, or a place that
    cannot be written, is one line naming the flag. ``own``: a run's own folder (figures/, logs/), which is never
    followed through a symbolic link: a run folder handed over may hold one that points anywhere."""
    if own and path.is_symlink():
        raise UserError(
            f"{path} is a symbolic link (to {os.readlink(path)}); rnnlab writes a run's files only inside it"
        )
    if path_exists(path) and not path.is_dir():
        raise UserError(f"{flag}: {path} is a file; give a folder")
    check_writable(path, flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag}: cannot create {path} ({exc.strerror or exc}); choose another folder") from None
    return path
