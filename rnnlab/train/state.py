"""The trainer's resumable state, and how it goes into a checkpoint and comes back out.

Everything a run needs to continue exactly: the position (epoch, batch within it, step), the epoch's and the
log window's running sums, the RNG states and the history; with the model and the optimiser beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from rnnlab.config import RunConfig
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_weights


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed within the current epoch
    step: int = 0  # optimiser steps in total
    best_val_accuracy: float = -1.0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # this epoch's loss sum, hits, samples
    window: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # the same since the last log line
    skipped: int = 0  # batches skipped by --on-nan skip
    history: list[dict[str, Any]] = field(default_factory=list)


def payload(
    cfg: RunConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, st: TrainState, device: torch.device
) -> dict[str, Any]:
    """What checkpoint.pt and best.pt hold; ``metrics`` repeats the last epoch's record for quick reading."""
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return {
        "config": cfg.to_dict(),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": st.epoch,
        "batch_in_epoch": st.batch,
        "step": st.step,
        "rng": rng,
        "epoch_sums": list(st.sums),
        "window_sums": list(st.window),
        "skipped": st.skipped,
        "best_val_accuracy": st.best_val_accuracy,
        "history": list(st.history),
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
    st.epoch, st.batch, st.step = ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"]
    st.best_val_accuracy, st.sums = ckpt["best_val_accuracy"], list(ckpt["epoch_sums"])
    st.window, st.skipped = list(ckpt["window_sums"]), ckpt["skipped"]
    st.history = [r for r in ckpt["history"] if r["kind"] == "epoch"]  # a "final" record only marked a stop
    torch.set_rng_state(ckpt["rng"]["torch"])
    if device.type == "cuda" and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
