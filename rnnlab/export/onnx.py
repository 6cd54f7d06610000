"""The classifier as an ONNX model: input ``x`` (batch, T, I) float32 with a dynamic batch axis, output ``logits``
(batch, C), the preprocessing and config in its metadata_props; run by onnxruntime.

Made by torch.onnx's TorchScript exporter (dynamic_axes) wherever torch still has it: it turns each nn.LSTM /
nn.GRU / nn.RNN layer into ONNX's own LSTM / GRU / RNN operator. The dynamo exporter (torch.export, then
onnxscript) does that for LSTM and GRU only: it unrolls nn.RNN step by step (784 steps of a permuted view run for
minutes in onnxscript's rewriter), so it is used only where the TorchScript one is gone, and refuses an RNN.
Legend: T time steps, I input features, C classes.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab.errors import UserError
from rnnlab.export.metadata import INPUT, OUTPUT, export_metadata
from rnnlab.export.plain import PlainClassifier, plain_model
from rnnlab.extras import require
from rnnlab.runs.files import atomic_write_bytes
from rnnlab.runs.run import Run
from rnnlab.text import first_line

TORCH = tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2])
TORCHSCRIPT = hasattr(torch.onnx, "utils")  # the TorchScript exporter, deprecated since 2.9 but still there
EXAMPLE_BATCH = 2  # the traced batch: 1 would be specialised to, and the batch axis would not be dynamic


def example_input(run: Run, batch: int = EXAMPLE_BATCH) -> Tensor:  # (batch, T, I)
    steps, features = run.config.data.shape
    return torch.zeros(batch, steps, features)


def write_onnx(run: Run, out: Path) -> None:
    """``run``'s classifier as an ONNX file at ``out`` (written atomically, checked by onnx before)."""
    onnx = require("onnx", "export", "--format onnx")
    if not TORCHSCRIPT:
        require("onnxscript", "export", "--format onnx")
        if run.config.model.cell == "rnn":
            raise UserError(
                f"--format onnx: this torch ({torch.__version__}) has only the dynamo exporter, which unrolls an "
                "nn.RNN step by step instead of writing ONNX's RNN operator; export it as torch-export"
            )
    proto = onnx_proto(plain_model(run.model, "onnx"), example_input(run))
    for key, value in export_metadata(run, "onnx").items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    atomic_write_bytes(out, lambda f: f.write(proto.SerializeToString()))


def onnx_proto(module: PlainClassifier, x: Tensor) -> Any:
    """The ONNX ModelProto of ``module`` traced on ``x``; an exporter failure is one line naming the operation."""
    onnx = require("onnx", "export", "--format onnx")
    try:
        with quiet_exporter():
            if not TORCHSCRIPT:
                batch = torch.export.Dim("batch", min=1)
                program = torch.onnx.export(
                    module,
                    (x,),
                    dynamo=True,
                    input_names=[INPUT],
                    output_names=[OUTPUT],
                    dynamic_shapes={"x": {0: batch}},
                    verbose=False,
                    report=False,
                )
                assert program is not None
                return program.model_proto
            buffer = io.BytesIO()
            legacy: dict[str, Any] = {"dynamo": False} if TORCH >= (2, 5) else {}  # 2.9 on, dynamo is the default
            torch.onnx.export(  # the TorchScript exporter writes to a file object
                module,
                (x,),
                buffer,  # type: ignore[arg-type]
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                **legacy,
            )
            return onnx.load_from_string(buffer.getvalue())
    except UserError:
        raise
    except Exception as exc:
        raise_interrupt(exc)
        raise UserError(exporter_failure("onnx", exc)) from None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first (the exporters wrap what went wrong)."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 16:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def raise_interrupt(exc: BaseException) -> None:
    """Ctrl-C inside an exporter comes back wrapped in its failure (TorchExportError ... from KeyboardInterrupt):
    raised again as the interrupt it was, so the command says it was stopped instead of blaming the model."""
    for seen in _chain(exc):
        if isinstance(seen, KeyboardInterrupt):
            raise KeyboardInterrupt from None


def exporter_failure(fmt: str, exc: BaseException) -> str:
    """'--format onnx: the exporter could not export aten.foo.default (its reason)': the operation named where the
    exporter's message names one; the reason is the innermost cause's first line (the outer ones are the
    exporter's own steps: 'Failed to export the model with torch.export. ... Next steps:')."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    found = re.search(r"\b(aten[.:]{1,2}[A-Za-z_][\w.]*|torch\.ops\.[\w.]+|onnx::\w+)", text)
    what = found.group(1) if found else "the model"
    inner = chain[-1]
    reason = _ANSI.sub("", first_line(inner, 200))
    return f"--format {fmt}: the exporter could not export {what} ({type(inner).__name__}: {reason})"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the exporters colour their messages


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporters' warnings and torch's logged graphs kept off the terminal: an export ends in what it wrote,
    or in one line."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata_props, as onnxruntime reads them."""
    return dict(_session(path).get_modelmeta().custom_metadata_map)


def onnx_runner(path: Path) -> Callable[[Tensor], Tensor]:
    """The ONNX file at ``path`` in onnxruntime (CPU): x (B, T, I) float32 -> logits (B, C)."""
    session = _session(path)

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run([OUTPUT], {INPUT: x.float().numpy()})[0])

    return run


def _session(path: Path) -> Any:
    ort = require("onnxruntime", "export", "running an ONNX file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the threads rnnlab was given, not every core
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UserError(f"{path}: onnxruntime cannot load it ({first_line(exc, 200)})") from None
