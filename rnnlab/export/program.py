"""The classifier as a torch.export program (a ``.pt2`` file): input (batch, T, I) float32 with a dynamic batch
dimension, output (batch, C) logits, the preprocessing and config as the file's extra files; loaded by
``torch.export.load(path).module()``, with no rnnlab and no Python source of the model.
Legend: T time steps, I input features, C classes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from rnnlab.errors import UserError
from rnnlab.export.metadata import export_metadata
from rnnlab.export.onnx import example_input, exporter_failure, quiet_exporter, raise_interrupt
from rnnlab.export.plain import PlainClassifier, plain_model
from rnnlab.runs.files import atomic_write_bytes
from rnnlab.runs.run import Run
from rnnlab.text import first_line

SUFFIX = ".pt2"


def exported_program(module: PlainClassifier, x: Tensor) -> torch.export.ExportedProgram:
    """``module`` traced on ``x`` with its batch dimension dynamic (any batch from 1 up)."""
    try:
        with quiet_exporter():
            batch = torch.export.Dim("batch", min=1)
            return torch.export.export(module, (x,), dynamic_shapes={"x": {0: batch}}, strict=False)
    except Exception as exc:
        raise_interrupt(exc)
        raise UserError(exporter_failure("torch-export", exc)) from None


def write_program(run: Run, out: Path) -> None:
    """``run``'s classifier as a torch.export file at ``out`` (written atomically), its metadata as extra files."""
    program = exported_program(plain_model(run.model, "torch-export"), example_input(run))
    extra = export_metadata(run, "torch-export")
    atomic_write_bytes(out, lambda f: torch.export.save(program, f, extra_files=extra))


def load_program(path: Path, keys: tuple[str, ...] = ()) -> tuple[torch.export.ExportedProgram, dict[str, str]]:
    """The program at ``path`` and the extra files named ``keys``, by torch.export.load alone."""
    extra = dict.fromkeys(keys, "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.load(str(path), extra_files=extra), extra
    except Exception as exc:
        raise UserError(f"{path}: torch.export.load cannot load it ({first_line(exc, 200)})") from None


def program_runner(path: Path) -> Callable[[Tensor], Tensor]:
    """The program at ``path``: x (B, T, I) float32 -> logits (B, C)."""
    module = load_program(path)[0].module()

    def run(x: Tensor) -> Tensor:
        with torch.no_grad():
            return module(x.float())

    return run
