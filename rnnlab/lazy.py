"""Packages whose submodules load on first use (PEP 562), so that `rnnlab --help` never imports torch.

The CLI imports the library's packages at the top of each file (``from rnnlab import train``) and calls into
them (``train.loop.fit(...)``); only that call imports the submodule, and torch with it.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def ctrl_c_after() -> Iterator[None]:
    """A Ctrl-C during the block is raised when it ends. An import cut short by one leaves a half-made module, and
    one inside a C++ extension's start (matplotlib's and torch's pybind11 modules) aborts the whole process
    (`terminate called ... error_already_set`) where no handler can turn it into rnnlab's one line. Only Python's
    own handler, in the main thread, is replaced: a command's own (training's) is left alone."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    came: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if came:
        raise KeyboardInterrupt


def submodules(
    package: str, names: tuple[str, ...], exports: dict[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each of ``names`` imports that submodule when first read,
    and each name in ``exports`` (name -> submodule) is that submodule's attribute of the same name."""
    exported = exports or {}

    def __getattr__(name: str) -> Any:
        if name in names:
            with ctrl_c_after():
                return importlib.import_module(f"{package}.{name}")  # the import also binds it on the package
        if name in exported:
            with ctrl_c_after():
                module = importlib.import_module(f"{package}.{exported[name]}")
            return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted((*names, *exported))

    return __getattr__, __dir__
