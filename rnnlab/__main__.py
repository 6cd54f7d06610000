"""The `rnnlab` script and ``python -m rnnlab`` (also ``torchrun -m rnnlab``): the CLI's entry point.

Kept free of heavy imports: a Ctrl-C while the CLI loads ends in the same one line as every other stop, not in a
traceback from inside an import.
"""

from __future__ import annotations

import sys

from rnnlab.errors import CTRL_C
from rnnlab.runtime.openmp import wait_briefly


def main() -> None:
    wait_briefly()  # before torch loads: libgomp reads how its threads wait only then
    try:
        from rnnlab.cli import app

        app()  # typer builds the commands before one runs: a Ctrl-C then is outside the CLI's own handling
    except KeyboardInterrupt:
        print(f"rnnlab: stopped: {CTRL_C}", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
