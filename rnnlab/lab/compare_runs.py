"""`rnnlab compare-runs`: several run folders side by side, labelled by the settings in which they differ.

Tuning a recipe means reading many runs that differ in one or two flags; the label of each run is exactly those
flags (--init identity --chrono 784), so a figure or table needs no key on the side.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError
from rnnlab.runs.config_file import read_config
from rnnlab.runs.metrics import read_metrics

# Never part of a label: settings that say where or how often rather than what was trained, and sizes that follow
# from --dataset and --sequence (no flag sets them).
NOT_RECIPE = {
    "data.data_dir",
    "train.log_every",
    "train.checkpoint_every",
    "train.reuse_cpu_memory",
    "train.threads",
    "model.input_size",
    "model.num_classes",
}


@dataclass(frozen=True)
class RunSummary:
    path: Path
    settings: dict[str, Any]  # "section.name" -> value, from config.json
    records: list[dict[str, Any]] = field(repr=False)
    label: str = ""
    warnings: list[str] = field(default_factory=list)  # damaged lines of metrics.jsonl, skipped

    @property
    def epochs(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] in ("epoch", "final")]

    @property
    def steps(self) -> int:
        return max((r["step"] for r in self.records), default=0)

    @property
    def best(self) -> dict[str, Any] | None:
        return max(self.epochs, key=lambda r: r["val_accuracy"], default=None)

    def test_accuracy(self, which: str = "last") -> float | None:
        """Of the last parameters, or of the best validation's (best.pt); runs from before the best was scored
        have one test record, of the last."""
        tests = [r for r in self.records if r["kind"] == "test" and r.get("which", "last") == which]
        return tests[-1]["test_accuracy"] if tests else None

    @property
    def seconds_per_epoch(self) -> float | None:
        full = [r["seconds"] for r in self.records if r["kind"] == "epoch"]
        return statistics.median(full) if full else None

    def to_dict(self) -> dict[str, Any]:
        best, epochs = self.best, self.epochs
        return {
            "run": str(self.path),
            "label": self.label,
            "epochs": len(epochs),
            "steps": self.steps,
            "best_val_accuracy": best["val_accuracy"] if best else None,
            "best_epoch": best["epoch"] + 1 if best else None,
            "last_val_accuracy": epochs[-1]["val_accuracy"] if epochs else None,
            "test_accuracy": self.test_accuracy(),
            "best_test_accuracy": self.test_accuracy("best"),
            "seconds_per_epoch": self.seconds_per_epoch,
            "val_accuracy_by_epoch": [r["val_accuracy"] for r in epochs],
        }


def _flat(raw: dict[str, Any]) -> dict[str, Any]:
    return {f"{section}.{k}": v for section, values in raw.items() for k, v in values.items()}


def load_run(path: Path) -> RunSummary:
    if not path.is_dir():
        raise UserError(f"RUN: {path} is not a folder; give run folders written by `rnnlab train`")
    # through RunConfig, so that a setting a run predates reads as its default, not as a difference
    settings = _flat(read_config(path, "RUN").to_dict())
    records = read_metrics(path)
    if not any(r["kind"] in ("epoch", "final") for r in records):
        raise UserError(f"RUN: {path} has not finished an epoch yet; nothing to compare")
    return RunSummary(path, settings, records, warnings=records.warnings(path))


def _flag(key: str, value: Any) -> str:
    name = "--" + key.split(".", 1)[1].replace("_", "-")
    if isinstance(value, bool):
        return name if value else name.replace("--", "--no-", 1)
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    return f"{name} {value}"


def differing(runs: list[RunSummary]) -> list[str]:
    """The recipe settings whose values are not the same in every run, in config order."""
    keys = [k for k in runs[0].settings if k not in NOT_RECIPE]  # the same keys in every run: see load_run
    return [k for k in keys if len({json.dumps(r.settings[k]) for r in runs}) > 1]


def load_runs(paths: list[Path]) -> list[RunSummary]:
    """Each run labelled by its folder's name and the flags in which it differs from the others."""
    runs = [load_run(p) for p in paths]
    keys = differing(runs)
    return [replace(run, label=" ".join([run.path.name, *(_flag(k, run.settings[k]) for k in keys)])) for run in runs]
