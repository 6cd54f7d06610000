"""One optimiser step, and the running sums the progress bar and the epoch lines are made of."""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from rnnlab.config import TrainConfig
from rnnlab.errors import UserError
from rnnlab.runtime.distributed import DistInfo, any_rank
from rnnlab.train.state import TrainState


def train_step(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    xb: torch.Tensor,  # (B, T, I) or (T, B, I)
    yb: torch.Tensor,  # (B,)
    lb: torch.Tensor | None,  # (B,) valid steps per sample
    tc: TrainConfig,
    info: DistInfo,
    device: torch.device,
    st: TrainState,
    stop_requested: bool,
) -> bool:
    """One optimiser step; adds the batch's loss sum, hits and samples to the epoch's and the log window's sums.

    Returns whether any rank asked to stop (a signal): that question rides on the same collective as the
    NaN check, so a step under torchrun makes one all-reduce besides DDP's own.
    """
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=tc.bf16):
        logits = net(xb, lb)
    loss = F.cross_entropy(logits.float(), yb)
    hits_t = (logits.argmax(1) == yb).sum()
    value, hits = torch.stack((loss.detach(), hits_t.to(loss.dtype))).tolist()  # one host sync for both
    nonfinite, stop = any_rank((not math.isfinite(value), stop_requested), info, device)
    if nonfinite:
        if tc.on_nan == "stop":
            raise NonFiniteLoss(f"the loss became {value} at step {st.step + 1}")
        opt.zero_grad(set_to_none=True)
        st.skipped += 1
        return stop
    loss.backward()
    if tc.clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), tc.clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    stats = (value * len(yb), hits, float(len(yb)))
    st.epoch_sums = [a + b for a, b in zip(st.epoch_sums, stats)]
    st.window_sums = [a + b for a, b in zip(st.window_sums, stats)]
    return stop


class NonFiniteLoss(UserError):
    """The loss became NaN or infinite under --on-nan stop; the loop adds what of the run is kept."""


def window_stats(sums: list[float], clock: tuple[float, float]) -> dict[str, float]:
    """Mean loss and accuracy over the log window's samples, and this process's samples per second in it."""
    n = max(sums[2], 1.0)
    began, samples_before = clock
    return {
        "loss": sums[0] / n,
        "accuracy": sums[1] / n,
        "samples_per_s": (sums[2] - samples_before) / max(time.perf_counter() - began, 1e-9),
    }
