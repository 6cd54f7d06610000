"""The default model's epoch time in rnnlab and in Keras 3 on its torch backend, side by side in one process.

    pip install --target /tmp/keras_peer --no-deps keras namex optree absl-py h5py ml-dtypes
    KERAS_BACKEND=torch PYTHONPATH=/tmp/keras_peer:. python scripts/bench_keras_peer.py [--repeats 2] [--out F]

Keras is not a dependency of rnnlab: install it anywhere importable (the --no-deps line keeps the venv's
torch and numpy). Both sides train the same model (2-layer LSTM-256, dropout 0.5 between layers and on the
output, Adam 1e-3, batch 128) on the same MNIST rows split, one epoch each with validation at its end, taking
turns, --repeats times. The table gives the median epoch time of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import SequenceData, load_sequences
from rnnlab.train.loop import fit


def keras_epoch(data: SequenceData, steps: int, seed: int) -> tuple[float, float]:
    """Seconds for one Keras epoch of ``steps`` batches (a fresh model), and its validation accuracy."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    if keras.backend.backend() != "torch":
        raise SystemExit(f"KERAS_BACKEND is {keras.backend.backend()!r}; this compares the torch backend")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.LSTM(256, return_sequences=True),
            keras.layers.Dropout(0.5),
            keras.layers.LSTM(256),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    (x, y), (xv, yv) = data.train, data.val
    n = steps * 128
    started = time.perf_counter()
    history = model.fit(
        x[:n].numpy(), y[:n].numpy(), batch_size=128, epochs=1, validation_data=(xv.numpy(), yv.numpy()), verbose=0
    )
    return time.perf_counter() - started, float(history.history["val_accuracy"][-1])


def rnnlab_epoch(data: SequenceData, steps: int, seed: int, folder: Path) -> tuple[float, float]:
    cfg = RunConfig(
        ModelConfig(), DataConfig(), TrainConfig(epochs=1, max_steps=steps, seed=seed), RuntimeConfig(device="cpu")
    )
    started = time.perf_counter()
    result = fit(cfg, folder / f"rnnlab-{seed}", data=data)
    return time.perf_counter() - started, result.history[-1]["val_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="batches per epoch; 0 = the whole training split")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = load_sequences(DataConfig(data_dir=args.data_dir, test_subset=128))
    steps = args.steps or -(-len(data.train[1]) // 128)
    runs: dict[str, list[tuple[float, float]]] = {"rnnlab": [], "keras": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            runs["rnnlab"].append(rnnlab_epoch(data, steps, r, Path(tmp)))
            runs["keras"].append(keras_epoch(data, steps, r))
            print(f"repeat {r}: rnnlab {runs['rnnlab'][-1][0]:.1f} s, keras {runs['keras'][-1][0]:.1f} s", flush=True)
    import keras

    medians = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
    rows = {
        "steps_per_epoch": steps,
        "rnnlab_epoch_s": medians["rnnlab"],
        "keras_epoch_s": medians["keras"],
        "keras_over_rnnlab": medians["keras"] / medians["rnnlab"],
        "runs": runs,
        "val_accuracy_after_one_epoch": {k: [a for _, a in v] for k, v in runs.items()},
        "keras": keras.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    for k, v in rows.items():
        print(f"{k:>30}: {v:.3f}" if isinstance(v, float) else f"{k:>30}: {v}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
