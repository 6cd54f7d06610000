"""Live curves while a run trains: TensorBoard event files (RUN/logs) and a CSV file (RUN/metrics.csv).

metrics.jsonl is always written; these are for the tools people already watch curves with. TensorBoard goes
through ``torch.utils.tensorboard`` (the tensorboard package is an optional extra: `pip install 'rnnlab[tensorboard]'`).
Each logger takes the same records metrics.jsonl gets, and an epoch's figure where it can show one (the trainer
is handed the function that draws it: rnnlab.look.epoch.epoch_figure from the CLI).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Protocol

from rnnlab.errors import UserError
from rnnlab.runs.files import atomic_write_text, describe_write_error
from rnnlab.runs.folder import RunFolder, output_folder

SCALARS = {  # metrics.jsonl key -> TensorBoard tag
    "loss": "train/loss (last log window)",
    "accuracy": "train/accuracy (last log window)",
    "lr": "train/learning rate",
    "samples_per_s": "train/samples per second",
    "train_loss": "epoch/train loss",
    "train_accuracy": "epoch/train accuracy",
    "val_loss": "epoch/validation loss",
    "val_accuracy": "epoch/validation accuracy",
    "test_loss": "test/loss",
    "test_accuracy": "test/accuracy",
}


class Logger(Protocol):
    draws: bool  # whether it shows figures (an epoch's figure is drawn only for one that does)

    def record(self, record: dict[str, Any]) -> None: ...
    def figure(self, tag: str, figure: Any, step: int) -> None: ...
    def close(self) -> None: ...


def _summary_writer() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError(
            "--logger tensorboard: the tensorboard package is not installed; "
            "`pip install tensorboard` (or rnnlab[tensorboard]), or use --logger csv"
        ) from None
    return SummaryWriter


class TensorBoardLogger:
    draws = True  # takes each epoch's figure

    def __init__(self, folder: Path, purge_step: int | None = None) -> None:
        # a resumed run starts again at its checkpoint's step: TensorBoard drops what was logged after it
        self.writer = _summary_writer()(str(folder), purge_step=purge_step)

    def record(self, record: dict[str, Any]) -> None:
        for key, tag in SCALARS.items():
            value = record.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if record["kind"] == "test":  # the last and the best parameters each get their own curve
                    tag = f"test/{record.get('which', 'last')} {tag.split('/', 1)[1]}"
                self.writer.add_scalar(tag, value, record["step"])

    def figure(self, tag: str, figure: Any, step: int) -> None:
        self.writer.add_figure(tag, figure, step, close=False)

    def close(self) -> None:
        self.writer.close()


class CsvLogger:
    """One row per record, every column a metrics key; the header is written once, when the file is new."""

    draws = False
    COLUMNS = ("kind", "which", "epoch", "step", "lr", "loss", "accuracy", "samples_per_s", "train_loss",
               "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds")  # fmt: skip

    def __init__(self, path: Path, keep_up_to: int | None = None) -> None:
        self.path = path
        if keep_up_to is not None and path.exists():  # resuming: keep what the checkpoint has seen, as metrics.jsonl
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if _kept(r, keep_up_to)]
            text = io.StringIO()
            writer = csv.DictWriter(text, self.COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(path, text.getvalue())

    def _write_rows(self, rows: list[dict[str, Any]], mode: str) -> None:
        new = mode == "w" or not self.path.exists()
        try:
            with self.path.open(mode, newline="") as f:
                writer = csv.DictWriter(f, self.COLUMNS, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerows(rows)
        except OSError as exc:
            raise UserError(f"{describe_write_error(exc, self.path)}; the rows written before are intact") from None

    def record(self, record: dict[str, Any]) -> None:
        self._write_rows([record], "a")

    def figure(self, tag: str, figure: Any, step: int) -> None:
        """A CSV holds no figure."""

    def close(self) -> None:
        """Every row is written as it comes."""


def _kept(row: dict[str, str], step: int) -> bool:
    return row.get("kind") in ("step", "epoch") and row.get("step", "").isdigit() and int(row["step"]) <= step


def check_loggers(names: tuple[str, ...]) -> None:
    """Before a run begins: a logger that cannot work is refused while nothing is written yet."""
    if "tensorboard" in names:
        _summary_writer()


def make_loggers(names: tuple[str, ...], folder: RunFolder, resume_step: int | None) -> list[Logger]:
    loggers: list[Logger] = []
    for name in names:
        if name == "tensorboard":
            output_folder(folder.logs, own=True)  # a handed-over run's logs/ may be a link to anywhere
            loggers.append(TensorBoardLogger(folder.logs, None if resume_step is None else resume_step + 1))
        elif name == "csv":
            loggers.append(CsvLogger(folder.metrics_csv, resume_step))
    return loggers
