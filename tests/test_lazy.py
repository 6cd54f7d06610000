"""lazy: a Ctrl-C while a submodule loads (torch, matplotlib and their C++ extensions) waits for the import to end,
then is raised: no half-made module, no abort from inside an extension's start."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest


def test_a_ctrl_c_during_a_lazy_import_is_raised_once_the_import_has_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "slowpkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from rnnlab.lazy import submodules\n__getattr__, __dir__ = submodules(__name__, ('part',))\n"
    )
    (package / "part.py").write_text(
        "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nfor _ in range(10**5): pass\nDONE = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    import slowpkg  # type: ignore[import-not-found]

    try:
        with pytest.raises(KeyboardInterrupt):
            slowpkg.part  # noqa: B018
        assert sys.modules["slowpkg.part"].DONE  # the import ran to its end before the Ctrl-C was raised
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for name in ("slowpkg", "slowpkg.part"):
            sys.modules.pop(name, None)
