"""The export command: a trained run as ONNX, a torch.export program or a safetensors checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COMMANDS: dict[str, Callable[..., Any]] = {}
