"""The run's writer: the only code that decides whether a folder may be written, and what writes it as training
goes: config.json (who made the run, its resumes, its status), metrics.jsonl and the live loggers.

Rank 0 alone writes, and nothing before ``begin``, which comes after the first step: a start or a resume that
fails leaves the folder exactly as it was, and a run that `--force` replaces is removed only then.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig
from rnnlab.errors import UserError
from rnnlab.runs.config_file import (
    RunFile,
    config_changes,
    now,
    read_run_file,
    refuse_if_trained_now,
    write_run_file,
)
from rnnlab.runs.folder import RunFolder, check_writable, path_exists
from rnnlab.runs.loggers import Logger, make_loggers
from rnnlab.runs.metrics import MetricsLog

FIGURE = "validation sample 0: P(class) after each step"


def check_new_run(path: Path, force: bool, from_python: bool = False) -> bool:
    """Whether a new run may be written to ``path``, decided without touching anything there: refused where a run
    is (unless ``force``) or is being trained now, or where nothing can be written. Returns whether it replaces
    a run. Asked before training starts (by the CLI), and again when it has taken its first step (by the writer,
    whose error names fit()'s argument as well, for a run started from Python)."""
    if path_exists(path) and not path.is_dir():
        raise UserError(f"--out: {path} is a file; give a folder")
    existing = RunFolder(path).files()
    if existing and not force:
        if from_python:
            raise UserError(
                f"{path} already holds a run ({', '.join(existing)}); replace it with --force "
                "(fit(..., force=True)), or continue it with --resume"
            )
        raise UserError(
            f"--out: {path} already holds a run ({', '.join(existing)}); pass --force to replace it, or --resume {path}"
        )
    if existing:
        refuse_if_trained_now(path, None, "--force")
    check_writable(path)
    return bool(existing)


class RunWriter:
    def __init__(
        self,
        run_dir: Path,
        cfg: RunConfig,
        made_by: dict[str, Any],
        main: bool,
        notice: Callable[[str], None],
        force: bool,
        step: Callable[[], int],
    ) -> None:
        self.folder = RunFolder(run_dir)
        self.run_dir, self.cfg, self.made_by, self.main, self.notice = run_dir, cfg, made_by, main, notice
        self.force = force
        self.step = step  # the trainer's step now: each status says the step it was written at
        self.metrics = MetricsLog(self.folder.metrics, enabled=main)
        self.loggers: list[Logger] = []
        self.record: RunFile | None = None
        self.begun = False  # whether the folder is written by this session yet (only after its first step)
        self.resume: dict[str, Any] | None = None  # where a resume took over: epoch, step, changes

    def status(self, state: str, detail: str = "") -> None:
        if self.main and self.begun and self.record is not None:
            self.record = self.record.with_status(state, detail, self.step())
            write_run_file(self.run_dir, self.record)

    def note_end(self, state: str, detail: str) -> None:
        """The status of a run that ends badly; the error that ended it is what the user must see, so a status
        that cannot be written (the disk that just filled up) gives way to it."""
        with contextlib.suppress(UserError):
            self.status(state, detail)

    def open_resumed(self) -> None:
        """Before anything of a resume is restored: the run's record, checked (nobody trains it right now; only
        what a run in progress may change differs). Nothing is written here."""
        if not self.main:
            return
        self.record = read_run_file(self.run_dir, "--resume")
        refuse_if_trained_now(self.run_dir, self.record, "--resume")
        self.resume = {"changes": config_changes(self.record.config, self.cfg)}

    @property
    def finished(self) -> bool:
        """Whether the run being resumed had ended as finished (rank 0 knows; the others say no)."""
        return self.record is not None and self.record.status.get("state") == "finished"

    @property
    def changes(self) -> dict[str, Any]:
        """The flags this resume changes, {"--flag": [old, new]}."""
        return {} if self.resume is None else self.resume["changes"]

    def resuming_at(self, epoch: int, step: int) -> None:
        if self.resume is not None:
            self.resume.update(epoch=epoch, step=step)

    def begin(self) -> None:
        """After the first step: a new run makes the folder its own (replacing a run there only with force); a
        resume trims the log to what its checkpoint has seen and records itself. Then the loggers open."""
        if self.main:
            if self.resume is None:
                self._make_folder(replacing=check_new_run(self.run_dir, self.force, from_python=True))
                self.record = RunFile(self.cfg, self.made_by)
            else:
                assert self.record is not None
                self.folder.remove_stale_temporaries()
                for damage in self.metrics.keep_up_to(self.resume["step"]):
                    self.notice(f"{damage.describe(self.metrics.path)}: dropped")
                entry = {"at": now(), **self.resume, "made_by": self.made_by}
                self.record = replace(self.record, config=self.cfg, resumes=[*self.record.resumes, entry])
        self.begun = True
        self.status("running")
        self._open_loggers(None if self.resume is None else self.resume["step"])

    def _make_folder(self, replacing: bool) -> None:
        """Make the folder a new run's: ``replacing`` (a run was there, and force said so) removes what that run
        owned; otherwise nothing but the new run's files changes."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in RunFolder.OWNED if replacing else RunFolder.FILES:
            _remove(self.run_dir / name)

    def _open_loggers(self, resume_step: int | None) -> None:
        if self.main:
            self.loggers = make_loggers(self.cfg.train.logger, self.folder, resume_step)

    def log(self, record: dict[str, Any]) -> None:
        self.metrics.write(record)
        for logger in self.loggers:
            logger.record(record)

    @property
    def draws(self) -> bool:
        return any(logger.draws for logger in self.loggers)

    def figure(self, figure: Any, step: int) -> None:
        for logger in self.loggers:
            logger.figure(FIGURE, figure, step)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
