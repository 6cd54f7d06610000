"""Frozen run configuration. Every validation error names the CLI flag that set the bad value.

Config flows one way: CLI options -> these dataclasses -> model / data / trainer. ``to_dict`` gives the plain
dict saved as ``config.json`` and inside every checkpoint, so ``torch.load(weights_only=True)`` can read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rnnlab.cells import CELLS, ENGINES
from rnnlab.errors import ConfigError

READOUTS = ("last", "state", "mean")
LAYOUTS = ("batch", "time")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
INITS = ("uniform", "orthogonal", "identity")
SCHEDULES = ("constant", "cosine", "linear")
DEVICES = ("auto", "cpu", "cuda")
ON_NAN = ("stop", "skip")


def check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(flag, f"unknown value {value!r}; choose one of {', '.join(choices)}")


def check_positive(flag: str, value: float, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(flag, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def parse_sizes(text: str | int | tuple[int, ...], flag: str = "--hidden") -> tuple[int, ...]:
    """'256' -> (256,); '128,256' -> (128, 256). Per-layer sizes are how --hidden takes a list."""
    if isinstance(text, int):
        sizes: tuple[int, ...] = (text,)
    elif isinstance(text, tuple):
        sizes = text
    else:
        try:
            sizes = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ConfigError(flag, f"expected a size or comma-separated sizes like 128,256, got {text!r}") from None
    if not sizes:
        raise ConfigError(flag, "expected at least one size")
    for size in sizes:
        check_positive(flag, size)
    return sizes


@dataclass(frozen=True)
class ModelConfig:
    """The architecture. Everything needed to rebuild the model from a checkpoint, and nothing else."""

    cell: str = "lstm"
    """Recurrent cell: lstm, gru or rnn (tanh). Parameters are laid out exactly as nn.LSTM/GRU/RNN lay them out."""
    input_size: int = 28
    """Features per time step; set from the dataset and sequence view, not by a flag."""
    hidden: tuple[int, ...] = (256,)
    """Hidden size per layer; one value repeats for every layer (--hidden 256 --layers 2)."""
    layers: int = 2
    """Number of stacked recurrent layers."""
    dropout: float = 0.5
    """Dropout between layers and on the stack's output (seed 001's output_keep_prob = 1 - dropout)."""
    bidirectional: bool = False
    """Run every layer forwards and backwards and concatenate the two outputs."""
    proj: int = 0
    """Size of a linear input projection before the first layer (seed 002 used 128); 0 means none."""
    readout: str = "last"
    """What the classifier reads: the last step's output, the final hidden state, or the mean over time."""
    forget_bias: float = 1.0
    """Added to the LSTM forget-gate bias at init (0.0 reproduces seed 000)."""
    init: str = "uniform"
    """Initial recurrent weights: uniform (PyTorch's), orthogonal, or identity (see rnnlab.model.init)."""
    chrono: int = 0
    """LSTM gate biases by chrono initialisation for dependencies up to this many steps (rnnlab.model.init); 0 = off."""
    num_classes: int = 10
    """Output classes; set from the dataset."""

    def __post_init__(self) -> None:
        check_choice("--cell", self.cell, CELLS)
        check_choice("--readout", self.readout, READOUTS)
        check_choice("--init", self.init, INITS)
        check_positive("--layers", self.layers)
        check_positive("--input-size", self.input_size)
        check_positive("--proj", self.proj, allow_zero=True)
        check_positive("--num-classes", self.num_classes)
        parse_sizes(self.hidden)
        if len(self.hidden) not in (1, self.layers):
            raise ConfigError(
                "--hidden", f"got {len(self.hidden)} sizes for --layers {self.layers}; give one size or one per layer"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("--dropout", f"must be in [0, 1), got {self.dropout}")
        if self.chrono:
            if self.chrono < 3:
                raise ConfigError(
                    "--chrono", f"must be 0 (off) or the longest dependency, >= 3 steps; got {self.chrono}"
                )
            if self.cell != "lstm":
                raise ConfigError("--chrono", f"sets LSTM gate biases; --cell {self.cell} has none to set")
            if self.forget_bias != ModelConfig.forget_bias:
                raise ConfigError("--forget-bias", "--chrono sets the forget-gate biases itself; drop --forget-bias")

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.hidden if len(self.hidden) == self.layers else self.hidden * self.layers

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


@dataclass(frozen=True)
class DataConfig:
    """Which images, how they become sequences, and how batches are laid out."""

    dataset: str = "mnist"
    """mnist, fashion-mnist, kmnist (torchvision) or digits (scikit-learn, offline)."""
    data_dir: str | None = None
    """Folder holding <Dataset>/raw/*-ubyte; None means RNNLAB_DATA_DIR, else the per-user cache."""
    sequence: str = "rows"
    """How an image becomes a sequence: rows, cols, pixels or permuted (pixels in a fixed random order)."""
    permute_seed: int = 0
    """Seed of the fixed pixel permutation for --sequence permuted; saved so eval and visualize reuse it."""
    layout: str = "batch"
    """batch: tensors are (B, T, I); time: (T, B, I). The model consumes either."""
    lengths: str = "full"
    """full: every sequence has T steps; random: each sample keeps a random number (>= 1) of leading steps."""
    val_fraction: float = 0.1
    """Share of the training set held out for validation, drawn with a fixed seed."""
    train_subset: int = 0
    """Use only the first N training images (after the validation split); 0 means all. For quick runs."""
    test_subset: int = 0
    """Evaluate on only the first N test images; 0 means all."""

    def __post_init__(self) -> None:
        from rnnlab.data import DATASETS, VIEWS  # local: data imports torch, config stays light

        check_choice("--dataset", self.dataset, tuple(DATASETS))
        check_choice("--sequence", self.sequence, tuple(VIEWS))
        check_choice("--layout", self.layout, LAYOUTS)
        check_choice("--lengths", self.lengths, ("full", "random"))
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError("--val-fraction", f"must be in [0, 1), got {self.val_fraction}")
        check_positive("--train-subset", self.train_subset, allow_zero=True)
        check_positive("--test-subset", self.test_subset, allow_zero=True)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, schedule, device, engine, where to write."""

    epochs: int = 5
    """Passes over the training set (5 x 430 steps of 128 reach seed 001's 98.5% on MNIST rows)."""
    max_steps: int = 0
    """Stop after this many optimiser steps in total; 0 means run all epochs."""
    batch_size: int = 128
    """Samples per optimiser step (per process under torchrun)."""
    lr: float = 1e-3
    """Learning rate (the peak rate when a schedule is set)."""
    schedule: str = "constant"
    """constant, or cosine / linear decay from --lr to --lr x --final-lr-ratio over the run's steps."""
    warmup: int = 0
    """Raise the rate linearly from --lr/N to --lr over the first N steps; 0 means no warm-up."""
    final_lr_ratio: float = 0.0
    """Where cosine and linear decay end, as a fraction of --lr."""
    optimizer: str = "adam"
    """adam, sgd, or rmsprop (squared-gradient average decaying by 0.9 per step, as Keras and Cooijmans et al.)."""
    momentum: float = 0.0
    """Momentum of sgd and rmsprop; adam has its own."""
    weight_decay: float = 0.0
    """L2 weight decay."""
    clip: float = 0.0
    """Clip the global gradient norm to this value; 0 means no clipping."""
    seed: int = 0
    """Seeds parameters, dropout and shuffling; same seed, same machine, same numbers on CPU."""
    device: str = "auto"
    """auto (cuda when present), cpu or cuda."""
    engine: str = "cudnn"
    """Which engine computes the recurrent layers (see `rnnlab compare-cells`)."""
    bf16: bool = False
    """Run forward and backward under bf16 autocast."""
    deterministic: bool = False
    """Ask PyTorch and cuDNN/cuBLAS for deterministic kernels (slower on GPU)."""
    log_every: int = 50
    """Write a metrics line every N steps."""
    checkpoint_every: int = 0
    """Also write checkpoint.pt every N steps (it is always written at each epoch's end); 0 means only then."""
    on_nan: str = "stop"
    """A NaN or infinite loss: stop (keep the last good checkpoint) or skip that batch."""
    threads: int = 0
    """CPU threads for PyTorch; 0 leaves PyTorch's default."""
    reuse_cpu_memory: bool = True
    """On CPU under glibc, keep freed memory for the next step instead of unmapping it (rnnlab.train.cpu_memory)."""

    def __post_init__(self) -> None:
        check_positive("--epochs", self.epochs)
        check_positive("--max-steps", self.max_steps, allow_zero=True)
        check_positive("--batch-size", self.batch_size)
        check_positive("--lr", self.lr)
        check_choice("--optimizer", self.optimizer, OPTIMIZERS)
        check_choice("--schedule", self.schedule, SCHEDULES)
        check_positive("--warmup", self.warmup, allow_zero=True)
        if not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ConfigError("--final-lr-ratio", f"must be in [0, 1], got {self.final_lr_ratio}")
        if self.final_lr_ratio and self.schedule == "constant":
            raise ConfigError("--final-lr-ratio", "sets where a decay ends; add --schedule cosine or linear")
        check_positive("--momentum", self.momentum, allow_zero=True)
        if self.momentum and self.optimizer == "adam":
            raise ConfigError("--momentum", "applies to --optimizer sgd or rmsprop; adam keeps its own averages")
        check_positive("--weight-decay", self.weight_decay, allow_zero=True)
        check_positive("--clip", self.clip, allow_zero=True)
        check_choice("--device", self.device, DEVICES)
        check_positive("--log-every", self.log_every)
        check_positive("--checkpoint-every", self.checkpoint_every, allow_zero=True)
        check_choice("--on-nan", self.on_nan, ON_NAN)
        check_positive("--threads", self.threads, allow_zero=True)
        check_choice("--engine", self.engine, tuple(ENGINES))


@dataclass(frozen=True)
class RunConfig:
    """Everything a run was made with: saved as config.json and inside every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Rebuild from a saved dict; unknown keys (from a newer rnnlab) are an error, missing ones take defaults."""
        parts: dict[str, Any] = {}
        for name, kind in (("model", ModelConfig), ("data", DataConfig), ("train", TrainConfig)):
            section = dict(raw.get(name, {}))
            known = {f.name for f in dataclasses.fields(kind)}
            unknown = set(section) - known
            if unknown:
                raise ValueError(f"unknown {name} settings {sorted(unknown)}")
            if "hidden" in section:
                section["hidden"] = tuple(section["hidden"])
            parts[name] = kind(**section)
        return cls(**parts)
