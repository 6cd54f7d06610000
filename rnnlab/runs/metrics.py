"""metrics.jsonl: one JSON object per logged step, per epoch and per test, appended as training goes.

Appending line by line means a crash (kill -9, a full disk) can leave the last line cut short, and people edit run
files by hand; so there is one reader, which checks every line against the record it should be. A torn last
line is the expected mark of a crash; a damaged line elsewhere is reported by its number. Readers get the good
records and the list of damaged lines, and decide: resume drops them and says so, read-only commands warn.

A file handed over may be hostile: the reader streams it a line at a time, refuses a line longer or nested deeper
than any rnnlab writes before parsing it, and keeps bounded memory whatever the file's size: past MAX_STEPS step
records it keeps every other one (a curve drawn from them looks the same), past MAX_RECORDS records of another
kind the rest count as damaged, and it lists the first MAX_DAMAGED damaged lines with a count of the others.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rnnlab import reading
from rnnlab.errors import UserError
from rnnlab.runs.files import atomic_write_bytes, describe_write_error
from rnnlab.runs.folder import RunFolder
from rnnlab.text import short_repr

MAX_LINE = 65_536  # bytes; rnnlab's longest line (an epoch's, with per-class figures) is under 2,000
MAX_STEPS = 20_000  # step records kept; past them, every other one
MAX_RECORDS = 20_000  # records of each other kind kept (epoch, final, test); 300 epochs write 300
MAX_DAMAGED = 20  # damaged lines listed; the rest are counted
EXTRA = 16  # undeclared keys a record keeps

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
OPTIONAL: dict[str, str | tuple[str, ...]] = {"samples_per_s": NUMBER, "skipped": WHOLE, "which": ("last", "best")}


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
    """The good records, in order (a list of dicts), and ``damaged``: the lines that were not (the first
    MAX_DAMAGED of them; ``more_damaged`` counts the others)."""

    def __init__(self, records: list[dict[str, Any]], damaged: list[Damage], more_damaged: int = 0) -> None:
        super().__init__(records)
        self.damaged = damaged
        self.more_damaged = more_damaged

    def warnings(self, path: Path) -> list[str]:
        """One line per damaged line of the file at ``path``."""
        lines = [f"{damage.describe(path)}; skipped" for damage in self.damaged]
        if self.more_damaged:
            lines.append(f"{path}: {self.more_damaged:,} more damaged lines; skipped")
        return lines


def _problem(record: Any) -> str | None:
    """Why a parsed line is not a metrics record, or None."""
    if not isinstance(record, dict):
        return f"is {type(record).__name__}, not an object"
    kind = record.get("kind")
    if kind not in RECORDS:
        return f"has no known kind ({kind!r}; expected one of {', '.join(RECORDS)})"
    wanted: dict[str, str | tuple[str, ...]] = {**RECORDS[kind], **{k: v for k, v in OPTIONAL.items() if k in record}}
    for key, expected in wanted.items():
        if key not in record:
            return f"({kind}) lacks {key!r}"
        value = record[key]
        problem = _value_problem(key, value, expected)
        if problem:
            return f"({kind}) has {key}={short_repr(value)}, expected {problem}"
    return None


def _value_problem(key: str, value: Any, expected: str | tuple[str, ...]) -> str | None:
    """What a value should have been (the writer's own ranges), or None."""
    if isinstance(expected, tuple):
        return None if value in expected else f"one of {', '.join(expected)}"
    if value is None and expected == NUMBER and not key.endswith("accuracy"):
        return None  # a loss that was not finite (the writer puts null: JSON has no NaN)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return expected
    if expected == WHOLE and not (isinstance(value, int) and 0 <= value < 2**63):
        return "a whole number >= 0"
    if not math.isfinite(value):
        return "a finite number"
    if key.endswith("accuracy") and not 0 <= value <= 1:
        return "a fraction in [0, 1]"
    if key in ("seconds", "samples_per_s") and value < 0:
        return "a number >= 0"
    if key.endswith("loss") and not 0 <= value <= 1e30:  # cross-entropy: >= 0; a diverged run reaches 1e10, not 1e308
        return "a loss in [0, 1e30]"
    return None


def _lines(f: IO[bytes]) -> Iterator[tuple[int, bytes | None, bool]]:
    """(number, line, last) for each line of ``f``, 1-based, without its newline; None for a line longer than
    MAX_LINE (skipped unread, a chunk at a time); ``last``: a final line without a newline (torn by a crash)."""
    number = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = f.readline(MAX_LINE)
            yield number, None, not line
            continue
        ended = line.endswith(b"\n")
        yield number, line.rstrip(b"\n"), not ended


def read_stream(f: IO[bytes]) -> Metrics:
    """Every good record of a metrics.jsonl stream, and its damaged lines, in bounded memory (see the module)."""
    records: list[dict[str, Any]] = []
    damaged: list[Damage] = []
    more, steps, stride, counts = 0, 0, 1, dict.fromkeys(RECORDS, 0)
    latest: dict[str, Any] | None = None  # the newest step record, where thinning passed over it
    for number, line, last in _lines(f):
        damage, record = _check_line(number, line, last)
        if damage is None and record is None:
            continue  # a blank line
        if damage is None:
            assert record is not None
            kind = record["kind"]
            counts[kind] += 1
            if kind == "step":
                steps += 1
                latest = record
                if (steps - 1) % stride:
                    continue
                if steps > MAX_STEPS * stride:  # thin what is kept to every other one, and keep every 2 * stride-th
                    records = _thinned(records, stride)
                    stride *= 2
                    if (steps - 1) % stride:
                        continue
                latest = None
            elif counts[kind] > MAX_RECORDS:
                damage = Damage(number, f"({kind}) is past the {MAX_RECORDS:,} such records any run writes", False)
        if damage is None:
            records.append(record)  # type: ignore[arg-type]
        elif len(damaged) < MAX_DAMAGED:
            damaged.append(damage)
        else:
            more += 1
    if latest is not None:  # a thinned log still ends where the run did
        records.append(latest)
    return Metrics(records, damaged, more)


def _thinned(records: list[dict[str, Any]], stride: int) -> list[dict[str, Any]]:
    """Every other kept step record (those at multiples of 2 * stride), every record of another kind."""
    kept, k = [], 0
    for r in records:
        if r["kind"] == "step":
            k += 1
            if (k - 1) % 2:
                continue
        kept.append(r)
    return kept


def _check_line(number: int, line: bytes | None, last: bool) -> tuple[Damage | None, dict[str, Any] | None]:
    if line is None:
        return Damage(number, f"is longer than any rnnlab writes (over {MAX_LINE:,} bytes)", torn=False), None
    text = line.decode("utf-8", errors="replace")
    if not text.strip():
        return None, None
    try:
        record = reading.loads(text)
    except ValueError as exc:
        reason = "is not valid JSON" if "nested" not in str(exc) else f"is {exc}"
        return Damage(number, reason, torn=last and "nested" not in str(exc)), None
    problem = _problem(record)
    return (Damage(number, problem, torn=False), None) if problem else (None, _kept(record))


def _kept(record: dict[str, Any]) -> dict[str, Any]:
    """The record's declared keys, and at most EXTRA others of a plain value: a line of 64 KiB holding lists or
    thousands of keys would otherwise weigh megabytes once parsed, times every record kept."""
    declared = {"kind", *RECORDS[record["kind"]], *OPTIONAL}
    extra = [k for k, v in record.items() if k not in declared and len(k) <= 64 and isinstance(v, (int, float, str))]
    return {k: v for k, v in record.items() if k in declared or k in extra[:EXTRA] and not _long(v)}


def _long(value: Any) -> bool:
    return isinstance(value, str) and len(value) > 256


def parse(text: str) -> Metrics:
    return read_stream(io.BytesIO(text.encode()))


def read_metrics(run: Path) -> Metrics:
    """Every good record of RUN/metrics.jsonl and the lines that are not (empty when the file is missing)."""
    f = RunFolder(run).metrics
    reading.require_regular(f)
    if not f.is_file():
        return Metrics([], [])
    try:
        with open(f, "rb") as stream:
            return read_stream(stream)
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
        reading.require_regular(self.path)
        damaged: list[Damage] = []

        def keep(out: IO[bytes]) -> None:  # a line at a time: the file may be of any size
            with open(self.path, "rb") as f:
                for number, line, last in _lines(f):
                    damage, r = _check_line(number, line, last)
                    if damage is not None:
                        if len(damaged) < MAX_DAMAGED:
                            damaged.append(damage)
                    elif r is not None and r["step"] <= step and r["kind"] in ("step", "epoch"):
                        out.write(json.dumps(r).encode() + b"\n")

        atomic_write_bytes(self.path, keep)
        return damaged
