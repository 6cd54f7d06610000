"""Sequence views: how an (N, H, W) batch of images becomes (N, T, I) sequences, and back to one image.

Legend: N samples, H/W image height/width, T time steps, I features per step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab.errors import UserError


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
