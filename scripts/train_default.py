"""`make train`: the default model on MNIST rows; on a machine without MNIST, the offline digits set instead.

MNIST is looked for where `rnnlab train` looks (RNNLAB_DATA_DIR, else ~/.cache/rnnlab) and downloaded through
torchvision when missing; where neither works this says so plainly and trains on scikit-learn's digits.
"""

from __future__ import annotations

import subprocess
import sys

from rnnlab.data import MNIST_FILES, load_images, resolve_data_dir
from rnnlab.errors import UserError


def main() -> int:
    extra = sys.argv[1:]
    try:
        load_images("mnist", None)
        args = ["train", *extra]
    except UserError as exc:
        where = resolve_data_dir(None) / "MNIST" / "raw"
        print(
            f"MNIST is not available here ({exc}).\n"
            f"Training on scikit-learn's offline 8x8 digits set instead.\n"
            f"To train on MNIST: put {', '.join(MNIST_FILES)} in {where} (or set RNNLAB_DATA_DIR to a folder "
            "holding MNIST/raw/), or run on a machine with internet access, then `make train` again.\n",
            flush=True,
        )
        args = ["train", "--dataset", "digits", *extra]  # digits has its own defaults (see rnnlab train --help)
    return subprocess.call([sys.executable, "-m", "rnnlab", *args])


if __name__ == "__main__":
    sys.exit(main())
