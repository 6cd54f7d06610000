"""Packages whose submodules load on first use (PEP 562), so that `rnnlab --help` never imports torch.

The CLI imports the library's packages at the top of each file (``from rnnlab import train``) and calls into
them (``train.loop.fit(...)``); only that call imports the submodule, and torch with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def submodules(
    package: str, names: tuple[str, ...], exports: dict[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` imports that submodule when first read,
    and each name in ``exports`` (name -> submodule) is that submodule's attribute of the same name."""
    exported = exports or {}

    def __getattr__(name: str) -> Any:
        if name in names:
            return importlib.import_module(f"{package}.{name}")  # the import also binds it on the package
        if name in exported:
            return getattr(importlib.import_module(f"{package}.{exported[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted((*names, *exported))

    return __getattr__, __dir__
