"""What a playground request may ask, checked field by field: every mistake a user can make is a Refused (a 4xx
answer with one line), never a traceback, and nothing in a request reaches the file system.

A request to read is a JSON object with exactly one image: ``image`` (a PNG, JPEG, GIF, BMP or WEBP picture,
as base64 or a data: URL, what the page's canvas and its file upload send), ``pixels`` (an (H, W) array at the
model's image size, light on dark, in [0, 1] or [0, 255]) or ``sample`` (a test-set image by its index); and
optionally ``engine`` and ``layer`` (counted from 1, or "all").
Legend: H/W the model's image height/width.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

from rnnlab.errors import UserError

MAX_BODY = 8 * 1024 * 1024  # bytes of a request: a photo from a phone fits, base64 and all
MAX_PIXELS = 4_000_000  # of an uploaded picture, by its header, before it is decoded (a 2000x2000 photo)
MAX_FILE = MAX_BODY * 3 // 4 - 4096  # bytes of a picture file that fit in a request once sent as base64
FIELDS = ("image", "pixels", "sample", "engine", "layer")
IMAGES = ("image", "pixels", "sample")
WHOLE = re.compile(r"[+-]?[0-9]{1,9}")  # ASCII digits only: str.isdigit() takes "²" and "①", int() takes "٣"


class Refused(Exception):
    """A request the playground will not answer: ``status`` (400, 404, 413, 415) and one line saying why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReadRequest:
    kind: str  # image, pixels or sample
    value: Any  # a PIL image, an (H, W) list of lists, or a sample index
    engine: str | None  # None: the one the page was started with
    layer: int | None  # counted from 1; None: every layer


def read_request(body: Any, size: tuple[int, int], layers: int) -> ReadRequest:
    """The JSON object of a POST /api/read, checked; ``size`` the model's image size, ``layers`` its layer count."""
    if not isinstance(body, dict):
        raise Refused('the request must be a JSON object such as {"image": "data:image/png;base64,..."}')
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        raise Refused(f"unknown field {str(unknown[0])[:40]!r}; the fields are {', '.join(FIELDS)}")
    given = [k for k in IMAGES if k in body]
    if len(given) != 1:
        raise Refused(f"give exactly one of {', '.join(IMAGES)}; got {len(given) or 'none'}")
    kind = given[0]
    value = {"image": _picture, "pixels": lambda v: _pixels(v, size), "sample": _index}[kind](body[kind])
    engine = body.get("engine")
    if engine is not None and (not isinstance(engine, str) or not engine):
        raise Refused(f"engine: expected an engine's name, got {_short(engine)}")
    return ReadRequest(kind, value, engine, _layer(body.get("layer", "all"), layers))


def _layer(value: Any, layers: int) -> int | None:
    if value == "all" or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= layers:
        raise Refused(f'layer: expected "all" or a layer from 1 to {layers}, got {_short(value)}')
    return value


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"sample: expected a test-set index (a whole number), got {_short(value)}")
    return value


def _pixels(value: Any, size: tuple[int, int]) -> list[list[float]]:
    """An (H, W) list of lists of finite numbers, checked before numpy sees it (a ragged or nested list would
    become an array of objects)."""
    H, W = size
    if not isinstance(value, list) or len(value) != H or not all(isinstance(r, list) and len(r) == W for r in value):
        raise Refused(f"pixels: expected {H} rows of {W} numbers (the model's image size), light on dark")
    for row in value:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise Refused(f"pixels: expected numbers in [0, 1] or [0, 255], got {_short(v)}")
            if not 0 <= v <= 255:
                raise Refused(f"pixels: {_short(v)} is out of range; expected numbers in [0, 1] or [0, 255]")
    return value


def _picture(value: Any) -> Any:
    """A picture sent as base64 (a data: URL's or bare), opened from memory: its size is checked from its header
    before it is decoded, and nothing is written anywhere."""
    from PIL import Image, UnidentifiedImageError

    from rnnlab.playground.guard import PICTURE_FORMATS, picture_formats

    if not isinstance(value, str):
        raise Refused("image: expected a picture as base64 text or a data: URL")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("image: not base64 text (a picture is sent as base64 or a data: URL)") from None
    if not data:
        raise Refused("image: an empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data), formats=PICTURE_FORMATS)  # never EPS: Ghostscript
            width, height = picture.size
            if width * height > MAX_PIXELS:
                raise Refused(
                    f"image: a {width:,}x{height:,} picture is larger than the playground reads ({MAX_PIXELS:,} "
                    "pixels); scale it down first",
                    413,
                )
            picture.load()
    except Image.DecompressionBombError:
        raise Refused(f"image: a picture larger than the playground reads ({MAX_PIXELS:,} pixels)", 413) from None
    except UnidentifiedImageError:
        raise Refused(f"image: not an image the playground opens ({picture_formats()})", 415) from None
    except (OSError, ValueError, SyntaxError) as exc:
        said = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise Refused(f"image: a damaged image ({said})") from None
    return picture


def whole_number(text: str, name: str) -> int:
    """A query parameter's whole number, strictly: ASCII digits with an optional sign, nothing Python's int() also
    reads (other scripts' digits, underscores, spaces)."""
    if not WHOLE.fullmatch(text) or int(text) < 0:
        raise Refused(f"{name}: expected a whole number >= 0, got {text[:20]!r}")
    return int(text)


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def refused(exc: UserError) -> Refused:
    """A UserError of the library (a blank image, an array of another size) as the answer to a request."""
    return Refused(str(exc))
