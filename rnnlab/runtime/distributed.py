"""torch.distributed plumbing for `torchrun`: gloo on CPU, nccl on GPU; rank 0 alone prints and writes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from rnnlab.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    active: bool = False  # in a process group (under torchrun, even of one process): collectives and DDP run

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """Under torchrun (its agent sets TORCHELASTIC_RUN_ID), or any launcher that says so with WORLD_SIZE > 1."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun set up (env://); a single process gets DistInfo() and no group."""
    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_available():
        raise UserError("this PyTorch build has no torch.distributed; run without torchrun")
    backend = "nccl" if device_type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    info = DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), active=True)
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def shutdown(together: bool = True) -> None:
    """Leave the group: together (a barrier first: a rank that tears down while another still talks to it aborts
    the other), or, after a failure only this rank may have met, at once (a barrier would wait for ranks that went
    on without it; destroying the group makes them fail instead of hang).

    Collect garbage first: a DistributedDataParallel wrapper left for the interpreter's exit would release its
    gloo work after the group is gone, which can abort the process (SIGABRT, "terminate called")."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if together:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(flags: tuple[bool, ...], info: DistInfo, device: torch.device) -> tuple[bool, ...]:
    """Each flag, true on every rank when it is true on any: decisions (stop, skip a batch) are taken together.

    One all-reduce for all the flags, so a training step pays for one collective however many it asks about.
    """
    if not info.active:
        return flags
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def relaunch_with_torchrun(nproc: int, out: Path | None, argv: list[str]) -> int:
    """Run ``python -m torch.distributed.run --nproc_per_node N -m rnnlab <argv>``; returns its exit code.

    ``out``: the run folder to add as ``--out`` when ``argv`` names none (every rank must agree on one folder).
    """
    args = strip_nproc(argv)
    if out is not None:
        args += ["--out", str(out)]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "rnnlab",
        *args,
    ]
    return subprocess.call(cmd)
