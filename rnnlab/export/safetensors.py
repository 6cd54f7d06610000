"""The run's checkpoint as a safetensors file: every parameter under PyTorch's own names, and as metadata the
config, the preprocessing, where in training it was saved and the input it reads. A complete checkpoint without
pickle: `rnnlab eval`, `predict` and `visualize` take it (rnnlab.runs.safetensors_file reads it), and plain PyTorch
loads it into its own nn.LSTM / nn.GRU / nn.RNN layers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.export.metadata import export_metadata
from rnnlab.export.plain import reference_engine
from rnnlab.extras import require
from rnnlab.runs.checkpoint import FORMAT, VERSION, config_of, load_checkpoint, model_from_checkpoint
from rnnlab.runs.files import atomic_write_bytes
from rnnlab.runs.run import Run
from rnnlab.runs.safetensors_file import SUFFIX, safetensors_payload

__all__ = ["SUFFIX", "safetensors_runner", "write_safetensors"]


def write_safetensors(run: Run, out: Path) -> None:
    """``run`` as a safetensors checkpoint at ``out`` (written atomically)."""
    safetensors = require("safetensors.torch", "export", "--format safetensors")
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "model": {name: t.detach().cpu() for name, t in run.model.state_dict().items()},
        "config": run.config.to_dict(),
        "preprocessing": run.preprocessing.to_dict(),
        **run.saved,
    }
    tensors, metadata = safetensors_payload(ckpt)
    metadata = {**export_metadata(run, "safetensors"), **metadata}  # the checkpoint's own keys win
    data = safetensors.save(tensors, metadata=metadata)
    atomic_write_bytes(out, lambda f: f.write(data))


def safetensors_runner(path: Path) -> Callable[[Tensor], Tensor]:
    """A fresh model (PyTorch's own layers, export.plain.reference_engine) built from the safetensors file alone:
    x (B, T, I) -> logits (B, C)."""
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt, reference_engine(config_of(ckpt).model), "batch").eval()

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return model(x.float())

    return run
