"""What a run is made with: the model, the data, the training and where it computes, as frozen dataclasses.

Each field that a flag sets is declared here once, with its help, panel, choices and range (config.flags); the
CLI's `train` is built from these fields. ``RunConfig.to_dict`` is the plain dict saved as config.json and in every
checkpoint (``torch.load(weights_only=True)`` reads it): "model", "data" and "train", the runtime settings inside
"train" as every run has saved them; ``from_dict`` reads it back, checking every value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rnnlab.cells import CELLS, REGULARISERS
from rnnlab.config.flags import (
    DATA,
    FRACTION,
    MODEL,
    NON_NEGATIVE,
    POSITIVE,
    REGULARISE,
    SEED,
    SHARE,
    Unchosen,
    chosen,
    option,
    parse_sizes,
    show_sizes,
    validate,
)
from rnnlab.config.runtime import RuntimeConfig
from rnnlab.config.training import TrainConfig
from rnnlab.errors import ConfigError

# dataset -> (image height, width); every one has 10 classes
IMAGE_SIZES = {"mnist": (28, 28), "fashion-mnist": (28, 28), "kmnist": (28, 28), "digits": (8, 8)}
DATASETS = tuple(IMAGE_SIZES)
SEQUENCES = ("rows", "cols", "pixels", "permuted")
NUM_CLASSES = 10


def sequence_shape(dataset: str, sequence: str) -> tuple[int, int]:
    """(T, I): time steps and features per step of a dataset's images under a sequence view."""
    h, w = IMAGE_SIZES[dataset]
    return {"rows": (h, w), "cols": (w, h), "pixels": (h * w, 1), "permuted": (h * w, 1)}[sequence]


@dataclass(frozen=True)
class ModelConfig:
    """The architecture: everything needed to rebuild the model from a checkpoint, and nothing else."""

    cell: str = option(
        "lstm", "Recurrent cell: lstm, gru or rnn (tanh), laid out exactly as nn.LSTM/GRU/RNN.", MODEL, choices=CELLS
    )
    input_size: int = option(
        28,
        "Features per time step I (what train reads follows from --dataset and --sequence).",
        MODEL,
        range=POSITIVE,
        cli=False,
    )
    hidden: tuple[int, ...] = option(
        (256,),
        "Hidden units: one size for every layer (256) or one per layer (128,256).",
        MODEL,
        per_dataset=True,
        range=POSITIVE,
        parse=parse_sizes,
        show=show_sizes,
        metavar="SIZES",
    )
    layers: int = option(2, "Number of stacked recurrent layers.", MODEL, range=POSITIVE)
    dropout: float = option(0.5, "Dropout between layers and on the stack's output, in [0, 1).", MODEL, range=FRACTION)
    bidirectional: bool = option(
        False, "Read each sequence both ways and concatenate the two outputs.", MODEL, off=False
    )
    proj: int = option(
        0, "Size of a linear input projection before the first layer; 0 = none.", MODEL, range=NON_NEGATIVE, off=0
    )
    readout: str = option(
        "last",
        "What the classifier reads: the last step's output (last), the final hidden state (state), or the outputs "
        "averaged over time (mean).",
        MODEL,
        choices=("last", "state", "mean"),
    )
    forget_bias: float = option(1.0, "Added to the LSTM forget-gate bias at init (0 = PyTorch's own).", MODEL)
    init: str = option(
        "uniform",
        "Initial recurrent weights: uniform (PyTorch's), orthogonal (per gate block, zero biases: Keras), identity "
        "(orthogonal, candidate block the identity: Cooijmans et al.), or ugi (Gu et al. 2020's gate biases).",
        MODEL,
        choices=("uniform", "orthogonal", "identity", "ugi"),
    )
    chrono: int = option(
        0,
        "LSTM only: chrono initialisation (Tallec & Ollivier 2018) for dependencies up to N steps: forget-gate "
        "biases log U(1, N-1), input-gate biases their negatives, in place of --forget-bias. 0 = off.",
        MODEL,
        range=NON_NEGATIVE,
        off=0,
    )
    zoneout: float = option(
        0.0,
        "Zoneout on h (Krueger et al. 2017): in training each unit keeps its previous h with this probability at "
        "each step; at evaluation it mixes in that share. Not on --engine cudnn or triton. In [0, 1).",
        REGULARISE,
        range=FRACTION,
        off=0.0,
    )
    zoneout_cell: float = option(
        0.0,
        "LSTM only: zoneout on the cell state c, as --zoneout on h (Krueger et al. zone out c far more than h). "
        "In [0, 1).",
        REGULARISE,
        range=FRACTION,
        off=0.0,
    )
    recurrent_dropout: float = option(
        0.0,
        "Recurrent dropout (Gal & Ghahramani 2016): in training the state fed back into W_hh loses these units, the "
        "same at every step of a sequence (the rest scaled by 1/(1-P)). Not on --engine cudnn or triton. In [0, 1).",
        REGULARISE,
        range=FRACTION,
        off=0.0,
    )
    weight_drop: float = option(
        0.0,
        "DropConnect on W_hh (Merity et al. 2018, AWD-LSTM): in training one mask per batch (per process under "
        "torchrun; the rest scaled by 1/(1-P)); nothing at evaluation. Every engine. In [0, 1).",
        REGULARISE,
        range=FRACTION,
        off=0.0,
    )
    num_classes: int = option(NUM_CLASSES, "Output classes; follows from --dataset.", MODEL, range=POSITIVE, cli=False)

    def __post_init__(self) -> None:
        validate(self)
        if self.zoneout_cell and self.cell != "lstm":
            raise ConfigError(
                "zoneout_cell", f"zones out an LSTM's cell state; --cell {self.cell} has none (use --zoneout)"
            )
        if self.init == "ugi":
            if self.cell == "rnn":
                raise ConfigError("init", "ugi sets gate biases; --cell rnn has no gates")
            if self.chrono:
                raise ConfigError("init", "ugi and --chrono both set the gate biases; choose one")
            if self.cell == "lstm" and self.forget_bias != ModelConfig.forget_bias:
                raise ConfigError("forget_bias", "--init ugi sets the forget-gate biases itself; drop --forget-bias")
            if min(self.hidden) < 3:
                raise ConfigError(
                    "init", f"ugi spreads gates over U(1/H, 1-1/H): it needs H >= 3; got {min(self.hidden)}"
                )
        if len(self.hidden) not in (1, self.layers):
            raise ConfigError(
                "hidden", f"got {len(self.hidden)} sizes for --layers {self.layers}; give one size or one per layer"
            )
        if self.chrono:
            if self.chrono < 3:
                raise ConfigError("chrono", f"must be 0 (off) or the longest dependency, >= 3 steps; got {self.chrono}")
            if self.cell != "lstm":
                raise ConfigError("chrono", f"sets LSTM gate biases; --cell {self.cell} has none to set")
            if self.forget_bias != ModelConfig.forget_bias:
                raise ConfigError("forget_bias", "--chrono sets the forget-gate biases itself; drop --forget-bias")

    @property
    def regularisers(self) -> tuple[str, ...]:
        """The recurrent regularisers this model trains with, by their flags (cells.REGULARISERS)."""
        on = (self.zoneout or self.zoneout_cell, self.recurrent_dropout, self.weight_drop)
        return tuple(name for name, used in zip(REGULARISERS, on) if used)

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.hidden if len(self.hidden) == self.layers else self.hidden * self.layers

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


@dataclass(frozen=True)
class DataConfig:
    """Which images, how they become sequences, and how batches are laid out."""

    dataset: str = option(
        "mnist",
        "mnist, fashion-mnist, kmnist (through torchvision) or digits (scikit-learn's 8x8 digits, offline).",
        DATA,
        choices=DATASETS,
    )
    data_dir: str | None = option(
        None,
        "Folder holding <Dataset>/raw/*-ubyte \\[default: $RNNLAB_DATA_DIR, else ~/.cache/rnnlab].",
        DATA,
        resumable=True,
        metavar="DIR",
    )
    sequence: str = option(
        "rows",
        "How an image becomes a sequence: rows (T=28 steps of I=28 pixels), cols, pixels (T=784 steps of 1), or "
        "permuted (the pixels in a fixed random order).",
        DATA,
        choices=SEQUENCES,
    )
    permute_seed: int = option(
        0,
        "Seed of the fixed pixel order of --sequence permuted (saved with the run, reused by eval).",
        DATA,
        range=SEED,
    )
    layout: str = option("batch", "batch: tensors (B, T, I); time: (T, B, I).", DATA, choices=("batch", "time"))
    lengths: str = option(
        "full",
        "full, or random: each sample keeps a random number (>= 1) of its leading steps.",
        DATA,
        choices=("full", "random"),
    )
    val_fraction: float = option(
        0.1,
        "Share of the training set held out for validation, in (0, 1): drawn with a fixed seed; it picks best.pt "
        "and stops --patience.",
        DATA,
        range=SHARE,
    )
    train_subset: int = option(
        0, "Train on only the first N images (after the validation split); 0 = all.", DATA, range=NON_NEGATIVE, off=0
    )
    test_subset: int = option(0, "Evaluate on only the first N test images; 0 = all.", DATA, range=NON_NEGATIVE, off=0)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def shape(self) -> tuple[int, int]:
        """(T, I) of every sequence."""
        return sequence_shape(self.dataset, self.sequence)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "runtime": RuntimeConfig}
SAVED_IN = {"runtime": "train"}  # a section the files keep inside another (config.runtime says why)
for _inner, _outer in SAVED_IN.items():  # one object in the files: no setting may have the same name in both
    assert not {f.name for f in dataclasses.fields(SECTIONS[_inner])} & {
        f.name for f in dataclasses.fields(SECTIONS[_outer])
    }
RUN_RECORD = ("made_by", "resumes", "status")  # what config.json holds beside the config (rnnlab.runs.config_file)

# A run on --dataset NAME takes these in place of the defaults above for the settings not chosen (from Python as
# from `rnnlab train`; RunConfig puts them in): the 8x8 digits
# are 1,294 training images, so the defaults made for MNIST's 54,000 leave them under-trained (88% after 5 epochs).
# With these, 97.77-98.89% test accuracy over seeds 0-4 in about 8 s each on 2 CPU cores (docs/BENCHMARKS.md).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"epochs": 40, "batch_size": 32, "hidden": (128,), "lr": 3e-3, "schedule": "cosine", "clip": 1.0}
}


@dataclass(frozen=True)
class RunConfig:
    """Everything a run was made with: saved as config.json and inside every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        """Each setting left at its default takes the dataset's own default where it has one (DATASET_DEFAULTS),
        else the general one; from here on every value is a plain one."""
        own = dict(DATASET_DEFAULTS.get(self.data.dataset, {}))
        if {"zoneout", "recurrent-dropout"} & set(self.model.regularisers):
            own["engine"] = "bptt"  # cudnn runs the whole sequence in one call: no step to put them in
        for name in SECTIONS:
            section = getattr(self, name)
            left = {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
            left = {k: v for k, v in left.items() if isinstance(v, Unchosen)}
            if left:
                plain = {k: own[k] if k in own else chosen(v) for k, v in left.items()}
                object.__setattr__(self, name, dataclasses.replace(section, **plain))

    def to_dict(self) -> dict[str, Any]:
        saved = dataclasses.asdict(self)
        for section, into in SAVED_IN.items():
            saved[into].update(saved.pop(section))
        return saved

    @classmethod
    def from_dict(cls, raw: Any) -> RunConfig:
        """Rebuild from a saved dict; missing settings take their defaults. Anything else wrong raises ValueError
        naming the setting (``model.hidden: expected ...``), for the reader to put after the file's name."""
        files = [name for name in SECTIONS if name not in SAVED_IN]
        if not isinstance(raw, dict):
            raise ValueError(f"expected an object with {', '.join(files)}, got {type(raw).__name__}")
        unknown = set(raw) - set(files) - set(RUN_RECORD)
        if unknown:
            raise ValueError(f"unknown sections {sorted(unknown)}")
        saved: dict[str, dict[str, Any]] = {}
        for name in files:
            section = raw.get(name, {})
            if not isinstance(section, dict):
                raise ValueError(f"{name}: expected an object of settings, got {type(section).__name__}")
            saved[name] = dict(section)
        for name, into in SAVED_IN.items():  # the settings of a section kept inside another go back to it
            own = {f.name for f in dataclasses.fields(SECTIONS[name])}
            saved[name] = {k: saved[into].pop(k) for k in list(saved[into]) if k in own}
        parts: dict[str, Any] = {}
        for name, kind in SECTIONS.items():
            section = saved[name]
            extra = set(section) - {f.name for f in dataclasses.fields(kind)}
            if extra:
                raise ValueError(f"unknown {SAVED_IN.get(name, name)} settings {sorted(extra)}")
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}  # JSON has no tuples
            try:  # a setting the file lacks takes the general default, as when the file was written; the engine,
                # which the model's regularisers decide, is left for RunConfig to decide again
                missing = {
                    f.name: f.default if f.name == "engine" else chosen(f.default)
                    for f in dataclasses.fields(kind)
                    if f.name not in values
                }
                parts[name] = kind(**values, **{k: v for k, v in missing.items() if v is not dataclasses.MISSING})
            except ConfigError as exc:
                raise ValueError(f"{SAVED_IN.get(name, name)}.{exc.field}: {exc.reason}") from None
        return cls(**parts)


def model_for(data: DataConfig, **fields: Any) -> ModelConfig:
    """The model for ``data``: its input size and classes follow from the dataset and the sequence view."""
    return ModelConfig(input_size=data.shape[1], num_classes=NUM_CLASSES, **fields)
