"""What turns a raw image into what a model reads: its size, the normalisation, the sequence view, the classes.

Saved in every checkpoint (as a plain dict), so a trained model runs on a new image with no dataset at hand: the
normalisation is the training set's, measured once when the run was trained, never recomputed at load time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CLASS_NAMES = {
    "mnist": tuple(str(k) for k in range(10)),
    "digits": tuple(str(k) for k in range(10)),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Preprocessing:
    dataset: str
    image_size: tuple[int, int]  # (H, W) of the images the model was trained on
    mean: float  # of the training images' pixels, scaled to [0, 1]
    std: float
    sequence: str  # rows, cols, pixels or permuted
    permute_seed: int
    class_names: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Preprocessing:
        values = dict(raw)
        values["image_size"] = tuple(values["image_size"])
        values["class_names"] = tuple(values["class_names"])
        return cls(**values)
