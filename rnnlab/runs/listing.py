"""Many runs at once: what each one is (status, epochs, best validation, test accuracy), and the flags in which
they differ, so that runs that differ in one setting read as that setting (`rnnlab runs`, `rnnlab compare-runs`).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig, flag_of
from rnnlab.config.run import SAVED_IN, SECTIONS
from rnnlab.errors import UserError, flag_name
from rnnlab.runs.best import best_index
from rnnlab.runs.config_file import RunFile, read_run_file, state_of
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.metrics import read_metrics

# Never part of a label: settings that say where or how often rather than what was trained, and sizes that follow
# from --dataset and --sequence (no flag sets them).
NOT_RECIPE = {
    "data.data_dir",
    "train.log_every",
    "train.checkpoint_every",
    "train.reuse_cpu_memory",
    "train.threads",
    "train.logger",
    "model.input_size",
    "model.num_classes",
}


def settings_of(cfg: RunConfig) -> dict[str, Any]:
    """Flat settings, "section.name" -> value, through RunConfig: a setting a run predates reads as its default."""
    return {f"{section}.{k}": v for section, values in cfg.to_dict().items() for k, v in values.items()}


def _declared_off() -> dict[str, Any]:
    """The value at which a setting does nothing (Flag.off), by "section.name", for each setting declaring one."""
    offs = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            flag = flag_of(f)
            if flag is not None and flag.off is not None:
                offs[f"{SAVED_IN.get(section, section)}.{f.name}"] = flag.off
    return offs


OFF = _declared_off()


def does_something(key: str, value: Any) -> bool:
    """False where ``value`` is the one at which the setting does nothing (--max-steps 0, --clip 0.0)."""
    off = OFF.get(key)
    return off is None or value != off


def flag_text(key: str, value: Any) -> str:
    name = flag_name(key.split(".", 1)[1])
    if isinstance(value, bool):
        return name if value else name.replace("--", "--no-", 1)
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f"{name} {value}"


def differing(settings: list[dict[str, Any]]) -> list[str]:
    """The recipe settings whose values are not the same in every run, in config order."""
    keys = [k for k in settings[0] if k not in NOT_RECIPE]  # every run has every key: see settings_of
    return [k for k in keys if len({json.dumps(s[k]) for s in settings}) > 1]


@dataclass(frozen=True)
class RunSummary:
    path: Path
    record: RunFile
    records: list[dict[str, Any]] = field(repr=False)  # metrics.jsonl's good records
    warnings: list[str] = field(default_factory=list)  # its damaged lines, skipped
    flags: tuple[str, ...] = ()  # the flags in which it differs from the runs it is listed with (labelled)

    @property
    def label(self) -> str:
        """Its folder's name and those flags: `lr-high --lr 0.01`."""
        return " ".join([self.path.name, *self.flags])

    @property
    def settings(self) -> dict[str, Any]:
        return settings_of(self.record.config)

    @property
    def validations(self) -> list[dict[str, Any]]:
        """Every validation: at each epoch's end, and where --max-steps ended a run inside an epoch."""
        return [r for r in self.records if r["kind"] in ("epoch", "final")]

    @property
    def steps(self) -> int:
        """The last step logged, or the one its status was written at, if later (a stop between log lines)."""
        at = self.record.status.get("step")
        return max([r["step"] for r in self.records] + ([at] if isinstance(at, int) else []), default=0)

    @property
    def best(self) -> dict[str, Any] | None:
        """best.pt's validation: the one its test record names (what the trainer kept, whichever rule it had), else
        by runs.best's rule (the highest accuracy, the latest of equal ones) while the run goes on."""
        validations = self.validations
        scored = [r for r in self.records if r["kind"] == "test" and r.get("which") == "best"]
        kept = [v for v in validations if scored and v["step"] == scored[-1].get("step")]
        if kept:
            return kept[-1]
        k = best_index(validations)
        return None if k is None else validations[k]

    def test_accuracy(self, which: str = "last") -> float | None:
        """Of the last parameters, or of the best validation's (best.pt); runs from before the best was scored
        have one test record, of the last."""
        tests = [r for r in self.records if r["kind"] == "test" and r.get("which", "last") == which]
        return tests[-1]["test_accuracy"] if tests else None

    @property
    def seconds_per_epoch(self) -> float | None:
        full = [r["seconds"] for r in self.records if r["kind"] == "epoch"]
        return statistics.median(full) if full else None

    @property
    def state(self) -> str:
        """running, finished, stopped or failed (a run from before statuses were kept: judged by its log)."""
        if self.record.status:
            return state_of(self.record)
        return "finished" if self.test_accuracy() is not None else "stopped"

    def to_dict(self) -> dict[str, Any]:
        best, validations = self.best, self.validations
        return {
            "run": str(self.path),
            "label": self.label,
            "name": self.path.name,
            "flags": list(self.flags),
            "status": self.state,
            "detail": self.record.status.get("detail", ""),
            "started": self.record.made_by.get("at"),
            "engine": self.record.config.runtime.engine,
            "epochs": sum(r["kind"] == "epoch" for r in validations),  # finished ones
            "epochs_planned": self.record.config.train.epochs,
            "steps": self.steps,
            "best_val_accuracy": best["val_accuracy"] if best else None,
            "best_epoch": best["epoch"] + 1 if best and best["kind"] == "epoch" else None,
            "best_step": best["step"] if best else None,
            "last_val_accuracy": validations[-1]["val_accuracy"] if validations else None,
            "test_accuracy": self.test_accuracy(),
            "best_test_accuracy": self.test_accuracy("best"),
            "seconds_per_epoch": self.seconds_per_epoch,
            "val_accuracy_by_epoch": [r["val_accuracy"] for r in validations if r["kind"] == "epoch"],
        }


def load_run(path: Path, what: str = "RUN") -> RunSummary:
    if not path.is_dir():
        raise UserError(f"{what}: {path} is not a folder; give run folders written by `rnnlab train`")
    records = read_metrics(path)
    return RunSummary(path, read_run_file(path, what), records, records.warnings(RunFolder(path).metrics))


def labelled(runs: list[RunSummary]) -> list[RunSummary]:
    """Each run labelled by its folder's name and the flags in which it differs from the others, those at the value
    that does nothing left out (of two runs, one with --max-steps 5, the other reads without --max-steps)."""
    keys = differing([r.settings for r in runs]) if runs else []
    return [
        replace(r, flags=tuple(flag_text(k, v) for k in keys if does_something(k, v := r.settings[k]))) for r in runs
    ]


def find_runs(root: Path, depth: int = 3, unreadable: list[Path] | None = None) -> list[Path]:
    """The run folders (those holding config.json) at or under ``root``, in name order; a folder that cannot be
    looked into (permission denied) is passed over and added to ``unreadable``."""
    try:
        if RunFolder(root).config.is_file():
            return [root]
        if depth == 0 or not root.is_dir():
            return []
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        if unreadable is not None:
            unreadable.append(root)
        return []
    found: list[Path] = []
    for child in children:
        found += find_runs(child, depth - 1, unreadable)
    return found
