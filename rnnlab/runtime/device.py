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


def configure_torch(rt: RuntimeConfig, device: torch.device) -> None:
    cpu_memory.keep_freed_memory_on(device.type, rt.reuse_cpu_memory)
    set_threads(rt.threads)
    if rt.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what PyTorch documents for cuBLAS
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
