"""The trainer's resumable state, and how it goes into a checkpoint and comes back out.

Everything a run needs to continue exactly: the position (epoch, batch within it, step), the epoch's and the
log window's running sums, the best validation accuracy and the history; with the model, the optimiser and the
RNG states beside them. A checkpoint holds TrainState's fields under their own names, so the format is the
dataclass: a field added here is saved and restored with nothing else to write.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from rnnlab.config import RunConfig
from rnnlab.data.preprocess import Preprocessing
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_weights


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch_in_epoch: int = 0  # batches completed within the current epoch
    step: int = 0  # optimiser steps in total
    best_val_accuracy: float = -1.0
    epoch_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # this epoch's loss sum, hits, samples
    window_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # the same since the last log line
    skipped: int = 0  # batches skipped by --on-nan skip
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per finished epoch


def payload(
    cfg: RunConfig,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    st: TrainState,
    device: torch.device,
    preprocessing: Preprocessing,
) -> dict[str, Any]:
    """What checkpoint.pt and best.pt hold; ``metrics`` repeats the last epoch's record for quick reading."""
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return {
        "config": cfg.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": rng,
        **dataclasses.asdict(st),
        "metrics": st.history[-1] if st.history else {},
    }


def restore(
    ckpt: dict[str, Any], model: torch.nn.Module, opt: torch.optim.Optimizer, st: TrainState, device: torch.device
) -> None:
    """Put a checkpoint back into the model, the optimiser, the state and the RNGs (CUDA's where it ran on CUDA)."""
    load_weights(model, ckpt["model"], ckpt["path"])
    try:
        opt.load_state_dict(ckpt["optimizer"])
    except (ValueError, KeyError) as exc:
        raise UserError(f"--resume: the optimiser state in {ckpt['path']} does not fit ({exc})") from None
    for f in dataclasses.fields(TrainState):
        value = ckpt[f.name]
        setattr(st, f.name, list(value) if isinstance(value, (list, tuple)) else value)
    st.history = [r for r in st.history if r["kind"] == "epoch"]  # a "final" record only marked a stop
    torch.set_rng_state(ckpt["rng"]["torch"])
    if device.type == "cuda" and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
