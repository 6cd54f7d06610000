"""Checkpoints: written atomically, read with ``weights_only=True``, checked before use.

A checkpoint holds the model's state_dict under PyTorch's own names, the optimiser, the position in training
(epoch, batch within it, step), the RNG states, the run's config and its preprocessing as plain dicts, so the model
can be rebuilt and used on a new image from the file alone and ``--resume`` continues exactly where it stood.

A checkpoint may come from anyone. ``weights_only=True`` lets torch.load build nothing but tensors and plain
containers (no code runs); what they say is then checked before it is used: the config against the flags' own
declarations, the preprocessing against its own, the weights' names, shapes and count against the config's model
before that model is built (a config asking for 200,000 hidden units is refused, not allocated), the model's size
against the memory free, and every weight finite.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from rnnlab.config import RunConfig
from rnnlab.data.preprocess import Preprocessing
from rnnlab.data.sets import dataset_at_hand, load_images, resolve_data_dir
from rnnlab.errors import UserError
from rnnlab.model.classifier import SequenceClassifier, build_model
from rnnlab.model.size import parameter_count
from rnnlab.reading import require_regular, too_deep_object
from rnnlab.runs.config_file import read_run_file, state_of
from rnnlab.runs.files import atomic_write_bytes
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.safetensors_file import is_safetensors, read_safetensors
from rnnlab.runtime.free_memory import check_model_fits
from rnnlab.text import short_repr

FORMAT = "rnnlab-checkpoint"
VERSION = 1


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_bytes(path, lambda f: torch.save({"format": FORMAT, "version": VERSION, **payload}, f))


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its best.pt (else checkpoint.pt); a file means itself."""
    p = Path(path)
    if p.is_dir():
        folder = RunFolder(p)
        found = folder.model_file()
        if found is not None:
            return found
        if folder.config.is_file():
            raise UserError(f"{p} has no checkpoint yet: {_why_no_checkpoint(p)}")
        raise UserError(f"{p} holds no best.pt or checkpoint.pt; give a run folder written by `rnnlab train`")
    if not p.exists():
        raise UserError(f"{p} does not exist; give a run folder or a checkpoint file written by `rnnlab train`")
    require_regular(p)
    return p


def _why_no_checkpoint(run: Path) -> str:
    """A run ended before its first checkpoint says how it ended; one still training says when to come back."""
    record = read_run_file(run)  # a config.json that does not check out is the error to report
    state = state_of(record)
    if state in ("failed", "stopped"):
        detail = record.status.get("detail")
        return f"it {state} before writing one{f' ({detail})' if detail else ''}; start it again with --force"
    return (
        "a run writes one at the end of each epoch (or every N steps with --checkpoint-every); wait for its first "
        "epoch to end"
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file (best.pt, checkpoint.pt, or an exported ``*.safetensors``) or a run folder's, checked."""
    p = resolve_checkpoint(path)
    graph = graph_export(p)
    if graph is not None:
        raise UserError(
            f"{p} is {graph} file (from rnnlab export); eval, predict and visualize take a .pt checkpoint or a "
            ".safetensors export"
        )
    if is_safetensors(p):  # `rnnlab export --format safetensors`: the same checkpoint, pickle-free
        ckpt: Any = read_safetensors(p, FORMAT)
    else:
        try:
            with warnings.catch_warnings():  # torch's warnings of a file it then refuses: the refusal is the one line
                warnings.simplefilter("ignore")
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
        except Exception:  # torch's reasons ("Weights only load failed", a bare KeyError) mislead more than they tell
            raise UserError(
                f"{p} is not a readable checkpoint: torch.load cannot read it, so it is not one written by rnnlab "
                "(another kind of file, or one cut short)"
            ) from None
    problem = too_deep_object(ckpt)  # before anything is printed or walked: repr and json recurse
    if problem:
        raise UserError(f"{p} is not an rnnlab checkpoint: {problem}")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        written = "`rnnlab export --format safetensors`" if is_safetensors(p) else "`rnnlab train`"
        raise UserError(f"{p} is not an rnnlab checkpoint (no '{FORMAT}' marker); give one written by {written}")
    if ckpt.get("version") != VERSION:
        raise UserError(
            f"{p} is checkpoint format version {short_repr(ckpt.get('version'))}; this rnnlab reads version {VERSION}"
        )
    weights = ckpt.get("model")
    if not isinstance(weights, dict) or not all(isinstance(k, str) and _plain_weight(v) for k, v in weights.items()):
        raise UserError(
            f"{p} holds no model weights (its model entry is {type(weights).__name__}, not dense floating-point "
            "tensors by name)"
        )
    ckpt["path"] = str(p)
    return ckpt


def graph_export(p: Path) -> str | None:
    """'an ONNX' / 'a torch.export' where ``p`` is named as one of the graph files rnnlab export writes, else None:
    those are programs without a config to rebuild the model from, and torch.load's refusal would blame the file."""
    if p.suffix == ".onnx":
        return "an ONNX"
    if p.suffix == ".pt2":
        return "a torch.export"
    return None


def _plain_weight(v: Any) -> bool:
    """A dense, contiguous tensor of real numbers: what a state_dict holds. Sparse tensors fail the checks after
    it, complex ones lose their imaginary part in silence, and a stride-0 one takes far more memory than its file."""
    return isinstance(v, torch.Tensor) and v.layout == torch.strided and v.is_contiguous() and v.is_floating_point()


def config_of(ckpt: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.from_dict(ckpt["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{ckpt.get('path')} has an unusable config ({exc}); it was not written by this rnnlab"
        ) from None


def preprocessing_of(ckpt: dict[str, Any], data_dir: str | None = None) -> Preprocessing:
    """What turns a raw image into the model's input. A checkpoint written before checkpoints carried it is upgraded
    in memory from its training set, where that is at hand (``data_dir``, else the run's); the file is never
    rewritten. Without the data it is refused: the normalisation cannot be guessed."""
    raw = ckpt.get("preprocessing")
    if raw is not None:
        try:
            return Preprocessing.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{ckpt.get('path')} has an unusable preprocessing ({type(exc).__name__}: {exc}); "
                "it was not written by this rnnlab"
            ) from None
    data = config_of(ckpt).data
    where = data_dir or data.data_dir
    if not dataset_at_hand(data.dataset, where):
        raise UserError(
            f"{ckpt.get('path')} was written before checkpoints carried their preprocessing, and the {data.dataset} "
            f"training set that gives it is not in {resolve_data_dir(where)}: point --data-dir (or RNNLAB_DATA_DIR) "
            "at the folder holding it, or train the model again"
        )
    preprocessing = Preprocessing.measure(replace(data, data_dir=where), load_images(data.dataset, where))
    ckpt["preprocessing"] = preprocessing.to_dict()
    return preprocessing


def load_weights(model: torch.nn.Module, state: dict[str, Any], source: str) -> None:
    """Load a state_dict, turning a mismatch into one line that says which keys or shapes differ; weights that are
    not finite (NaN, infinite) are refused, as they would score every image the same."""
    refuse_non_finite(state, source)
    mine = model.state_dict()
    missing = sorted(set(mine) - set(state))
    extra = sorted(set(state) - set(mine))
    shapes = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or extra or shapes:
        detail = "; ".join(
            part
            for part in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {extra[:3]}" if extra else "",
                f"shape of {shapes[0]} is {tuple(state[shapes[0]].shape)}, model has {tuple(mine[shapes[0]].shape)}"
                if shapes
                else "",
            )
            if part
        )
        raise UserError(f"{source} holds another model ({detail}); use the config it was trained with")
    model.load_state_dict(state)


def refuse_non_finite(state: dict[str, Any], source: str) -> None:
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise UserError(f"{source}: its weight {name} holds NaN or infinite values; the model cannot be used")


def model_from_checkpoint(
    ckpt: dict[str, Any],
    engine: str | None = None,
    layout: str | None = None,
    device: torch.device | None = None,
) -> SequenceClassifier:
    """The checkpoint's model, built from its config once its weights are known to be that model's and it fits
    in the memory of ``device`` (default: the CPU)."""
    cfg = config_of(ckpt)
    held, expected = sum(t.numel() for t in ckpt["model"].values()), parameter_count(cfg.model)
    if held != expected:  # before the model is built: a config may ask for more than any machine has
        raise UserError(
            f"{ckpt['path']} holds another model than its config describes ({held:,} weights; the config's model has "
            f"{expected:,}); it was not written by rnnlab, or was edited"
        )
    check_model_fits(cfg.model, device or torch.device("cpu"), ckpt["path"])
    model = build_model(cfg.model, engine or cfg.runtime.engine, layout or cfg.data.layout)
    load_weights(model, ckpt["model"], ckpt["path"])
    return model
