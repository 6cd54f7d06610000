"""How a run trains: the optimiser, the schedule, logging and checkpoints, as a frozen dataclass whose fields are
`rnnlab train` flags of the Training and Output panels (config.flags). Where and how the process computes (device,
engine, threads) is config.runtime's.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.config.flags import (
    NON_NEGATIVE,
    OUTPUT,
    POSITIVE,
    SEED,
    TRAINING,
    UNIT,
    Unchosen,
    option,
    parse_names,
    show_names,
    validate,
)
from rnnlab.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, and how often to log and checkpoint."""

    epochs: int = option(5, "Passes over the training set.", TRAINING, True, range=POSITIVE, resumable=True)
    max_steps: int = option(
        0, "Stop after N optimiser steps in all; 0 = no limit.", TRAINING, range=NON_NEGATIVE, resumable=True, off=0
    )
    batch_size: int = option(
        128, "Samples per optimiser step (per process under torchrun).", TRAINING, True, range=POSITIVE
    )
    lr: float = option(1e-3, "Learning rate (the peak rate under a schedule).", TRAINING, True, range=POSITIVE)
    schedule: str = option(
        "constant",
        "constant, or cosine / linear decay from --lr to --lr x --final-lr-ratio over the run's steps.",
        TRAINING,
        per_dataset=True,
        choices=("constant", "cosine", "linear"),
    )
    warmup: int = option(
        0,
        "Raise the rate linearly from --lr/N to --lr over the first N steps; 0 = none.",
        TRAINING,
        range=NON_NEGATIVE,
        off=0,
    )
    final_lr_ratio: float = option(
        0.0, "Where cosine and linear decay end, as a fraction of --lr.", TRAINING, range=UNIT
    )
    optimizer: str = option(
        "adam",
        "adam, sgd, or rmsprop (its squared-gradient average decays by 0.9 per step, as in Keras).",
        TRAINING,
        choices=("adam", "sgd", "rmsprop"),
    )
    momentum: float = option(
        0.0, "Momentum of sgd and rmsprop (adam keeps its own).", TRAINING, range=NON_NEGATIVE, off=0.0
    )
    weight_decay: float = option(0.0, "L2 weight decay.", TRAINING, range=NON_NEGATIVE, off=0.0)
    clip: float = option(
        0.0, "Clip the global gradient norm to this value; 0 = off.", TRAINING, True, range=NON_NEGATIVE, off=0.0
    )
    seed: int = option(
        0,
        "Seeds parameters, dropout and shuffling: the same seed gives the same numbers on a CPU at the same "
        "--threads (a sum split over another thread count rounds differently).",
        TRAINING,
        range=SEED,
    )
    bf16: bool = option(False, "Run forward and backward under bf16 autocast.", TRAINING, off=False)
    on_nan: str = option(
        "stop",
        "On a NaN or infinite loss: stop (keep the last good checkpoint) or skip that batch.",
        TRAINING,
        choices=("stop", "skip"),
        resumable=True,
    )
    patience: int = option(
        0,
        "Stop early once validation accuracy has not risen for N epochs (best.pt keeps the best); 0 = never.",
        TRAINING,
        range=NON_NEGATIVE,
        resumable=True,
        off=0,
    )
    log_every: int = option(50, "Write a metrics.jsonl line every N steps.", OUTPUT, range=POSITIVE, resumable=True)
    logger: tuple[str, ...] = option(
        (),
        "Also log live curves: tensorboard (RUN/logs, for `tensorboard --logdir RUN/logs`; needs the tensorboard "
        "package) and/or csv (RUN/metrics.csv), comma-separated.",
        OUTPUT,
        choices=("tensorboard", "csv"),
        parse=parse_names,
        show=show_names,
        metavar="tensorboard,csv",
        resumable=True,
    )
    checkpoint_every: int = option(
        0,
        "Also write checkpoint.pt every N steps (it is always written at each epoch's end); 0 = only then.",
        OUTPUT,
        range=NON_NEGATIVE,
        resumable=True,
    )

    def __post_init__(self) -> None:
        validate(self)
        # a schedule left at its default may still become the dataset's own (RunConfig): checked once it has
        if self.final_lr_ratio and self.schedule == "constant" and not isinstance(self.schedule, Unchosen):
            raise ConfigError("final_lr_ratio", "sets where a decay ends; add --schedule cosine or linear")
        if self.momentum and self.optimizer == "adam":
            raise ConfigError("momentum", "applies to --optimizer sgd or rmsprop; adam keeps its own averages")
