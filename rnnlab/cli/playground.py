"""The playground command: a local web page where a learner draws a digit and watches a trained net read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

COMMANDS: dict[str, Callable[..., Any]] = {}
