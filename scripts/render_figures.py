"""Render the example figures the README shows (committed under docs/figures/) from a trained run.

    python scripts/render_figures.py RUN [--index N]

The README's figures come from the default model (`rnnlab train`, MNIST rows, 5 epochs), test sample 0 (a 7): the
per-step figures of `rnnlab visualize`, the training curves and the test set's confusion matrix (`--confusion`).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rnnlab.look.visualize import visualize_run

KEEP = ("digit", "step_probs_grid", "step_probs_heatmap", "hidden_states", "cell_states", "gates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder or checkpoint")
    parser.add_argument("--index", type=int, default=0, help="test sample to draw")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "figures")
    args = parser.parse_args()
    picture = visualize_run(args.run, args.out, index=args.index, confusion=True)
    for path in picture.paths:
        if path.suffix == ".json" or not any(k in path.name for k in (*KEEP, "curves", "confusion")):
            path.unlink()
            continue
        target = path.with_name(re.sub(rf"^test{args.index}_(layer\d+_)?", "example_", path.name))
        path.replace(target)
        print(target)


if __name__ == "__main__":
    main()
