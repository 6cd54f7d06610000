"""The run folder: config.json, metrics.jsonl, checkpoint.pt, best.pt. Never overwritten without --force."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig
from rnnlab.errors import UserError
from rnnlab.runs.files import atomic_write_text

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoint.pt", "best.pt")


def default_run_dir(root: Path = Path("runs")) -> Path:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    path, n = root / stamp, 1
    while path.exists():
        n += 1
        path = root / f"{stamp}_{n}"
    return path


def check_writable(path: Path) -> None:
    """Fail early if ``path`` could not be created and written, without creating anything."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"--out: cannot create {path}: {probe} is a file, not a folder; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"--out: cannot write to {probe} (permission denied); choose another --out")


def prepare_new_run(path: Path, force: bool) -> None:
    """Check a fresh run can be written to ``path`` without touching anything that is already there."""
    if path.exists() and not path.is_dir():
        raise UserError(f"--out: {path} is a file; give a folder")
    existing = [f for f in RUN_FILES if (path / f).exists()]
    if existing and not force:
        raise UserError(
            f"--out: {path} already holds a run ({', '.join(existing)}); pass --force to replace it, or --resume {path}"
        )
    check_writable(path)


def remove_stale_temporaries(path: Path) -> None:
    """A process killed while writing leaves `.checkpoint.pt.*.tmp` beside the intact old file: sweep them."""
    for f in path.glob(".*.tmp"):
        f.unlink(missing_ok=True)


def clear_run(path: Path) -> None:
    """Only after every check has passed: create the folder, and (--force) remove the old run's files."""
    path.mkdir(parents=True, exist_ok=True)
    for f in RUN_FILES:
        (path / f).unlink(missing_ok=True)


def write_config(path: Path, cfg: RunConfig) -> None:
    atomic_write_text(path / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")


def read_config(run: Path, what: str = "--resume") -> RunConfig:
    """The run's config; ``what`` names the argument that gave the folder, for the error."""
    f = run / "config.json"
    if not f.is_file():
        raise UserError(f"{what}: {run} has no config.json; give a run folder written by `rnnlab train`")
    try:
        return RunConfig.from_dict(json.loads(f.read_text()))
    except (ValueError, TypeError) as exc:
        raise UserError(f"{what}: {f} is not a valid rnnlab config ({exc})") from None


class MetricsLog:
    """metrics.jsonl: one JSON object per logged step and per epoch, appended as training goes."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """On resume: keep only the step and epoch lines up to the checkpoint, so the log reads as one run."""
        if self.enabled and self.path.exists():
            records = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            kept = [json.dumps(r) for r in records if r["step"] <= step and r["kind"] in ("step", "epoch")]
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))


def read_metrics(run: Path) -> list[dict[str, Any]]:
    f = run / "metrics.jsonl"
    if not f.is_file():
        return []
    return [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
