"""Run under torchrun by test_distributed.py: train, then gather every rank's parameters into rank 0's file.

Mode "signal": rank 1 alone sends itself SIGTERM during its 5th step; every rank must stop at the same step.
"""

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.runtime.distributed import shutdown
from rnnlab.train import step as stepping
from rnnlab.train.loop import Interrupted, fit

CFG = RunConfig(
    ModelConfig(cell="lstm", input_size=8, hidden=(16,), layers=2, dropout=0.0),
    DataConfig(dataset="digits", train_subset=1024),
    TrainConfig(epochs=2, batch_size=128, optimizer="sgd", lr=0.5, momentum=0.9, log_every=1),
    RuntimeConfig(device="cpu"),
)


def signal_rank_one_at_step_five() -> None:
    if int(os.environ.get("RANK", "0")) != 1:
        return
    real, calls = stepping.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    stepping.train_step = step


def stopped_together(out: Path) -> None:
    signal_rank_one_at_step_five()
    try:
        fit(CFG, out)
        stopped_at = -1
    except Interrupted as exc:
        stopped_at = exc.step
    steps = [torch.zeros(1) for _ in range(dist.get_world_size())]
    dist.all_gather(steps, torch.tensor([float(stopped_at)]))
    if dist.get_rank() == 0:
        torch.save({"stopped_at": [int(s.item()) for s in steps]}, out / "stopped.pt")
    shutdown()


def main(out: Path, world: int) -> None:
    cfg = replace(CFG, train=replace(CFG.train, batch_size=128 // world))
    result = fit(cfg, out)
    flat = torch.cat([p.detach().reshape(-1) for p in result.model.parameters()])
    if dist.is_initialized():
        gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, flat)
        rank = dist.get_rank()
        shutdown()
    else:
        gathered, rank = [flat], 0
    if rank == 0:
        torch.save(
            {"params": gathered, "test_accuracy": result.test.accuracy, "test_samples": result.test.samples},
            out / "ranks.pt",
        )


if __name__ == "__main__":
    if sys.argv[2] == "signal":
        stopped_together(Path(sys.argv[1]))
    else:
        main(Path(sys.argv[1]), int(sys.argv[2]))
