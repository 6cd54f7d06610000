"""Optional packages that a few commands need (onnx, onnxruntime, safetensors: the `export` extra), imported when
first used; where one is missing, one line says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from rnnlab.errors import UserError


def require(module: str, extra: str, what: str) -> ModuleType:
    """``module`` imported, or a UserError: '<what> needs <package>: pip install 'rnnlab[<extra>]''."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise UserError(f"{what} needs {package}, which is not installed: pip install 'rnnlab[{extra}]'") from None
