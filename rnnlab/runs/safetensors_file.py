"""A checkpoint as a safetensors file: the model's parameters under PyTorch's own names (``rnns.0.weight_ih_l0``:
each layer an nn.LSTM / nn.GRU / nn.RNN) and, as the file's metadata (text to text), the format marker, the run's
config and preprocessing as JSON, and where in training it was saved. No pickle: reading it runs no code.

``rnnlab eval``, ``predict`` and ``visualize`` read it as they read best.pt (runs.checkpoint.load_checkpoint calls
``read_safetensors`` for a file named ``*.safetensors``); what it says is then checked as a best.pt's is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnlab.errors import UserError
from rnnlab.extras import require
from rnnlab.reading import loads
from rnnlab.text import short_repr

SUFFIX = ".safetensors"
JSON_KEYS = ("config", "preprocessing", "saved", "made_by")  # metadata held as JSON text; the rest is plain text
SAVED = ("epoch", "step", "batch_in_epoch")


def is_safetensors(path: Path) -> bool:
    return path.suffix == SUFFIX


def safetensors_payload(ckpt: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A checkpoint (as load_checkpoint returns it) as the tensors and the metadata of a safetensors file."""
    metadata = {
        "format": str(ckpt["format"]),
        "version": str(ckpt["version"]),
        "config": json.dumps(ckpt["config"]),
        "preprocessing": json.dumps(ckpt["preprocessing"]),
        "saved": json.dumps({key: ckpt.get(key) for key in SAVED}),
        "made_by": json.dumps(ckpt.get("made_by") or {}),
    }
    tensors = {name: tensor.detach().contiguous() for name, tensor in ckpt["model"].items()}
    return tensors, metadata


def read_safetensors(path: Path, marker: str) -> dict[str, Any]:
    """The checkpoint a safetensors file holds, as torch.load gives a best.pt's (its checks are the caller's). The
    file is opened once and its metadata read first: one without ``marker`` as its format is returned without its
    tensors, never read (a foreign file may be any size), for the caller to refuse as it refuses a best.pt."""
    safetensors = require("safetensors.torch", "export", f"reading {path}")
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            if metadata.get("format") != marker:
                return {"format": metadata.get("format")}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception:  # the library's reasons (header too large, invalid JSON at byte N) tell less than this
        raise UserError(f"{path} is not a readable safetensors file (another kind of file, or one cut short)") from None
    ckpt: dict[str, Any] = {"model": tensors}
    for key, value in metadata.items():
        if key in JSON_KEYS:
            try:
                ckpt[key] = loads(value)
            except ValueError:
                raise UserError(f"{path} is not an rnnlab checkpoint: its {key} metadata is not JSON") from None
        else:
            ckpt[key] = value
    _same_preprocessing(path, ckpt)
    if ckpt.get("version", "").isdigit():
        ckpt["version"] = int(ckpt["version"])
    saved = ckpt.pop("saved", None)
    if isinstance(saved, dict):
        ckpt.update({key: saved.get(key) for key in SAVED})
    return ckpt


SPELLED_OUT = ("image_size", "mean", "std", "sequence", "permute_seed", "class_names")  # also top-level, for others


def _same_preprocessing(path: Path, ckpt: dict[str, Any]) -> None:
    """The preprocessing JSON (what rnnlab reads) and the top-level keys that spell it out for readers outside
    rnnlab (what the README's snippets read) must agree: a file edited in one place only is two models."""
    kept = ckpt.get("preprocessing")
    if not isinstance(kept, dict):
        return  # the checkpoint's own checks refuse it
    for key in SPELLED_OUT:
        if key not in ckpt or key not in kept:
            continue
        same = _agree(ckpt[key], kept[key])
        if not same:
            raise UserError(
                f"{path}: its {key} metadata ({short_repr(ckpt[key])}) is not its preprocessing's "
                f"({short_repr(kept[key])}); the two say different models, so neither is trusted"
            )


def _agree(text: Any, value: Any) -> bool:
    """A top-level value (text: JSON for lists, else plain) is the preprocessing's: 0.1307 and "0.1307" agree."""
    try:
        read = loads(text) if isinstance(text, str) and text[:1] in "[{" else text
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(read) == float(value)
    except (TypeError, ValueError):
        return False
    return read == value or str(read) == str(value)
