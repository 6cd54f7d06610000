"""What training writes beside the checkpoints, in one place: config.json (who made the run, its resumes, its
status), metrics.jsonl and the live loggers. Rank 0 alone writes, and nothing before ``begin``, which comes after
the first step: a start or a resume that fails leaves the folder exactly as it was.
"""

from __future__ import annotations

import contextlib
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
from rnnlab.runs.folder import begin_run, remove_stale_temporaries, run_files
from rnnlab.runs.metrics import MetricsLog
from rnnlab.train.loggers import make_loggers
from rnnlab.train.results import Reporter
from rnnlab.train.state import TrainState

FIGURE = "validation sample 0: P(class) after each step"


class RunBook:
    def __init__(
        self,
        run_dir: Path,
        cfg: RunConfig,
        made_by: dict[str, Any],
        main: bool,
        reporter: Reporter,
        force: bool,
        state: TrainState,
    ) -> None:
        self.run_dir, self.cfg, self.made_by, self.main, self.reporter = run_dir, cfg, made_by, main, reporter
        self.force = force
        self.state = state  # the trainer's, updated in place: each status says the step it was written at
        self.metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
        self.loggers: list[Any] = []
        self.record: RunFile | None = None
        self.begun = False  # whether the folder is written by this session yet (only after its first step)
        self.resume: dict[str, Any] | None = None  # where a resume took over: epoch, step, changes

    def status(self, state: str, detail: str = "") -> None:
        if self.main and self.begun and self.record is not None:
            self.record = self.record.with_status(state, detail, self.state.step)
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
                existing = run_files(self.run_dir)
                if existing and not self.force:
                    raise UserError(
                        f"{self.run_dir} already holds a run ({', '.join(existing)}); replace it with --force "
                        "(fit(..., force=True)), or continue it with --resume"
                    )
                if existing:
                    refuse_if_trained_now(self.run_dir, None, "--force")
                begin_run(self.run_dir, replace=bool(existing))
                self.record = RunFile(self.cfg, self.made_by)
            else:
                assert self.record is not None
                remove_stale_temporaries(self.run_dir)
                for damage in self.metrics.keep_up_to(self.resume["step"]):
                    self.reporter.notice(f"{damage.describe(self.metrics.path)}: dropped")
                entry = {"at": now(), **self.resume, "made_by": self.made_by}
                self.record = replace(self.record, config=self.cfg, resumes=[*self.record.resumes, entry])
        self.begun = True
        self.status("running")
        self._open_loggers(None if self.resume is None else self.resume["step"])

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
