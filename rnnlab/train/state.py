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
import torch.distributed as dist

from rnnlab.config import RunConfig
from rnnlab.data.preprocess import Preprocessing
from rnnlab.errors import UserError
from rnnlab.runs.checkpoint import load_weights
from rnnlab.runtime.distributed import DistInfo


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


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's RNG states: the CPU's, and the GPU's where it runs on one."""
    rng = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def gather_rng_states(info: DistInfo, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Every rank's RNG states, in rank order (each draws its own dropout masks); called by every rank."""
    mine = rng_states(device)
    if not info.active:
        return [mine]
    states: list[Any] = [None] * info.world_size
    dist.all_gather_object(states, mine)
    return states


def payload(
    cfg: RunConfig,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    st: TrainState,
    rngs: list[dict[str, torch.Tensor]],
    preprocessing: Preprocessing,
) -> dict[str, Any]:
    """What checkpoint.pt and best.pt hold; ``metrics`` repeats the last epoch's record for quick reading.
    ``rng`` is rank 0's RNG states, ``rng_by_rank`` every rank's (one entry for a single process)."""
    return {
        "config": cfg.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": rngs[0],
        "rng_by_rank": rngs,
        **dataclasses.asdict(st),
        "metrics": st.history[-1] if st.history else {},
    }


def expect(ckpt: dict[str, Any], key: str, check: Any, what: str) -> Any:
    """ckpt[key] if ``check`` accepts it, else one line naming the file, the key and what was expected."""
    value = ckpt.get(key)
    if not check(value):
        found = "nothing" if key not in ckpt else f"{type(value).__name__} {str(value)[:40]}"
        raise UserError(
            f"{ckpt['path']}: {key}: expected {what}, found {found}; the checkpoint was damaged or edited "
            "(best.pt, if the run has one, holds an earlier point to continue from by hand)"
        )
    return value


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _sums(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)


CHECKS = {  # TrainState's fields as a checkpoint must hold them
    "epoch": (_whole, "a whole number >= 0"),
    "batch_in_epoch": (_whole, "a whole number >= 0"),
    "step": (_whole, "a whole number >= 0"),
    "best_val_accuracy": (lambda v: isinstance(v, (int, float)) and -1 <= v <= 1, "an accuracy in [0, 1], or -1"),
    "epoch_sums": (_sums, "three numbers"),
    "window_sums": (_sums, "three numbers"),
    "skipped": (_whole, "a whole number >= 0"),
    "history": (lambda v: isinstance(v, list) and all(isinstance(r, dict) and "kind" in r for r in v), "records"),
}


def _rng_states(v: Any) -> bool:
    """torch's generator state as torch.get_rng_state gives it (and CUDA's, where there is one): set_rng_state
    takes nothing else, and says so in a traceback."""
    if not isinstance(v, dict):
        return False
    states = [v.get("torch"), *([v["cuda"]] if "cuda" in v else [])]
    size = torch.get_rng_state().numel()
    return all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.dim() == 1 for t in states) and (
        states[0].numel() == size
    )


def _check_optimiser(opt: torch.optim.Optimizer, source: str) -> None:
    """Each state the optimiser keeps per parameter (Adam's averages) has the parameter's shape and is finite: a
    mismatch would fail at the first step, mid-run, in a traceback."""
    for group in opt.param_groups:
        for p in group["params"]:
            for name, value in opt.state.get(p, {}).items():
                if not isinstance(value, torch.Tensor) or value.dim() == 0:
                    continue  # a step count
                if value.shape != p.shape:
                    raise UserError(
                        f"--resume: the optimiser state in {source} does not fit: its {name} is "
                        f"{tuple(value.shape)} for a parameter of {tuple(p.shape)}"
                    )
                if value.is_floating_point() and not bool(value.isfinite().all()):
                    raise UserError(f"--resume: the optimiser state in {source} holds NaN or infinite {name}")


def restore(
    ckpt: dict[str, Any],
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    st: TrainState,
    device: torch.device,
    rank: int = 0,
) -> None:
    """Put a checkpoint back into the model, the optimiser, the state and the RNGs (CUDA's where it ran on CUDA),
    each value checked first: a damaged or hand-edited checkpoint ends in one line, nothing changed."""
    load_weights(model, expect(ckpt, "model", lambda v: isinstance(v, dict), "a state_dict"), ckpt["path"])
    values = {f.name: expect(ckpt, f.name, *CHECKS[f.name]) for f in dataclasses.fields(TrainState)}
    rng = expect(ckpt, "rng", _rng_states, "RNG states (byte tensors of torch's own size)")
    by_rank = ckpt.get("rng_by_rank")
    if isinstance(by_rank, list) and rank < len(by_rank) and _rng_states(by_rank[rank]):
        rng = by_rank[rank]  # this rank's own; checkpoints from before they were kept hold rank 0's alone
    try:
        opt.load_state_dict(expect(ckpt, "optimizer", lambda v: isinstance(v, dict), "an optimiser state"))
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--resume: the optimiser state in {ckpt['path']} does not fit ({exc})") from None
    _check_optimiser(opt, ckpt["path"])
    for name, value in values.items():
        setattr(st, name, list(value) if isinstance(value, (list, tuple)) else value)
    st.history = [r for r in st.history if r["kind"] == "epoch"]  # a "final" record only marked a stop
    torch.set_rng_state(rng["torch"])
    if device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], device)
