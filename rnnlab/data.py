"""Datasets as in-memory tensors, sequence views of images, and batches in either layout.

Images are loaded once into a (N, H, W) float tensor, normalised with the training set's mean and std, turned
into sequences (N, T, I) by a *view* (one small function each), and batched by indexing: no per-item PIL work.
Legend: N samples, H/W image height/width, T time steps, I features per step, B batch.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rnnlab.errors import UserError

if TYPE_CHECKING:
    from rnnlab.config import DataConfig

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
DATASETS = (*_TORCHVISION, "digits")
DIGITS_SPLIT_SEED = 0  # the digits train/test split never changes with --seed


def default_data_dir() -> Path:
    """--data-dir, else RNNLAB_DATA_DIR, else ~/.cache/rnnlab (XDG_CACHE_HOME respected)."""
    env = os.environ.get("RNNLAB_DATA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnlab"


def resolve_data_dir(data_dir: str | None) -> Path:
    return Path(data_dir) if data_dir else default_data_dir()


@dataclass(frozen=True)
class Split:
    images: Tensor  # (N, H, W) float32, normalised
    labels: Tensor  # (N,) int64


@dataclass(frozen=True)
class ImageSet:
    train: Split
    test: Split
    num_classes: int


def _load_torchvision(name: str, root: Path) -> ImageSet:
    import torchvision.datasets as tvd

    cls = getattr(tvd, _TORCHVISION[name])
    raw = root / _TORCHVISION[name] / "raw"
    missing = [f for f in MNIST_FILES if not (raw / f).exists()]
    if missing:
        _download(cls, name, root, raw, missing)
    try:
        splits = [cls(str(root), train=train, download=False) for train in (True, False)]
        images = [s.data for s in splits]
        labels = [s.targets for s in splits]
    except Exception as exc:  # torchvision raises assorted errors on bad IDX headers or short files
        raise UserError(
            f"cannot read {name} from {raw}: {exc}. The files are damaged: delete them to download again, "
            f"or copy good ones there ({', '.join(MNIST_FILES)})"
        ) from None
    for split, (x, y) in zip(("train", "test"), zip(images, labels)):
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise UserError(
                f"{name} {split} files in {raw} disagree: {tuple(x.shape)} images, {tuple(y.shape)} labels. "
                "Delete them to download again, or copy good ones there"
            )
    train = images[0].float() / 255.0
    mean, std = train.mean(), train.std()
    return ImageSet(
        Split((train - mean) / std, labels[0].long()),
        Split((images[1].float() / 255.0 - mean) / std, labels[1].long()),
        num_classes=10,
    )


def _download(cls: type, name: str, root: Path, raw: Path, missing: list[str]) -> None:
    where = f"{raw} (expected {', '.join(MNIST_FILES)}; missing {', '.join(missing)})"
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:
        raise UserError(
            f"{name} is not in {where} and downloading it failed ({type(exc).__name__}). "
            "Copy the four files there, point --data-dir / RNNLAB_DATA_DIR at a folder holding them, "
            "or use --dataset digits, which works offline"
        ) from None
    finally:
        socket.setdefaulttimeout(old_timeout)


def _load_digits() -> ImageSet:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32) / 16.0  # (1797, 8, 8)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_test = len(labels) // 5
    test_idx, train_idx = order[:n_test], order[n_test:]
    mean, std = images[train_idx].mean(), images[train_idx].std()
    images = (images - mean) / std
    return ImageSet(Split(images[train_idx], labels[train_idx]), Split(images[test_idx], labels[test_idx]), 10)


def load_images(dataset: str, data_dir: str | None) -> ImageSet:
    if dataset == "digits":
        return _load_digits()
    if dataset not in _TORCHVISION:
        raise UserError(f"--dataset: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return _load_torchvision(dataset, resolve_data_dir(data_dir))


# ---- sequence views: (N, H, W) -> (N, T, I) ------------------------------------------------------------------


def pixel_permutation(num_pixels: int, seed: int) -> Tensor:
    return torch.randperm(num_pixels, generator=torch.Generator().manual_seed(seed))


View = Callable[[Tensor, int], Tensor]

VIEWS: dict[str, View] = {
    "rows": lambda img, seed: img,  # T = H rows of I = W pixels
    "cols": lambda img, seed: img.transpose(1, 2),  # T = W columns of I = H pixels
    "pixels": lambda img, seed: img.reshape(img.shape[0], -1, 1),  # T = H*W steps of one pixel
    "permuted": lambda img, seed: img.reshape(img.shape[0], -1, 1)[:, pixel_permutation(img[0].numel(), seed)],
}


def as_sequences(images: Tensor, sequence: str, permute_seed: int = 0) -> Tensor:
    if sequence not in VIEWS:
        raise UserError(f"--sequence: unknown view {sequence!r}; choose one of {', '.join(VIEWS)}")
    return VIEWS[sequence](images, permute_seed).contiguous()


# ---- ready-to-train sequences and batches --------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceData:
    train: tuple[Tensor, Tensor]  # (N, T, I), (N,)
    val: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    num_classes: int
    lengths: dict[str, Tensor] | None = None  # per split ("train", "val", "test"): valid steps per sample

    def lengths_of(self, split: str) -> Tensor | None:
        return None if self.lengths is None else self.lengths[split]

    @property
    def input_size(self) -> int:
        return self.train[0].shape[2]

    @property
    def seq_len(self) -> int:
        return self.train[0].shape[1]


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
    return SequenceData(splits["train"], splits["val"], splits["test"], images.num_classes, lengths)


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


IMAGE_SIZES = {"mnist": (28, 28), "fashion-mnist": (28, 28), "kmnist": (28, 28), "digits": (8, 8)}


def sequence_shape(dataset: str, sequence: str) -> tuple[int, int]:
    """(T, I) of a dataset under a view, without loading it."""
    h, w = IMAGE_SIZES[dataset]
    return {"rows": (h, w), "cols": (w, h), "pixels": (h * w, 1), "permuted": (h * w, 1)}[sequence]


def as_image(seq: Tensor, sequence: str, image_size: tuple[int, int], permute_seed: int = 0) -> Tensor:
    """Undo a view: one sequence (T, I) back to its (H, W) image, for showing what the net read."""
    h, w = image_size
    if sequence == "rows":
        return seq.reshape(h, w)
    if sequence == "cols":
        return seq.reshape(w, h).t()
    flat = seq.reshape(-1)
    if sequence == "permuted":
        flat = torch.empty_like(flat).index_copy_(0, pixel_permutation(h * w, permute_seed), flat)
    return flat.reshape(h, w)
