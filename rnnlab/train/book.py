"""What training writes beside the checkpoints, in one place: config.json (who made the run, its resumes, its
status), metrics.jsonl and the live loggers. Rank 0 alone writes; a new run writes nothing before begin_new.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig
from rnnlab.errors import UserError
from rnnlab.runs.config_file import RunFile, config_changes, now, read_run_file, state_of, write_run_file
from rnnlab.runs.folder import begin_run, remove_stale_temporaries
from rnnlab.runs.metrics import MetricsLog
from rnnlab.train.loggers import make_loggers
from rnnlab.train.results import Reporter

FIGURE = "validation sample 0: P(class) after each step"


class RunBook:
    def __init__(self, run_dir: Path, cfg: RunConfig, made_by: dict[str, Any], main: bool, reporter: Reporter) -> None:
        self.run_dir, self.cfg, self.made_by, self.main, self.reporter = run_dir, cfg, made_by, main, reporter
        self.metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
        self.loggers: list[Any] = []
        self.record: RunFile | None = None
        self.begun = False  # whether the run folder is this run's (a new one: once its first step is taken)
        self.changes: dict[str, list[Any]] = {}

    def status(self, state: str, detail: str = "") -> None:
        if self.main and self.begun and self.record is not None:
            self.record = self.record.with_status(state, detail)
            write_run_file(self.run_dir, self.record)

    def note_end(self, state: str, detail: str) -> None:
        """The status of a run that ends badly; the error that ended it is what the user must see, so a status
        that cannot be written (the disk that just filled up) gives way to it."""
        with contextlib.suppress(UserError):
            self.status(state, detail)

    def begin_new(self) -> None:
        """Make run_dir this run's (replacing a run there, which --force allowed): after the first step only."""
        if self.main:
            begin_run(self.run_dir)
            self.record = RunFile(self.cfg, self.made_by)
        self.begun = True
        self.status("running")
        self._open_loggers(None)

    def open_resumed(self) -> None:
        """Before anything of a resume is restored: the run's record, checked (not running, only what may change)."""
        if not self.main:
            return
        self.record = read_run_file(self.run_dir, "--resume")
        if state_of(self.record) == "running":
            owner = f"process {self.record.status.get('pid')} on {self.record.status.get('host')}"
            raise UserError(f"--resume: {self.run_dir} is being trained right now by {owner}; stop that first")
        self.changes = config_changes(self.record.config, self.cfg)

    def resumed(self, epoch: int, step: int) -> None:
        """The checkpoint is back: the log keeps what it has seen, config.json records the resume."""
        if self.main and self.record is not None:
            remove_stale_temporaries(self.run_dir)
            for damage in self.metrics.keep_up_to(step):
                self.reporter.notice(f"{damage.describe(self.metrics.path)}: dropped")
            resume = {"at": now(), "epoch": epoch, "step": step, "changes": self.changes, "made_by": self.made_by}
            self.record = replace(self.record, config=self.cfg, resumes=[*self.record.resumes, resume])
        self.begun = True
        self.status("running")
        self._open_loggers(step)

    def _open_loggers(self, resume_step: int | None) -> None:
        if self.main:
            self.loggers = make_loggers(self.cfg.train.logger, self.run_dir, resume_step)

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
