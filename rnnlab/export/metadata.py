"""What an exported file says about itself, as text to text (what ONNX's metadata_props, a torch.export file's
extra files and safetensors' metadata all hold): the model's input and output, the preprocessing that turns an
image into that input, the run's config, where it came from and who made it.

Every value is text; those that are not plain words are JSON (image_size "[28, 28]", class_names a list).
"""

from __future__ import annotations

import json
from typing import Any

from rnnlab.data.views import pixel_permutation
from rnnlab.runs.config_file import made_by
from rnnlab.runs.run import Run

INPUT, OUTPUT = "x", "logits"  # the exported graphs' input and output names


def describe_input(run: Run) -> str:
    """'x: float32 (batch, 28, 28): an image's pixels in [0, 1] (light on dark, 28x28), minus 0.1307, divided by
    0.3081, read as rows (28 steps of 28 pixels)'."""
    p = run.preprocessing
    steps, features = run.config.data.shape
    h, w = p.image_size
    view = {
        "rows": f"rows ({steps} steps of {features} pixels)",
        "cols": f"columns ({steps} steps of {features} pixels)",
        "pixels": f"pixel by pixel, row after row ({steps} steps of 1)",
        "permuted": (
            f"pixel by pixel in the fixed order pixel_order (x = image.flatten()[pixel_order], {steps} steps of 1)"
        ),
    }[p.sequence]
    return (
        f"{INPUT}: float32 (batch, {steps}, {features}): an image's pixels in [0, 1] (light on dark, {h}x{w}), "
        f"minus {p.mean:.6g}, divided by {p.std:.6g}, read as {view}"
    )


def export_metadata(run: Run, fmt: str) -> dict[str, str]:
    """The metadata of ``run`` exported in ``fmt``."""
    p = run.preprocessing
    steps, features = run.config.data.shape
    info: dict[str, Any] = {
        "rnnlab.format": fmt,
        "input": describe_input(run),
        "output": f"{OUTPUT}: float32 (batch, {len(p.class_names)}): one score per class; the largest is the answer",
        "input_shape": json.dumps(["batch", steps, features]),
        "dataset": p.dataset,
        "image_size": json.dumps(list(p.image_size)),
        "mean": repr(float(p.mean)),
        "std": repr(float(p.std)),
        "sequence": p.sequence,
        "permute_seed": str(p.permute_seed),
        "class_names": json.dumps(list(p.class_names)),
        "preprocessing": json.dumps(p.to_dict()),
        "config": json.dumps(run.config.to_dict()),
        "source": f"{run.path} ({run.where})",
        "made_by": json.dumps(made_by()),
    }
    if p.sequence == "permuted":  # the order itself: outside rnnlab the seed alone cannot rebuild it
        info["pixel_order"] = json.dumps(pixel_permutation(p.image_size[0] * p.image_size[1], p.permute_seed).tolist())
    return {key: str(value) for key, value in info.items()}
