"""What a trainer holds, declared once with its types: the Trainer (train.loop) is one, and the code that resumes it
(train.resume) and scores it (train.scoring) is typed against this, not against the loop that uses them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnlab.config import RunConfig
from rnnlab.data import SequenceData
from rnnlab.model.classifier import SequenceClassifier
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.writer import RunWriter
from rnnlab.runtime.distributed import DistInfo
from rnnlab.train.results import Reporter
from rnnlab.train.state import TrainState


class TrainerParts:
    cfg: RunConfig
    run_dir: Path
    folder: RunFolder
    info: DistInfo  # this process's place under torchrun
    device: torch.device
    reporter: Reporter
    data: SequenceData
    model: SequenceClassifier
    opt: torch.optim.Optimizer
    st: TrainState  # the position in training: what a checkpoint carries
    writer: RunWriter  # everything the run writes beside the checkpoints
    per_epoch: int  # steps in an epoch
    total: int  # steps in the run (--max-steps, else epochs x per_epoch)
    saved_step: int | None  # the step of the last checkpoint.pt on disk
    best: tuple[int, int, dict[str, torch.Tensor]] | None  # best.pt's epoch, step, state (on CPU)

    def save(self, best: bool = False) -> None:
        """checkpoint.pt, or best.pt with ``best`` (the Trainer's)."""
        raise NotImplementedError
