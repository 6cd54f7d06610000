"""`rnnlab train --nproc N`: re-run the same command under torchrun on this machine, N processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rnnlab.runs import default_run_dir


def strip_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def relaunch_with_torchrun(nproc: int, out: Path | None, argv: list[str]) -> int:
    """Run ``python -m torch.distributed.run --nproc_per_node N -m rnnlab <argv>``; returns its exit code."""
    args = strip_nproc(argv)
    if out is None and "--resume" not in args:
        args += ["--out", str(default_run_dir())]  # every rank must agree on one folder
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "rnnlab",
        *args,
    ]
    return subprocess.call(cmd)
