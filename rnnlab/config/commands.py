"""Settings of the commands beside `train`: eval and visualize, compare-cells, gradcheck (the model flags come from
ModelConfig).

Declared here, torch-free, so that their `--help` is built from these fields like every other flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnlab.cells import ENGINES
from rnnlab.config.flags import NON_NEGATIVE, POSITIVE, Range, option, parse_names, show_names, validate
from rnnlab.config.run import ModelConfig
from rnnlab.errors import ConfigError

SHAPE, MEASURE, EVALUATION = "Shape", "Measurement", "Evaluation"
DTYPES = ("float32", "float64", "bfloat16")


@dataclass(frozen=True)
class EvalConfig:
    """What a trained model is run on: which part of the data, in batches of what size (eval, visualize)."""

    split: str = option(
        "test",
        "Which part of the data: test, val (held out from training) or train.",
        EVALUATION,
        choices=("test", "val", "train"),
    )
    batch_size: int = option(1000, "Samples per batch; 0 = the whole split at once.", EVALUATION, range=NON_NEGATIVE)

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class CompareConfig:
    """One model under several engines: the shapes of the batch, the dtype, the engines and how often to time."""

    model: ModelConfig = field(default_factory=lambda: ModelConfig(layers=1, hidden=(128,), dropout=0.0))
    seq: int = option(28, "Time steps T.", SHAPE, range=POSITIVE)
    batch_size: int = option(128, "Batch size B.", SHAPE, range=POSITIVE)
    layout: str = option("both", "batch (B, T, I), time (T, B, I), or both.", SHAPE, choices=("batch", "time", "both"))
    dtype: str = option("float32", "The dtype of parameters and inputs.", MEASURE, choices=DTYPES)
    engines: tuple[str, ...] = option(
        (),
        f"Comma-separated engines, of {', '.join(ENGINES)}. \\[default: every engine that runs compiled here; "
        "an interpreted one runs only when named].",
        MEASURE,
        parse=parse_names,
        show=show_names,
        metavar="NAMES",
    )
    repeats: int = option(10, "Timed repetitions per measurement (the median is reported).", MEASURE, range=POSITIVE)
    warmup: int = option(2, "Untimed calls before the timed ones.", MEASURE, range=NON_NEGATIVE)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        validate(self)
        unknown = [name for name in self.engines if name not in ENGINES]
        if unknown:
            raise ConfigError("engines", f"unknown engine {unknown[0]!r}; choose from {', '.join(ENGINES)}")

    @property
    def layouts(self) -> tuple[str, ...]:
        return ("batch", "time") if self.layout == "both" else (self.layout,)


@dataclass(frozen=True)
class GradcheckConfig:
    """A small float64 model whose gradients an engine computes, against finite differences and autograd."""

    engine: str = option(
        "bptt",
        "The engine whose backward is checked (bptt: written by hand; triton: its kernels, interpreted on a CPU).",
        MEASURE,
        choices=tuple(ENGINES),
    )
    cells: tuple[str, ...] = ()  # empty: every cell the engine implements
    layouts: tuple[str, ...] = ("batch", "time")
    seq: int = option(4, "Time steps T of the checked sequences.", SHAPE, range=POSITIVE)
    batch_size: int = option(2, "Batch size B of the checked sequences.", SHAPE, range=POSITIVE)
    model: ModelConfig = field(
        default_factory=lambda: ModelConfig(
            input_size=3, hidden=(3, 2), layers=2, dropout=0.0, bidirectional=True, readout="state"
        )
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class OnARun:
    """How a command reads a trained run (eval, visualize, predict): the typed view of the RuntimeConfig and
    DataConfig flags it takes, which are declared there (``Flags.view``); ``engine`` None: the run's own."""

    engine: str | None = None
    device: str = "cpu"
    data_dir: str | None = None
    reuse_cpu_memory: bool = True
    test_subset: int = 0
    threads: int = 0


@dataclass(frozen=True)
class OnADevice:
    """Where compare-cells measures (the typed view of RuntimeConfig's device flags)."""

    device: str = "auto"
    reuse_cpu_memory: bool = True
    threads: int = 0


EXPORT = "Export"
EXPORT_FORMATS = ("onnx", "torch-export", "safetensors")


@dataclass(frozen=True)
class ExportConfig:
    """What `rnnlab export` writes: the format, the file, which checkpoint, and whether to prove it the same model."""

    format: str = option(
        "onnx",
        "onnx (for onnxruntime), torch-export (a torch.export program, .pt2) or safetensors (a pickle-free "
        "checkpoint that rnnlab eval, predict and visualize also read).",
        EXPORT,
        choices=EXPORT_FORMATS,
    )
    out: str | None = option(
        None,
        "The file to write \\[default: beside the checkpoint, named after it: best.onnx, best.pt2, best.safetensors].",
        EXPORT,
        metavar="FILE",
    )
    checkpoint: str | None = option(
        None,
        "Export this checkpoint file instead of RUN's best.pt (a name inside RUN, such as checkpoint.pt, or a path).",
        EXPORT,
        metavar="FILE",
    )
    check: bool = option(
        False,
        "Then run the file in its own runtime on the test set (a sample of random images where the data is "
        "absent): the largest logit difference and the accuracy beside rnnlab eval's; exit 2 if a prediction "
        "differs or a logit is beyond float32 rounding (or NaN), and the file is not written.",
        EXPORT,
    )
    force: bool = option(False, "Replace --out if it exists.", EXPORT)

    def __post_init__(self) -> None:
        validate(self)


PLAYGROUND = "Playground"
PORTS = Range(0, 65535)


@dataclass(frozen=True)
class PlaygroundConfig:
    """Where `rnnlab playground` serves its page (the run, engine, device and data folder are the run's flags)."""

    host: str = option(
        "127.0.0.1",
        "The address to bind: 127.0.0.1 is this machine only; another (0.0.0.0: every interface) lets anyone who "
        "can reach the port use the page.",
        PLAYGROUND,
        metavar="ADDRESS",
    )
    port: int = option(
        8000, "The port to serve on; 0 = any free one (printed).", PLAYGROUND, range=PORTS, metavar="PORT"
    )
    open: bool = option(False, "Open the page in a web browser once it serves.", PLAYGROUND)

    def __post_init__(self) -> None:
        validate(self)
        if not self.host.strip() or any(c.isspace() for c in self.host):
            raise ConfigError("host", f"expected an address such as 127.0.0.1, got {self.host!r}")
