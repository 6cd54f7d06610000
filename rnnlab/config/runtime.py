"""Where and how a process computes a run: the device, the engine, threads, determinism and CPU memory.

These say nothing about what is trained: a resume may change most of them, and eval, visualize and compare-cells
take them without a run's other settings. config.json keeps them inside its "train" object, where every run before
this split saved them (RunConfig.to_dict).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.cells import ENGINES
from rnnlab.config.flags import RUNTIME, THREADS, option, validate


@dataclass(frozen=True)
class RuntimeConfig:
    """Where a run computes and how: device, engine, threads, determinism, CPU memory."""

    device: str = option(
        "auto", "auto (cuda when present), cpu or cuda.", RUNTIME, choices=("auto", "cpu", "cuda"), resumable=True
    )
    engine: str = option(
        "cudnn",
        "How the recurrent layers are computed (see `rnnlab compare-cells`); bptt where --zoneout or "
        "--recurrent-dropout asks for a step cudnn does not have.",
        RUNTIME,
        per_dataset=True,  # the run puts bptt in its place for those regularisers (RunConfig)
        choices=tuple(ENGINES),
        resumable=True,
    )
    deterministic: bool = option(False, "Deterministic cuDNN/cuBLAS kernels (slower on a GPU).", RUNTIME, off=False)
    threads: int = option(
        0,
        "CPU threads for PyTorch, up to 1024; 0 = rnnlab's choice: training takes 1 thread for a model under "
        "32,768 gate activations a step and every core otherwise; the other commands, PyTorch's default.",
        RUNTIME,
        range=THREADS,
        resumable=True,
    )
    reuse_cpu_memory: bool = option(
        True,
        "On CPU (Linux, glibc): keep freed memory for reuse instead of returning it to the OS: CPU steps were "
        "1.4-2.1x faster with it. The process keeps its peak memory until it exits.",
        RUNTIME,
        resumable=True,
    )

    def __post_init__(self) -> None:
        validate(self)
