"""The `rnnlab` script's entry point, kept free of heavy imports.

Importing the CLI imports torch, which takes seconds; a Ctrl-C in those seconds would otherwise end in a
traceback from inside torch instead of the one line every other stop gives.
"""

from __future__ import annotations

import sys

CTRL_C = "by SIGINT (Ctrl-C)"


def main() -> None:
    try:
        from rnnlab.cli import app
    except KeyboardInterrupt:
        print(f"rnnlab: stopped: {CTRL_C}", file=sys.stderr)
        sys.exit(130)
    app()
