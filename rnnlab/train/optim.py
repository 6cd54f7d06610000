"""Learning-rate schedules as pure functions of the step.

The rate depends only on (step, total steps, config), never on a scheduler object's state, so a resumed run sets
exactly the rates an uninterrupted one would: nothing extra goes into the checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rnnlab.config import TrainConfig


def lr_at(step: int, total: int, tc: TrainConfig) -> float:
    """The rate for optimiser step ``step`` (0-based) of ``total``: linear warm-up, then the schedule's decay.

    cosine and linear decay from --lr to --lr x --final-lr-ratio at the last step; constant stays at --lr.
    """
    if tc.warmup and step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    if tc.schedule == "constant":
        return tc.lr
    span = max(total - tc.warmup - 1, 1)
    progress = min(max(step - tc.warmup, 0) / span, 1.0)
    shape = 0.5 * (1.0 + math.cos(math.pi * progress)) if tc.schedule == "cosine" else 1.0 - progress
    floor = tc.lr * tc.final_lr_ratio
    return floor + (tc.lr - floor) * shape


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def make_optimizer(params: Any, tc: TrainConfig) -> torch.optim.Optimizer:
    if tc.optimizer == "sgd":
        return torch.optim.SGD(params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay)
    if tc.optimizer == "rmsprop":  # alpha and eps as in Keras / Blocks' RMSProp (max_scaling 1e5), not torch's 0.99
        return torch.optim.RMSprop(
            params, lr=tc.lr, alpha=0.9, eps=1e-5, momentum=tc.momentum, weight_decay=tc.weight_decay
        )
    return torch.optim.Adam(params, lr=tc.lr, weight_decay=tc.weight_decay)
