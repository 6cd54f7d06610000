"""The datasets as in-memory tensors: MNIST and its siblings through torchvision, scikit-learn's digits offline.

Images are loaded once into an (N, H, W) float tensor and normalised with the training set's mean and std.
Legend: N samples, H/W image height/width.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.config import DATASETS
from rnnlab.errors import UserError
from rnnlab.text import first_line

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}
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
    mean: float  # the training images' pixel mean and std (pixels in [0, 1]) that normalised both splits
    std: float


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
        mean=float(mean),
        std=float(std),
    )


def _download(cls: type, name: str, root: Path, raw: Path, missing: list[str]) -> None:
    if root.exists() and not root.is_dir():
        inside = raw.relative_to(root)
        raise UserError(f"--data-dir: {root} is a file; give the folder that holds (or will hold) {inside}")
    where = f"{raw} (expected {', '.join(MNIST_FILES)}; missing {', '.join(missing)})"
    made = [p for p in (raw, *raw.parents) if not p.exists()]  # what a failed download must not leave behind
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(str(root), train=True, download=True)
    except Exception as exc:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise UserError(
            f"{name} is not in {where} and downloading it failed ({first_line(exc, 100)}). "
            "Copy the four files there, point --data-dir / RNNLAB_DATA_DIR at a folder holding them, "
            "or train with --dataset digits, which works offline"
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
    train, test = Split(images[train_idx], labels[train_idx]), Split(images[test_idx], labels[test_idx])
    return ImageSet(train, test, 10, float(mean), float(std))


def dataset_at_hand(dataset: str, data_dir: str | None) -> bool:
    """Whether ``dataset`` loads without a download: digits always; the others where their files are."""
    if dataset not in _TORCHVISION:
        return dataset == "digits"
    raw = resolve_data_dir(data_dir) / _TORCHVISION[dataset] / "raw"
    return all((raw / f).is_file() for f in MNIST_FILES)


def load_images(dataset: str, data_dir: str | None) -> ImageSet:
    if dataset == "digits":
        return _load_digits()
    if dataset not in _TORCHVISION:
        raise UserError(f"--dataset: unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return _load_torchvision(dataset, resolve_data_dir(data_dir))
