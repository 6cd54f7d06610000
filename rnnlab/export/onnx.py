"""The classifier as an ONNX model: input ``x`` (batch, T, I) float32 with a dynamic batch axis, output ``logits``
(batch, C), the preprocessing and config in its metadata_props; run by onnxruntime.

Made by torch.onnx's dynamo exporter (torch.export, then onnxscript) where torch has it as its own (2.6 on), else
by the TorchScript exporter with a dynamic batch axis; either turns each nn.LSTM / nn.GRU / nn.RNN layer into
ONNX's own LSTM / GRU / RNN operator.
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
DYNAMO = TORCH >= (2, 6)
EXAMPLE_BATCH = 2  # the traced batch: 1 would be specialised to, and the batch axis would not be dynamic


def example_input(run: Run, batch: int = EXAMPLE_BATCH) -> Tensor:  # (batch, T, I)
    steps, features = run.config.data.shape
    return torch.zeros(batch, steps, features)


def write_onnx(run: Run, out: Path) -> None:
    """``run``'s classifier as an ONNX file at ``out`` (written atomically, checked by onnx before)."""
    onnx = require("onnx", "export", "--format onnx")
    if DYNAMO:
        require("onnxscript", "export", "--format onnx")
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
            if DYNAMO:
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
            torch.onnx.export(  # the TorchScript exporter (torch 2.4, 2.5) writes to a file object too
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
        raise UserError(exporter_failure("onnx", exc)) from None


def exporter_failure(fmt: str, exc: BaseException) -> str:
    """'--format onnx: the exporter could not export aten.foo.default (its reason)': the operation named where the
    exporter's message names one."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(str(e) for e in chain)
    found = re.search(r"\b(aten[.:]{1,2}[A-Za-z_][\w.]*|torch\.ops\.[\w.]+|onnx::\w+)", text)
    what = found.group(1) if found else "the model"
    reason = _ANSI.sub("", first_line(exc, 200))
    return f"--format {fmt}: the exporter could not export {what} ({type(exc).__name__}: {reason})"


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
