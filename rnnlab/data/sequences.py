"""Ready-to-train sequences: the validation split, variable lengths, and batches in either layout.

Batches are made by indexing in-memory tensors: no per-item work. Legend: N samples, T time steps, I features per
step, B batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnlab.data.preprocess import Preprocessing
from rnnlab.data.sets import ImageSet, load_images
from rnnlab.data.views import as_sequences

if TYPE_CHECKING:
    from rnnlab.config import DataConfig


@dataclass(frozen=True)
class SequenceData:
    train: tuple[Tensor, Tensor]  # (N, T, I), (N,)
    val: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    num_classes: int
    preprocessing: Preprocessing  # how a raw image became these sequences; saved in every checkpoint
    lengths: dict[str, Tensor] | None = None  # per split ("train", "val", "test"): valid steps per sample

    def lengths_of(self, split: str) -> Tensor | None:
        return None if self.lengths is None else self.lengths[split]

    @property
    def input_size(self) -> int:
        return self.train[0].shape[2]


def load_sequences(cfg: DataConfig, images: ImageSet | None = None) -> SequenceData:
    """The dataset as sequences with a validation split carved from train by a fixed seed."""
    images = images or load_images(cfg.dataset, cfg.data_dir)
    x_train = as_sequences(images.train.images, cfg.sequence, cfg.permute_seed)
    x_test = as_sequences(images.test.images, cfg.sequence, cfg.permute_seed)
    y_train, y_test = images.train.labels, images.test.labels
    order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(1234))
    n_val = int(round(cfg.val_fraction * len(y_train)))
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
    if cfg.train_subset:
        train_idx = train_idx[: cfg.train_subset]
    if cfg.test_subset:
        x_test, y_test = x_test[: cfg.test_subset], y_test[: cfg.test_subset]
    splits = {"train": (x_train[train_idx], y_train[train_idx]), "val": (x_train[val_idx], y_train[val_idx]),
              "test": (x_test, y_test)}  # fmt: skip
    lengths = None
    if cfg.lengths == "random":
        lengths = {name: random_lengths(len(y), x.shape[1], seed=k) for k, (name, (x, y)) in enumerate(splits.items())}
        splits = {name: (pad_after(x, lengths[name]), y) for name, (x, y) in splits.items()}
    preprocessing = Preprocessing.measure(cfg, images)
    return SequenceData(splits["train"], splits["val"], splits["test"], images.num_classes, preprocessing, lengths)


def random_lengths(n: int, steps: int, seed: int) -> Tensor:
    """Each sample keeps 1..T leading steps, drawn uniformly with a fixed seed per split."""
    return torch.randint(1, steps + 1, (n,), generator=torch.Generator().manual_seed(1000 + seed))


def pad_after(x: Tensor, lengths: Tensor) -> Tensor:
    """Zero every step at or after a sample's length: what is past the end is padding."""
    keep = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # (N, T)
    return x * keep.unsqueeze(2).to(x.dtype)


def layout_shape(batch: int, steps: int, features: int, layout: str) -> tuple[int, int, int]:
    """The shape of a batch in the given layout: (B, T, I) for batch, (T, B, I) for time."""
    return (batch, steps, features) if layout == "batch" else (steps, batch, features)


def to_layout(x: Tensor, layout: str) -> Tensor:
    """(B, T, I) -> the requested layout: batch keeps it, time gives (T, B, I)."""
    return x.transpose(0, 1).contiguous() if layout == "time" else x


def batches(
    x: Tensor,  # (N, T, I)
    y: Tensor,  # (N,)
    batch_size: int,
    layout: str,
    order: Tensor | None = None,  # (N,) sample order; None keeps the stored order
    start: int = 0,  # skip this many batches (resuming mid-epoch)
    device: torch.device | str = "cpu",
    lengths: Tensor | None = None,  # (N,) valid steps per sample
) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
    """(x, y, lengths) batches in the given layout; the last one may be smaller, so every sample is seen once."""
    idx = torch.arange(len(y)) if order is None else order
    for lo in range(start * batch_size, len(idx), batch_size):
        sel = idx[lo : lo + batch_size]
        xb = to_layout(x[sel], layout).to(device, non_blocking=True)
        yield xb, y[sel].to(device, non_blocking=True), None if lengths is None else lengths[sel]
