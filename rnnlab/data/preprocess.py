"""What turns a raw image into what a model reads: its size, the normalisation, the sequence view, the classes.

Saved in every checkpoint (as a plain dict), so a trained model runs on a new image with no dataset at hand: the
normalisation is the training set's, measured once when the run was trained, never recomputed at load time.
Legend: N images, H/W image height/width, T time steps, I features per step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from rnnlab.config import DataConfig
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
        values = dict(raw)
        values["image_size"] = tuple(values["image_size"])
        values["class_names"] = tuple(values["class_names"])
        return cls(**values)
