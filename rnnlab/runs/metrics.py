"""metrics.jsonl: one JSON object per logged step, per epoch and per test, appended as training goes.

Appending line by line means a crash (kill -9, a full disk) can leave the last line cut short, and people edit run
files by hand; so there is one reader, which checks every line against the record it should be. A torn last
line is the expected mark of a crash; a damaged line elsewhere is reported by its number. Readers get the good
records and the list of damaged lines, and decide: resume drops them and says so, read-only commands warn.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError
from rnnlab.runs.files import atomic_write_text, describe_write_error
from rnnlab.runs.folder import RunFolder

NUMBER, WHOLE = "a number", "a whole number"
# the keys each kind of record must have, and what each holds
_VALIDATED = {"epoch": WHOLE, "step": WHOLE, "train_loss": NUMBER, "train_accuracy": NUMBER, "val_loss": NUMBER,
              "val_accuracy": NUMBER, "seconds": NUMBER}  # fmt: skip
RECORDS: dict[str, dict[str, str]] = {
    "step": {"epoch": WHOLE, "step": WHOLE, "loss": NUMBER, "accuracy": NUMBER, "lr": NUMBER},
    "epoch": _VALIDATED,  # at an epoch's end
    "final": _VALIDATED,  # where --max-steps ended the run inside an epoch
    "test": {"epoch": WHOLE, "step": WHOLE, "test_loss": NUMBER, "test_accuracy": NUMBER},
}


@dataclass(frozen=True)
class Damage:
    line: int  # 1-based
    reason: str
    torn: bool  # the last line, cut short: what a crash while appending leaves

    def describe(self, path: Path) -> str:
        what = (
            "its last line is cut short (a crash while writing it)" if self.torn else f"line {self.line} {self.reason}"
        )
        return f"{path}: {what}"


class Metrics(list):
    """The good records, in order (a list of dicts), and ``damaged``: the lines that were not."""

    def __init__(self, records: list[dict[str, Any]], damaged: list[Damage]) -> None:
        super().__init__(records)
        self.damaged = damaged

    def warnings(self, path: Path) -> list[str]:
        """One line per damaged line of the file at ``path``."""
        return [f"{damage.describe(path)}; skipped" for damage in self.damaged]


def _problem(record: Any) -> str | None:
    """Why a parsed line is not a metrics record, or None."""
    if not isinstance(record, dict):
        return f"is {type(record).__name__}, not an object"
    kind = record.get("kind")
    if kind not in RECORDS:
        return f"has no known kind ({kind!r}; expected one of {', '.join(RECORDS)})"
    for key, expected in RECORDS[kind].items():
        if key not in record:
            return f"({kind}) lacks {key!r}"
        value = record[key]
        if value is None and expected == NUMBER and not key.endswith("accuracy"):
            continue  # a loss that was not finite (JSON has no NaN)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"({kind}) has {key}={value!r}, expected {expected}"
        if expected == WHOLE and not isinstance(value, int):
            return f"({kind}) has {key}={value!r}, expected {expected}"
        if key.endswith("accuracy") and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            return f"({kind}) has {key}={value!r}, expected a fraction in [0, 1]"
    return None


def parse(text: str) -> Metrics:
    lines = text.split("\n")
    torn_possible = not text.endswith("\n")  # every complete line ends in a newline
    records, damaged = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = number == len(lines) and torn_possible
        try:
            record = json.loads(line)
        except ValueError:
            damaged.append(Damage(number, "is not valid JSON", torn=last))
            continue
        problem = _problem(record)
        if problem:
            damaged.append(Damage(number, problem, torn=False))
        else:
            records.append(record)
    return Metrics(records, damaged)


def read_metrics(run: Path) -> Metrics:
    """Every good record of RUN/metrics.jsonl and the lines that are not (empty when the file is missing)."""
    f = RunFolder(run).metrics
    if not f.is_file():
        return Metrics([], [])
    try:
        return parse(f.read_text(errors="replace"))
    except OSError as exc:
        raise UserError(f"cannot read {f}: {exc.strerror or exc}") from None


def finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a non-finite value (a diverged loss) is written as null and read as missing."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


class MetricsLog:
    """The writer: appends records; on resume, keeps only what the checkpoint has seen."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        size = self.path.stat().st_size if self.path.exists() else 0
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(finite(record), allow_nan=False) + "\n")
        except OSError as exc:
            with contextlib.suppress(OSError):  # a half-written line goes: shortening a file needs no space
                os.truncate(self.path, size)
            raise UserError(f"{describe_write_error(exc, self.path)}; the lines written before are intact") from None

    def keep_up_to(self, step: int) -> list[Damage]:
        """On resume: keep the step and epoch records up to the checkpoint's step, so the log reads as one run.

        Returns the damaged lines it dropped (a torn last line, lines edited by hand), for the caller to report.
        """
        if not self.enabled or not self.path.exists():
            return []
        metrics = read_metrics(self.path.parent)
        kept = [json.dumps(r) for r in metrics if r["step"] <= step and r["kind"] in ("step", "epoch")]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        return metrics.damaged
