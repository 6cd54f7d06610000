"""lazy: a Ctrl-C while a submodule loads (torch, matplotlib and their C++ extensions) waits for the import to end,
then is raised: no half-made module, no abort from inside an extension's start; and one while typer builds the
commands is the same one line as every other stop."""

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
    # Python's own Ctrl-C handler, as in a terminal (a shell's background job inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    import slowpkg  # type: ignore[import-not-found]

    try:
        with pytest.raises(KeyboardInterrupt):
            slowpkg.part  # noqa: B018
        assert sys.modules["slowpkg.part"].DONE  # the import ran to its end before the Ctrl-C was raised
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for name in ("slowpkg", "slowpkg.part"):
            sys.modules.pop(name, None)
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_while_typer_builds_the_commands_is_one_line() -> None:
    """Before any command runs (typer reading every signature) a Ctrl-C was a traceback from inside inspect."""
    import subprocess

    code = (
        "import sys, typer.main\n"
        "def stopped(*a, **k): raise KeyboardInterrupt\n"
        "typer.main.get_command = stopped\n"
        "sys.argv = ['rnnlab', 'playground', '--help']\n"
        "from rnnlab.__main__ import main\nmain()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "rnnlab: stopped: by SIGINT (Ctrl-C)\n")
