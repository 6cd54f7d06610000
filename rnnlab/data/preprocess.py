"""What turns a raw image into what a model reads: its size, the normalisation, the sequence view, the classes.

Saved in every checkpoint (as a plain dict), so a trained model runs on a new image with no dataset at hand: the
normalisation is the training set's, measured once when the run was trained, never recomputed at load time.
Legend: N images, H/W image height/width, T time steps, I features per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rnnlab.config import DataConfig
from rnnlab.config.flags import POSITIVE, UNIT
from rnnlab.config.run import IMAGE_SIZES
from rnnlab.errors import ConfigError
from rnnlab.text import short_repr

if TYPE_CHECKING:
    from torch import Tensor

    from rnnlab.data.sets import ImageSet

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

    def __post_init__(self) -> None:
        """Checked as the flags are: read from a checkpoint, these may be anything. The settings a flag also sets
        (dataset, sequence, permutation seed) by that flag's own declaration; the image size is the dataset's; the
        normalisation finite, its std above 0 (it divides)."""
        try:
            DataConfig(dataset=self.dataset, sequence=self.sequence, permute_seed=self.permute_seed)
        except ConfigError as exc:
            raise ValueError(f"{exc.field}: {exc.reason}") from None
        if self.image_size != IMAGE_SIZES[self.dataset]:
            raise ValueError(
                f"image_size: {self.dataset}'s images are {IMAGE_SIZES[self.dataset]}, not {self.image_size}"
            )
        for name, value, where in (("mean", self.mean, UNIT), ("std", self.std, POSITIVE)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number, got {short_repr(value)}")
            if not where.holds(value):
                raise ValueError(f"{name}: must be {where.describe()}, got {value}")
        if not 1 <= len(self.class_names) <= 1000 or not all(isinstance(n, str) for n in self.class_names):
            raise ValueError("class_names: expected a list of names")

    @classmethod
    def measure(cls, cfg: DataConfig, images: ImageSet) -> Preprocessing:
        """A dataset's preprocessing: the normalisation its loader measured on the training images."""
        height, width = images.train.images.shape[1:]  # (N, H, W)
        return cls(
            cfg.dataset,
            (height, width),
            images.mean,
            images.std,
            cfg.sequence,
            cfg.permute_seed,
            CLASS_NAMES[cfg.dataset],
        )

    def to_sequences(
        self,
        images: Tensor,  # (N, H, W) pixels in [0, 1], light on dark, at image_size
    ) -> Tensor:  # (N, T, I): what the model reads
        """Normalise with the training set's mean and std, then read each image as the model was trained to."""
        from rnnlab.data.views import as_sequences

        if tuple(images.shape[1:]) != self.image_size:
            raise ValueError(f"images of size {tuple(images.shape[1:])}; this model reads {self.image_size}")
        return as_sequences((images.float() - self.mean) / self.std, self.sequence, self.permute_seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Preprocessing:
        """Raises KeyError, TypeError or ValueError for a dict that is not a preprocessing."""
        values = dict(raw)
        values["image_size"] = tuple(values["image_size"])
        values["class_names"] = tuple(values["class_names"])
        return cls(**values)
