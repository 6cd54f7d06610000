"""The one export call: the file written beside ``--out`` under a temporary name, checked there where asked, and
only then moved onto ``--out`` (os.replace, atomic in one folder). A failed write or check, or Ctrl-C, removes the
temporary file: ``--out`` is never a file that failed its check, and a file it replaces stays until the new one
has passed.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.export.check import CheckResult, check_export
from rnnlab.export.formats import Format
from rnnlab.runs.run import Run


@dataclass(frozen=True)
class Exported:
    path: Path
    size: int  # bytes
    check: CheckResult | None  # where it was asked for: then it passed


def staged_path(out: Path) -> Path:
    """A name beside ``out`` no other file has, with its suffix (rnnlab tells a safetensors checkpoint by it)."""
    return out.with_name(f".{out.stem}.{secrets.token_hex(4)}.tmp{out.suffix}")


def export_run(run: Run, fmt: Format, out: Path, check: bool = False, data_dir: str | None = None) -> Exported:
    """Write ``run`` in ``fmt`` at ``out``; with ``check``, only once the file has proved the same model."""
    staged = staged_path(out)
    kept = f"the previous {out} is kept" if out.exists() else f"{out} was not written"
    try:
        fmt.write(run, staged)
        size = staged.stat().st_size
        result = check_export(run, fmt, staged, data_dir) if check else None
        if result is not None and not result.same:
            raise UserError(f"--check: the exported file is not the same model: {result.summary()}; {kept}")
        if out.exists():
            shutil.copymode(out, staged)  # the replaced file's permissions, as every atomic write keeps them
        os.replace(staged, out)
    except UserError as exc:
        if str(staged) not in str(exc) and staged.name not in str(exc):
            raise
        # the messages name the file the user asked for, not its temporary name
        raise UserError(str(exc).replace(str(staged), str(out)).replace(staged.name, out.name)) from None
    finally:
        staged.unlink(missing_ok=True)
    return Exported(out, size, result)
