"""A trained run, read: its checkpoint's model under any engine on any device, its config and preprocessing, and
its scores on a split. Every command and script that loads a trained model loads it here (a resume restores its
own trainer's model from the checkpoint instead).

    from rnnlab.runs.run import Run
    run = Run.open("runs/my-run")              # its best.pt, else checkpoint.pt
    run.evaluate("test").accuracy               # what `rnnlab eval runs/my-run` prints
    run.engine("bptt").evaluate("val")          # the same parameters under another engine

``rnnlab.load`` returns the same object with what ``look`` adds: predictions and traces on new images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from rnnlab.cells import get_engine
from rnnlab.config import RunConfig
from rnnlab.config.commands import EvalConfig
from rnnlab.data import SequenceData, load_sequences
from rnnlab.data.preprocess import Preprocessing
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.checkpoint import config_of, load_checkpoint, model_from_checkpoint, preprocessing_of
from rnnlab.runs.config_file import RunFile, read_run_file
from rnnlab.runs.evaluation import EvalResult, evaluate
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.metrics import Metrics, read_metrics
from rnnlab.runtime.device import resolve_device
from rnnlab.runtime.free_memory import check_model_fits

R = TypeVar("R", bound="Run")


@dataclass
class Run:
    """A trained model with what it needs to read a new image, and the run it came from."""

    model: SequenceClassifier  # in eval mode, on ``device``
    config: RunConfig
    preprocessing: Preprocessing
    path: Path  # the checkpoint file
    saved: dict[str, Any] = field(default_factory=dict)  # where in training it was saved: epoch, step, batch_in_epoch

    @classmethod
    def open(
        cls: type[R],
        run: str | Path,
        engine: str | None = None,
        device: str | torch.device = "cpu",
        data_dir: str | None = None,
        on_device: Callable[[torch.device], object] | None = None,
    ) -> R:
        """A run folder (its best.pt, else checkpoint.pt) or a checkpoint file, ready to use.

        ``engine``: how the recurrent layers are computed (default: the one it trained with); ``device``: cpu,
        cuda, auto or a torch.device (`rnnlab eval` takes auto); ``data_dir``: where an older checkpoint's training
        set is, to measure the preprocessing it lacks; ``on_device``: called with the device before the model is
        built there (eval sets how the CPU allocator keeps freed memory)."""
        ckpt = load_checkpoint(run)  # a run that is not there is the first thing to say
        cfg = config_of(ckpt)
        if isinstance(device, str):
            device = resolve_device(device)
        if on_device is not None:
            on_device(device)
        name = engine or cfg.runtime.engine
        regularisers = ("zoneout",) if "zoneout" in cfg.model.regularisers else ()  # what evaluation computes
        get_engine(name, device).check_model(cfg.model.cell, False, regularisers)  # one line, before the model
        model = model_from_checkpoint(ckpt, name)  # checked against the CPU's free memory, and built there
        if device.type != "cpu":
            check_model_fits(cfg.model, device, ckpt["path"])
        model = model.to(device).eval()
        saved = {key: ckpt.get(key) for key in ("epoch", "step", "batch_in_epoch")}
        return cls(model, cfg, preprocessing_of(ckpt, data_dir), Path(ckpt["path"]), saved)

    def engine(self: R, name: str) -> R:
        """Run the same parameters under another engine (nothing is copied); returns this run."""
        get_engine(name, self.device)
        self.model.engine = name
        return self

    def evaluate(
        self,
        split: str = EvalConfig.split,
        batch_size: int = EvalConfig.batch_size,
        data_dir: str | None = None,
        test_subset: int = 0,
        data: SequenceData | None = None,
        plain: bool = False,
    ) -> EvalResult:
        """Accuracy, loss, per-class accuracy, samples/s and peak memory on ``split`` (train, val or test), as
        `rnnlab eval` measures them, in batches of ``batch_size`` (0: the whole split at once); the run's data read
        from ``data_dir`` (default: where it trained), or ``data`` already loaded; ``test_subset``: only the first
        N test images (0: all); ``plain``: the layers as a plain nn.LSTM computes them (a zoneout model without its
        evaluation rule, which mixes in the share of the previous state)."""
        chosen = EvalConfig(split=split, batch_size=batch_size)  # a bad split or size: one line naming it
        if data is None:
            where = data_dir or self.config.data.data_dir
            data = load_sequences(replace(self.config.data, data_dir=where, test_subset=test_subset))
        x, y = getattr(data, chosen.split)
        batch = chosen.batch_size or max(len(y), 1)
        layout, lengths = self.config.data.layout, data.lengths_of(split)
        before, self.model.regularise = self.model.regularise, not plain
        try:
            return evaluate(self.model, x, y, batch, layout, self.device, data.num_classes, lengths=lengths)
        finally:
            self.model.regularise = before

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.path.parent)

    @property
    def which(self) -> str:
        """'best' (best.pt), 'last' (checkpoint.pt), or the file's name."""
        return RunFolder.which(self.path)

    @property
    def where(self) -> str:
        """'best: epoch 3, step 120', or 'last: step 50, inside epoch 2' for a checkpoint from inside an epoch."""
        epoch, step = self.saved.get("epoch"), self.saved.get("step")
        if self.saved.get("batch_in_epoch") and isinstance(epoch, int):
            return f"{self.which}: step {step}, inside epoch {epoch + 1}"
        return f"{self.which}: epoch {epoch}, step {step}"

    def record(self) -> RunFile:
        """The run's config.json: who made it, its resumes, its status."""
        return read_run_file(self.folder.path)

    def metrics(self) -> Metrics:
        """Every good record of the run's metrics.jsonl, and the damaged lines."""
        return read_metrics(self.folder.path)

    def describe(self) -> str:
        """'runs/a/best.pt (LSTM 2 x 32 on digits, rows: 8 steps of 8)'."""
        m, p = self.config.model, self.preprocessing
        steps, features = self.config.data.shape
        hidden = "/".join(map(str, m.hidden_sizes)) if len(set(m.hidden_sizes)) > 1 else str(m.hidden_sizes[0])
        net = f"{'bidirectional ' if m.bidirectional else ''}{m.cell.upper()} {m.layers} x {hidden}"
        return f"{self.path} ({net} on {p.dataset}, {p.sequence}: {steps} steps of {features})"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def size(self) -> tuple[int, int]:
        return self.preprocessing.image_size
