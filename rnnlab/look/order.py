"""How a sequence view reads an image, step by step: which step reads each pixel, and how to show what was read.

The map from pixels to steps is made by the data's own view (data.views.as_sequences) run on an image of pixel
numbers, so it cannot disagree with what the model reads. Steps are counted from 0 here, from 1 in everything shown.
Legend: H/W image height/width, T time steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnlab.data.views import as_sequences

UNREAD = np.array([0.36, 0.45, 0.62])  # the tint of a pixel not read yet, on dark: a dim blue-gray


@dataclass(frozen=True)
class Reading:
    """One image as a sequence view reads it."""

    image: np.ndarray  # (H, W): what the model read, scaled to [0, 1] for showing
    step_of: np.ndarray  # (H, W) int: the step (from 0) that reads each pixel
    steps: int  # T: the steps this sequence has (a shortened one reads fewer than its view's)
    sequence: str  # rows, cols, pixels or permuted
    permute_seed: int = 0

    @classmethod
    def of(cls, image: np.ndarray, sequence: str, permute_seed: int = 0, steps: int | None = None) -> Reading:
        """``image`` (H, W), in any range (a normalised one is scaled back to [0, 1] for showing)."""
        h, w = image.shape
        numbers = torch.arange(h * w, dtype=torch.float64).reshape(1, h, w)
        read = as_sequences(numbers, sequence, permute_seed)[0].long().numpy()  # (T, I): the pixel each reads
        step_of = np.empty(h * w, dtype=np.int64)
        step_of[read.reshape(-1)] = np.repeat(np.arange(read.shape[0]), read.shape[1])
        low, high = float(image.min()), float(image.max())
        shown = (image - low) / (high - low) if high > low else np.zeros_like(image)
        T = read.shape[0] if steps is None else steps
        return cls(np.asarray(shown, dtype=np.float64), step_of.reshape(h, w), T, sequence, permute_seed)

    @property
    def along(self) -> str | None:
        """'rows' where step t reads row t (the steps drawn down, beside the image), 'cols' where it reads column t
        (the steps drawn across, under the image), None where a step reads one pixel."""
        return self.sequence if self.sequence in ("rows", "cols") else None

    @property
    def order(self) -> str:
        """How the steps read the image, in words."""
        return {
            "rows": "read row by row, top to bottom: step t reads row t",
            "cols": "read column by column, left to right: step t reads column t",
            "pixels": "read pixel by pixel, along each row from the left, rows from the top",
            "permuted": f"read pixel by pixel in a fixed random order (permutation seed {self.permute_seed})",
        }[self.sequence]

    def read_by(self, t: int) -> np.ndarray:
        """(H, W) bool: the pixels read in steps 1..t+1."""
        return self.step_of <= min(t, self.steps - 1)

    def shown_at(self, t: int | None) -> np.ndarray:
        """(H, W, 3) RGB: the pixels read by step t+1 in gray, the others dimmed and tinted (None: every step the
        sequence has)."""
        gray = np.repeat(self.image[..., None], 3, axis=2)
        dim = 0.12 + 0.3 * gray * UNREAD
        read = self.read_by(self.steps - 1 if t is None else t)
        return np.where(read[..., None], gray, dim)

    def per_step(self) -> np.ndarray:
        """(T,): the value each step reads, where a step reads one pixel (pixels, permuted)."""
        values = np.empty(self.step_of.size)
        values[self.step_of.reshape(-1)] = self.image.reshape(-1)
        return values[: self.steps]
