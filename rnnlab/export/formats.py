"""The export formats by name (the same names, in the same order, as --format's choices: a test holds them
together, since config may not import export): the file each writes, what runs it, and how; and the checks of the
output path before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor

from rnnlab.errors import UserError
from rnnlab.export.onnx import onnx_runner, write_onnx
from rnnlab.export.plain import reference_engine, refuse_unplain
from rnnlab.export.program import SUFFIX as PROGRAM
from rnnlab.export.program import program_runner, write_program
from rnnlab.export.safetensors import safetensors_runner, write_safetensors
from rnnlab.runs.checkpoint import config_of, load_checkpoint
from rnnlab.runs.folder import RunFolder
from rnnlab.runs.run import Run
from rnnlab.runs.safetensors_file import SUFFIX as SAFETENSORS
from rnnlab.text import human_bytes, pct


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # of the default output file
    write: Callable[[Run, Path], None]
    runner: Callable[[Path], Callable[[Tensor], Tensor]]  # the file in its own runtime: x (B, T, I) -> logits (B, C)
    runtime: str  # what runs the file, as the check names it
    how: str  # how to run it, {path} filled in


_FORMATS = (
    Format(
        "onnx",
        ".onnx",
        write_onnx,
        onnx_runner,
        "onnxruntime",
        'onnxruntime.InferenceSession("{path}").run(None, {{"x": x}})[0] -> logits (batch, classes)',
    ),
    Format(
        "torch-export",
        PROGRAM,
        write_program,
        program_runner,
        "torch.export.load",
        'torch.export.load("{path}").module()(x) -> logits (batch, classes)',
    ),
    Format(
        "safetensors",
        SAFETENSORS,
        write_safetensors,
        safetensors_runner,
        "a fresh model from the file",
        "rnnlab eval {path}; rnnlab predict {path} IMAGE; or safetensors.torch.load_file into PyTorch's own layers",
    ),
)
FORMATS = {fmt.name: fmt for fmt in _FORMATS}


def format_of(name: str) -> Format:
    if name not in FORMATS:
        raise UserError(f"--format: unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[name]


def default_out(checkpoint: Path, fmt: Format) -> Path:
    """Beside the checkpoint, named after it: runs/a/best.pt -> runs/a/best.onnx."""
    return checkpoint.with_suffix(fmt.suffix)


def check_out(out: Path, fmt: Format, checkpoint: Path, force: bool) -> None:
    """Refuse an output path before anything is built: an existing file (without ``force``), a folder, a missing
    folder, the checkpoint itself, a file of the checkpoint's run (even with ``force``: the run reads them back),
    or a safetensors checkpoint not named ``*.safetensors`` (rnnlab tells it by that)."""
    if out.is_dir():
        raise UserError(f"--out: {out} is a folder; give the file to write, such as {out / ('model' + fmt.suffix)}")
    if not out.parent.is_dir():
        raise UserError(f"--out: the folder {out.parent} does not exist; make it first, or write elsewhere")
    if out.exists() and out.resolve() == checkpoint.resolve():
        raise UserError(f"--out: {out} is the checkpoint being exported; write the export elsewhere")
    run = RunFolder(checkpoint.parent)
    own = run.named(out) if run.files() else None
    if own is not None:
        raise UserError(
            f"--out: {out} is the run's own {own}, which rnnlab reads back (eval, --resume); write the export elsewhere"
        )
    if out.exists() and not force:
        raise UserError(f"--out: {out} exists; give --force to replace it, or another --out")
    if fmt.name == "safetensors" and out.suffix != SAFETENSORS:
        raise UserError(
            f"--out: a safetensors checkpoint must end in {SAFETENSORS} (rnnlab tells it by that); got {out}"
        )


def open_for_export(checkpoint: Path, fmt: Format, data_dir: str | None = None) -> Run:
    """The checkpoint's run on the CPU, once its model is known to be one ``fmt`` can hold."""
    cfg = config_of(load_checkpoint(checkpoint))
    if fmt.name != "safetensors":
        refuse_unplain(cfg.model, fmt.name)
    return Run.open(checkpoint, reference_engine(cfg.model), "cpu", data_dir)


def run_it(fmt: Format, out: Path, run: Run) -> str:
    """How to run the file: for a zoneout model's safetensors checkpoint, rnnlab only (PyTorch's own layers compute
    another model from it)."""
    if zoneout_note(run) is not None:
        return f"rnnlab eval {out}; rnnlab predict {out} IMAGE (rnnlab computes zoneout's evaluation rule)"
    return fmt.how.format(path=out)


def zoneout_note(run: Run, plain: float | None = None, rnnlab: float | None = None) -> str | None:
    """The one line a zoneout model's export adds: its weights load into nn.LSTM / nn.GRU / nn.RNN layers, but those
    layers compute another model (zoneout's evaluation keeps a share of each previous state, which they do not);
    ``plain`` and ``rnnlab``: the two accuracies on the test set, where --check had it."""
    if "zoneout" not in run.config.model.regularisers:
        return None
    measured = (
        "with another accuracy"
        if plain is None or rnnlab is None
        else f"{pct(plain)} on the test set against rnnlab's {pct(rnnlab)}"
    )
    return (
        "note: zoneout's evaluation rule (each step keeps a share of the previous state) is not PyTorch's own "
        f"{run.config.model.cell.upper()} layer: loaded into plain PyTorch layers these weights compute a different "
        f"model ({measured}); run it with rnnlab"
    )


def wrote_line(out: Path, size: int, run: Run) -> str:
    return f"wrote {out} ({human_bytes(size)}): {run.describe()}, {run.where}"
