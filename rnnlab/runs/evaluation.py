"""Accuracy, loss and per-class accuracy over a whole split, in any batch size, under torchrun too.

Every sample is counted exactly once: the last batch may be smaller (not dropped), and under torchrun
each rank takes a disjoint share (rank::world) whose sums are all-reduced.
Legend: N samples, T time steps, I features, C classes.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data import batches
from rnnlab.runtime.distributed import DistInfo, all_reduce_sum


@dataclass(frozen=True)
class EvalResult:
    accuracy: float
    loss: float
    per_class_accuracy: list[float | None]  # None for a class absent from the split
    samples: int
    samples_per_s: float
    peak_memory_bytes: int
    peak_memory_kind: str  # what peak_memory_bytes measures on this device

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "cuda max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss * (1 if sys.platform == "darwin" else 1024), "process peak resident set size (ru_maxrss)"


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: Tensor,  # (N, T, I)
    y: Tensor,  # (N,)
    batch_size: int,
    layout: str,
    device: torch.device,
    num_classes: int,
    dist_info: DistInfo = DistInfo(),
    bf16: bool = False,
    lengths: Tensor | None = None,  # (N,)
) -> EvalResult:
    was_training = model.training
    model.eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    if dist_info.active:
        share = slice(dist_info.rank, None, dist_info.world_size)
        x, y = x[share], y[share]
        lengths = None if lengths is None else lengths[share]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(num_classes, dtype=torch.float64, device=device)
    counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
    start = time.perf_counter()
    for xb, yb, lb in batches(x, y, batch_size, layout, device=device, lengths=lengths):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xb, lb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum").double()
        counts += torch.bincount(yb, minlength=num_classes).double()
        hits += torch.bincount(yb[logits.argmax(1) == yb], minlength=num_classes).double()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - start
    totals = all_reduce_sum(torch.cat((loss_sum.view(1), hits, counts)), dist_info)
    loss_sum, hits, counts = totals[0], totals[1 : num_classes + 1], totals[num_classes + 1 :]
    n = int(counts.sum().item())
    model.train(was_training)
    peak, kind = peak_memory(device)
    return EvalResult(
        accuracy=float(hits.sum() / max(n, 1)),
        loss=float(loss_sum / max(n, 1)),
        per_class_accuracy=[float(h / c) if c else None for h, c in zip(hits.tolist(), counts.tolist())],
        samples=n,
        samples_per_s=n / elapsed if elapsed > 0 else float("inf"),
        peak_memory_bytes=int(peak),
        peak_memory_kind=kind,
    )
