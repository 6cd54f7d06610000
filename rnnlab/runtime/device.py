"""Which device a command runs on, and how torch is set up for a run there (threads, determinism, CPU memory)."""

from __future__ import annotations

import os

import torch

from rnnlab.config import RuntimeConfig
from rnnlab.errors import UserError
from rnnlab.runtime import cpu_memory
from rnnlab.runtime.distributed import DistInfo


def resolve_device(name: str, info: DistInfo = DistInfo()) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible here; use --device cpu (or auto)")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", info.local_rank)


def set_threads(threads: int) -> int:
    """PyTorch's CPU threads set to ``threads`` (0: its default); the count in effect."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


# Elements of one step's gate activations (batch x gates*hidden) below which a training step on CPU runs faster on
# one thread than on several: PyTorch runs element-wise work under 32,768 elements (ATen's grain size) on one
# thread anyway, and what is left to share, small products, gains less than the threads cost to wake. Measured in
# scripts/bench_threads.py (digits' LSTM-128 at batch 32, 16,384: one thread 1.43x the best setting on a free
# machine and the best beside busy processes, where two threads with rnnlab's spin were 1.6-1.8x).
SMALL_STEP = 32_768
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def training_threads(cell: str, batch: int, hidden: int) -> int:
    """What --threads 0 means for training on CPU: one thread for a model whose steps are too small to share,
    else PyTorch's default (every core)."""
    return 1 if batch * GATES.get(cell, 4) * hidden < SMALL_STEP else 0


def configure_torch(rt: RuntimeConfig, device: torch.device, default_threads: int = 0) -> None:
    """``default_threads``: what --threads 0 stands for here (0: PyTorch's default)."""
    cpu_memory.keep_freed_memory_on(device.type, rt.reuse_cpu_memory)
    set_threads(rt.threads or default_threads)
    if rt.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what PyTorch documents for cuBLAS
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
