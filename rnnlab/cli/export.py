"""The export command: a trained run as ONNX, a torch.export program or a safetensors checkpoint, and the proof
that the file is the same model (--check)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.text import Text

from rnnlab import export, runs, runtime
from rnnlab.cli.options import Flags, Json, Run, takes
from rnnlab.cli.tables import console
from rnnlab.config import DataConfig, RuntimeConfig
from rnnlab.config.commands import ExportConfig, OnARun
from rnnlab.errors import UserError
from rnnlab.text import json_text, pct, shown_path, visible


def _checkpoint(run: str, chosen: str | None) -> Path:
    """RUN's best.pt (else checkpoint.pt), or --checkpoint: a file inside RUN first (as its help says, whatever the
    current folder holds of that name), else a path."""
    if chosen is None:
        return runs.checkpoint.resolve_checkpoint(run)
    inside = Path(run) / chosen
    if Path(run).is_dir() and runs.folder.path_exists(inside):
        return runs.checkpoint.resolve_checkpoint(inside)
    if not runs.folder.path_exists(Path(chosen)):
        raise UserError(f"--checkpoint: {shown_path(chosen)} does not exist (in {run} or as a path)")
    return runs.checkpoint.resolve_checkpoint(chosen)


@takes(
    ExportConfig,
    RuntimeConfig,
    DataConfig,
    only=("format", "out", "checkpoint", "check", "force", "threads", "data_dir"),
)
def export_command(flags: Flags, run: Run, as_json: Json = False) -> None:
    """Write a trained model as a file that runs without rnnlab: ONNX, a torch.export program or a safetensors
    checkpoint.

    ONNX runs in onnxruntime; the torch.export program in PyTorch alone; the safetensors file is a pickle-free
    checkpoint that rnnlab eval, predict and visualize also read. The preprocessing (image size, mean, std, sequence
    view, class names) is in the file's metadata. Prints what it wrote and how to run it; with --check, runs the
    file in its own runtime and compares it with the model.

    A model a format cannot hold is refused in one line naming what it lacks; nothing is written unless the whole
    file is, and with --check has passed it (an existing --out is kept unless --force, and until the new file has
    passed)."""
    chosen = flags.build(ExportConfig)
    on = flags.view(OnARun)
    fmt = export.formats.format_of(chosen.format)
    checkpoint = _checkpoint(run, chosen.checkpoint)
    out = Path(chosen.out) if chosen.out else export.formats.default_out(checkpoint, fmt)
    export.formats.check_out(out, fmt, checkpoint, chosen.force)  # before the model loads: nothing to undo
    runtime.device.set_threads(on.threads)
    loaded = export.formats.open_for_export(checkpoint, fmt, on.data_dir)
    checking = f", checking it in {fmt.runtime}" if chosen.check else ""
    with console.status(f"exporting as {fmt.name}{checking}"):
        done = export.write.export_run(loaded, fmt, out, chosen.check, on.data_dir)
    if as_json:  # what a benchmark table of exports is made from
        check = None if done.check is None else {**asdict(done.check), "same": done.check.same}
        described = {
            "checkpoint": str(loaded.path),
            "input": export.metadata.describe_input(loaded),
            "note": export.formats.zoneout_note(loaded, *_accuracies(done.check)),
        }
        print(json_text({"wrote": str(out), "format": fmt.name, "bytes": done.size, **described, "check": check}))
        return
    lines = [
        export.formats.wrote_line(out, done.size, loaded),
        f"input: {export.metadata.describe_input(loaded)}",
        f"run it: {export.formats.run_it(fmt, out, loaded)}",
        export.formats.zoneout_note(loaded, *_accuracies(done.check)),
    ]
    for line in lines:
        if line is not None:
            _say(line)
    if done.check is not None:
        _print_check(done.check)


def _accuracies(check: Any) -> tuple[float | None, float | None]:
    """(plain PyTorch layers', rnnlab eval's) accuracy, where the check measured them."""
    return (None, None) if check is None else (check.plain_accuracy, check.eval_accuracy)


def _say(line: str) -> None:
    """A line of the output, wrapped between words at the terminal's width (a path or a call too long for a line
    is folded where it must be); its control characters shown, never obeyed."""
    console.print(Text(visible(line)))


def _print_check(result: Any) -> None:
    """What the check found, once it has passed (a failure is the command's one error line)."""
    _say(f"check: {result.summary()}")
    if result.accuracy is not None:
        _say(f"accuracy: {pct(result.accuracy)} in {result.runtime}, {pct(result.eval_accuracy)} by rnnlab eval")


COMMANDS: dict[str, Callable[..., Any]] = {"export": export_command}
