"""A user's images for a trained model: PNG or JPEG files of digits, and .npy arrays, as the training images were.

A picture of any size, light or dark background, becomes what the model was trained on the way MNIST's digits
were made (LeCun et al.): the digit's bounding box scaled, anti-aliased, to 20 pixels on its longer side, placed in
the 28x28 field with its centre of mass at the centre, light on dark. Other datasets are framed as theirs were:
scikit-learn's 8x8 digits fill their field (area-averaged blocks), Fashion-MNIST's items their 28x28 field. A
picture already at the model's image size is taken as it is, only turned light on dark where its background is
light: an MNIST image written as a PNG comes back pixel for pixel. A .npy array is (H, W) or (N, H, W) at the
model's size, light on dark, in [0, 1] or [0, 255]; a stack is read through a memory map and checked in chunks,
its images made one at a time when asked, so a stack of any length takes bounded memory. A blank image, array or
picture, is refused: the model would still name a class for it. Only regular files are opened (a FIFO or a device
would block for ever), and a picture is refused by its header's size before it is decoded. Every mistake is a
UserError naming the file.
Legend: N images, H/W height/width.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, overload

import numpy as np

from rnnlab.errors import UserError
from rnnlab.reading import require_regular
from rnnlab.text import first_line

INK = 0.05  # a pixel this far above the background is part of the digit (bounding box)
BLANK = 0.05  # an image whose pixels span less than this (of [0, 1]) holds no digit
ARRAY_HELP = "an (H, W) or (N, H, W) array at the model's image size, light on dark, in [0, 1] or [0, 255]"
# A picture past this many pixels is refused before decoding: reading it takes about 24 bytes a pixel at its peak
# (gray in float64, the inverted copy, the digit's crop; docs/BENCHMARKS.md), so this one needs about 600 MB.
MAX_PIXELS = 25_000_000
CHUNK = 4096  # images of a stack checked at once


@dataclass(frozen=True)
class Framing:
    """How a dataset's images were made from a drawing."""

    box: float  # the longer side of the digit's bounding box, as a share of the field's
    by_mass: bool  # centred by centre of mass (MNIST), else by the bounding box
    filter: str  # the resampling: lanczos (anti-aliased), or box (area averages, as the 8x8 digits' blocks)


FRAMINGS = {
    "mnist": Framing(20 / 28, True, "lanczos"),
    "kmnist": Framing(20 / 28, True, "lanczos"),
    "fashion-mnist": Framing(1.0, False, "lanczos"),
    "digits": Framing(1.0, False, "box"),
}


@dataclass(frozen=True)
class ReadImage:
    source: str  # the file, and the index within a .npy stack
    read: np.ndarray  # the picture as read, in gray, in [0, 1] (for showing)
    image: np.ndarray  # (H, W) float32 in [0, 1], light on dark: what the model reads before normalising
    file: str = ""  # the file's own name (no folder), "" for an image given in memory: what figures are named by
    index: int | None = None  # the image's index within a stack


class Stack(Sequence[ReadImage]):
    """The images of an (N, H, W) array already checked, each made when asked: the array (often a memory map of
    the file) is never copied whole."""

    def __init__(self, source: str, values: np.ndarray, scale: float, file: str = "") -> None:
        self.source, self.values, self.scale, self.file = source, values, np.float32(scale), file

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, k: int) -> ReadImage: ...
    @overload
    def __getitem__(self, k: slice) -> list[ReadImage]: ...
    def __getitem__(self, k: int | slice) -> ReadImage | list[ReadImage]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        v = np.asarray(self.values[k], dtype=np.float32) / self.scale
        return ReadImage(f"{self.source}[{k}]", v, v, self.file, k)


def read_images(source: Any, dataset: str, size: tuple[int, int]) -> Sequence[ReadImage]:
    """One source as the model's images: a path (PNG, JPEG, .npy), a PIL image, or a numpy array / tensor."""
    from PIL import Image

    if isinstance(source, (str, Path)):
        return _read_file(Path(source), dataset, size)
    if isinstance(source, Image.Image):
        return [_picture(f"a {source.width}x{source.height} picture", source, dataset, size)]
    return _array(f"an array {tuple(np.shape(source))}", np.asarray(source), size)


def _regular(path: Path) -> None:
    """Only a regular file is read: a FIFO, a socket or a device would block or never end."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: a folder; give image files (PNG, JPEG) or .npy arrays")
    require_regular(path)


def _read_file(path: Path, dataset: str, size: tuple[int, int]) -> Sequence[ReadImage]:
    _regular(path)
    if path.suffix.lower() == ".npy":
        try:
            with warnings.catch_warnings():  # numpy warns of a header's impossible shape before refusing it
                warnings.simplefilter("ignore")
                array = np.load(path, allow_pickle=False, mmap_mode="r")
        except Exception:  # ValueError, OSError, EOFError...: numpy's reasons speak of pickles and headers
            raise UserError(f"{path}: not a readable .npy array (damaged, cut short, or not from numpy.save)") from None
        return _array(str(path), array, size, path.name)
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # past MAX_IMAGE_PIXELS Pillow warns on stderr; it still reads the file whole
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                width, height = picture.size  # from the header: nothing is decoded yet
                if width * height > MAX_PIXELS:
                    raise UserError(
                        f"{path}: a {width:,}x{height:,} picture ({width * height:,} pixels) is larger than rnnlab "
                        f"reads ({MAX_PIXELS:,} pixels); scale it down first"
                    )
                picture.load()
                return [replace(_picture(str(path), picture, dataset, size), file=path.name)]
    except Image.DecompressionBombError as exc:  # past twice MAX_IMAGE_PIXELS Pillow refuses even to open it
        raise UserError(
            f"{path}: a picture of {_pixels(exc)} is larger than rnnlab reads ({MAX_PIXELS:,} pixels); scale it down "
            "first"
        ) from None
    except UnidentifiedImageError:
        raise UserError(f"{path}: not an image (PNG, JPEG or another format Pillow reads) nor a .npy array") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged files
        raise UserError(f"{path}: a damaged image ({first_line(exc)})") from None


def _pixels(exc: Exception) -> str:
    """'225,000,000 pixels', from Pillow's message (it refuses before the size can be asked)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow decodes"


def _array(source: str, array: np.ndarray, size: tuple[int, int], file: str = "") -> Sequence[ReadImage]:
    shape = tuple(array.shape)
    if array.ndim not in (2, 3) or shape[-2:] != size:
        H, W = size
        raise UserError(
            f"{source}: an array of shape {shape}; expected one {H}x{W} image or a stack of them (N, {H}, {W}), "
            "the model's image size"
        )
    if array.dtype.kind not in "biuf":
        raise UserError(f"{source}: an array of {array.dtype}; expected numbers ({ARRAY_HELP})")
    if array.size == 0:
        raise UserError(f"{source}: an array with no values; expected {ARRAY_HELP}")
    stack = array if array.ndim == 3 else array[None]
    low, high, blank = _survey(source, stack)
    if low < 0 or high > 255:
        raise UserError(f"{source}: values from {low:g} to {high:g}; expected {ARRAY_HELP}")
    scale = 255.0 if high > 1 else 1.0
    _refuse_blank(source, blank, len(stack), array.ndim == 2, scale)
    images = Stack(source, stack, scale, file)
    if array.ndim == 2:
        only = images[0]
        return [replace(only, source=source, index=None)]
    return images


def _survey(source: str, stack: np.ndarray) -> tuple[float, float, np.ndarray]:
    """The lowest and highest value of a stack, and each image's span (max - min), read a chunk at a time."""
    low, high = np.inf, -np.inf
    spans = np.empty(len(stack), dtype=np.float32)
    for start in range(0, len(stack), CHUNK):
        chunk = np.asarray(stack[start : start + CHUNK], dtype=np.float32).reshape(-1, stack.shape[1] * stack.shape[2])
        if not np.isfinite(chunk).all():
            raise UserError(f"{source}: an array with NaN or infinite values; expected {ARRAY_HELP}")
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        spans[start : start + len(chunk)] = np.ptp(chunk, axis=1)
    return low, high, spans


def _refuse_blank(source: str, spans: np.ndarray, n: int, single: bool, scale: float) -> None:
    """A blank image (all one shade) is refused as a blank page is: the model would still name a class for it."""
    blank = np.nonzero(spans / scale < BLANK)[0].tolist()
    if single and blank:
        raise UserError(f"{source}: holds no digit (every pixel is nearly the same shade)")
    if blank:
        which = ", ".join(map(str, blank[:10])) + (", ..." if len(blank) > 10 else "")
        raise UserError(
            f"{source}: {len(blank)} of its {n} images {'holds' if len(blank) == 1 else 'hold'} no digit "
            f"(every pixel nearly the same shade): index {which}"
        )


def _picture(source: str, picture: Any, dataset: str, size: tuple[int, int]) -> ReadImage:
    gray = _gray(picture)
    image = light_on_dark(gray)
    if image.shape != size:
        image = frame(image, size, FRAMINGS.get(dataset, FRAMINGS["mnist"]), source)
    elif float(np.ptp(image)) < BLANK:  # taken as it is, so framing's own check never sees it
        raise UserError(f"{source}: holds no digit (every pixel is nearly the same shade)")
    return ReadImage(source, _for_showing(gray), image.astype(np.float32))


SHOWN = 512  # pixels on the longer side of a picture as a figure shows it


def _for_showing(gray: np.ndarray) -> np.ndarray:
    """The picture as read, at most SHOWN pixels on its longer side: what a figure draws of a 12-megapixel photo,
    kept for many images at once in bounded memory."""
    from PIL import Image

    if max(gray.shape) <= SHOWN:
        return gray
    scale = SHOWN / max(gray.shape)
    shape = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return np.asarray(Image.fromarray(gray.astype(np.float32)).resize(shape, Image.Resampling.BOX), dtype=np.float64)


def _gray(picture: Any) -> np.ndarray:
    """The picture in gray, in [0, 1]: upright (EXIF), transparency laid on white, 16-bit kept whole."""
    from PIL import Image, ImageOps

    picture = ImageOps.exif_transpose(picture)
    if picture.mode in ("I", "I;16", "I;16B", "I;16L"):
        values = np.asarray(picture, dtype=np.float64)
        return values / (65535.0 if values.max() > 255 else 255.0)
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        picture = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return np.asarray(picture.convert("L"), dtype=np.float64) / 255.0


def _border(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def light_on_dark(gray: np.ndarray) -> np.ndarray:
    """MNIST's polarity: a picture whose border is lighter than the whole is inverted."""
    return 1.0 - gray if _border(gray).mean() > gray.mean() else gray


def frame(image: np.ndarray, size: tuple[int, int], framing: Framing, source: str = "the image") -> np.ndarray:
    """A light-on-dark drawing of any size as the dataset's images were made: background to 0, the digit's
    bounding box scaled to ``framing.box`` of the field (aspect kept), centred, strongest pixel 1."""
    from PIL import Image

    background = float(np.median(_border(image)))
    span = float(image.max()) - background
    if span < BLANK:
        raise UserError(f"{source}: holds no digit (every pixel is nearly the same shade)")
    ink = np.clip((image - background) / span, 0.0, 1.0)
    rows, cols = np.nonzero(ink.max(axis=1) > INK)[0], np.nonzero(ink.max(axis=0) > INK)[0]
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    H, W = size
    scale = framing.box * min(H, W) / max(ink.shape)
    shape = (max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale)))
    resample = Image.Resampling.BOX if framing.filter == "box" else Image.Resampling.LANCZOS
    small = np.asarray(Image.fromarray(ink.astype(np.float32)).resize(shape[::-1], resample))
    small = np.clip(small, 0.0, None)
    small = small / small.max()
    if framing.by_mass:
        weight = small.sum()
        cy = float((small.sum(axis=1) * np.arange(shape[0])).sum() / weight)
        cx = float((small.sum(axis=0) * np.arange(shape[1])).sum() / weight)
        top, left = round((H - 1) / 2 - cy), round((W - 1) / 2 - cx)
    else:
        top, left = (H - shape[0]) // 2, (W - shape[1]) // 2
    return _paste(small, top, left, size)


def _paste(patch: np.ndarray, top: int, left: int, size: tuple[int, int]) -> np.ndarray:
    """``patch`` placed at (top, left) in a field of zeros, whatever falls outside cut off."""
    field = np.zeros(size)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + patch.shape[0], size[0]), min(left + patch.shape[1], size[1])
    field[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]
    return field
