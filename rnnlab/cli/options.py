"""The CLI's options, declared once (Annotated aliases) and shared by every command that takes them."""

from __future__ import annotations

from typing import Annotated

import typer

from rnnlab.config import DataConfig, ModelConfig, parse_sizes
from rnnlab.data import sequence_shape

M, D, T, OUT = "Model", "Data", "Training", "Output"

Cell = Annotated[str, typer.Option(help="Recurrent cell: lstm, gru or rnn (tanh).", rich_help_panel=M)]
Layers = Annotated[int, typer.Option(help="Number of stacked recurrent layers.", rich_help_panel=M)]
Hidden = Annotated[
    str,
    typer.Option(help="Hidden units: one size for every layer (256) or one per layer (128,256).", rich_help_panel=M),
]
Dropout = Annotated[
    float, typer.Option(help="Dropout between layers and on the stack's output, in [0, 1).", rich_help_panel=M)
]
Bidirectional = Annotated[bool, typer.Option(help="Read each sequence both ways and concatenate.", rich_help_panel=M)]
Proj = Annotated[
    int, typer.Option(help="Linear input projection to this size before the first layer; 0 = none.", rich_help_panel=M)
]
Readout = Annotated[
    str,
    typer.Option(
        help="What the classifier reads: last (output), state (final h) or mean (over time).", rich_help_panel=M
    ),
]
Init = Annotated[
    str,
    typer.Option(
        help="Initial recurrent weights: uniform (PyTorch's), orthogonal (per gate; zero biases), or identity "
        "(orthogonal, with the cell's candidate block the identity: Cooijmans et al.'s pixel-MNIST start).",
        rich_help_panel=M,
    ),
]
ForgetBias = Annotated[float, typer.Option(help="Added to the LSTM forget-gate bias at init.", rich_help_panel=M)]
Chrono = Annotated[
    int,
    typer.Option(
        help="LSTM only: chrono initialisation (Tallec & Ollivier 2018) for dependencies up to this many steps: "
        "forget-gate biases log U(1, N-1), input-gate biases their negatives, in place of --forget-bias. 0 = off.",
        rich_help_panel=M,
    ),
]

Dataset = Annotated[
    str, typer.Option(help="mnist, fashion-mnist, kmnist (torchvision) or digits (offline).", rich_help_panel=D)
]
DataDir = Annotated[
    str | None,
    typer.Option(
        help="Folder holding <Dataset>/raw/*-ubyte. Default: $RNNLAB_DATA_DIR, else ~/.cache/rnnlab.", rich_help_panel=D
    ),
]
Sequence = Annotated[
    str,
    typer.Option(
        help="Image as sequence: rows (T=28, I=28), cols, pixels (T=784, I=1) or permuted.", rich_help_panel=D
    ),
]
PermuteSeed = Annotated[
    int, typer.Option(help="Seed of the fixed pixel order for --sequence permuted.", rich_help_panel=D)
]
Lengths = Annotated[
    str,
    typer.Option(help="full, or random: each sample keeps a random number (>= 1) of leading steps.", rich_help_panel=D),
]
Layout = Annotated[str, typer.Option(help="batch: tensors (B, T, I); time: (T, B, I).", rich_help_panel=D)]
ValFraction = Annotated[
    float, typer.Option(help="Share of the training set held out for validation.", rich_help_panel=D)
]
TrainSubset = Annotated[int, typer.Option(help="Train on only the first N images; 0 = all.", rich_help_panel=D)]
TestSubset = Annotated[int, typer.Option(help="Evaluate on only the first N test images; 0 = all.", rich_help_panel=D)]

Engine = Annotated[
    str, typer.Option(help="How the recurrent layers are computed: see `rnnlab compare-cells`.", rich_help_panel=T)
]
Device = Annotated[str, typer.Option(help="auto (cuda when present), cpu or cuda.", rich_help_panel=T)]
BatchSize = Annotated[int, typer.Option(help="Samples per batch.", rich_help_panel=T)]
ReuseCpuMemory = Annotated[
    bool,
    typer.Option(
        help="On CPU (Linux, glibc): keep freed memory for reuse instead of returning it to the OS; 1.4-2.1x faster "
        "CPU training steps in docs/BENCHMARKS.md. The process keeps its peak memory until it exits.",
        rich_help_panel=T,
    ),
]


def model_config(
    *,
    cell: str,
    layers: int,
    hidden: str,
    dropout: float,
    bidirectional: bool,
    proj: int,
    readout: str,
    forget_bias: float,
    data: DataConfig,
    init: str = "uniform",
    chrono: int = 0,
) -> ModelConfig:
    """The model for ``data`` (already validated): the input size follows from the dataset and the view."""
    _, input_size = sequence_shape(data.dataset, data.sequence)
    return ModelConfig(
        cell=cell,
        input_size=input_size,
        hidden=parse_sizes(hidden),
        layers=layers,
        dropout=dropout,
        bidirectional=bidirectional,
        proj=proj,
        readout=readout,
        forget_bias=forget_bias,
        init=init,
        chrono=chrono,
    )
