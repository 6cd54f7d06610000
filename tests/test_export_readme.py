"""README's "Use a trained model elsewhere": each snippet, taken from README.md as it stands, run in a fresh Python
on files `rnnlab export` wrote, with no rnnlab imported, prints the class rnnlab predicts for the same image (the
safetensors snippet for every cell and readout), so the README cannot drift from the files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.export.check import reference_logits
from rnnlab.export.formats import FORMATS
from rnnlab.runs.run import Run
from tests.test_export_formats import make_run

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Use a trained model elsewhere"
RUNS = {  # the safetensors snippet rebuilds each of these by hand
    "lstm-2-bi-state-proj": ({"cell": "lstm", "layers": 2, "bidirectional": True, "readout": "state", "proj": 5}, {}),
    "gru-mean": ({"cell": "gru", "readout": "mean", "hidden": (7,)}, {}),
    "rnn-2-last": ({"cell": "rnn", "layers": 2, "hidden": (5, 4)}, {}),
}
# Python with rnnlab out of reach: the snippet must need nothing but what it imports
GUARD = "import sys\nsys.modules['rnnlab'] = None\n"


def snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _predicted(run: Run, image: np.ndarray) -> str:
    x = run.preprocessing.to_sequences(torch.from_numpy(image)[None])
    return run.preprocessing.class_names[int(reference_logits(run, x).argmax())]


def _run(code: str, cwd: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", GUARD + code], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_readme_has_one_snippet_per_format() -> None:
    found = snippets()
    assert len(found) == 3
    for code, name in zip(found, ("best.onnx", "best.pt2", "best.safetensors")):
        assert f"runs/my-run/{name}" in code and "rnnlab" not in code.replace("runs/my-run", "")


@pytest.mark.slow
def test_each_readme_snippet_runs_the_exported_file_without_rnnlab(tmp_path) -> None:
    onnx_code, program_code, safetensors_code = snippets()
    image = np.random.default_rng(7).random((8, 8), dtype=np.float32)
    np.save(tmp_path / "seven.npy", image)
    runs, expected, first = {}, {}, "lstm-2-bi-state-proj"
    for name, (model, data) in RUNS.items():
        folder = tmp_path / name
        folder.mkdir()
        runs[name] = make_run(folder, model, data, seed=3)
        expected[name] = _predicted(runs[name], image)
        for fmt in FORMATS.values() if name == first else [FORMATS["safetensors"]]:  # the graphs: one run's
            fmt.write(runs[name], folder / f"best{fmt.suffix}")
    graphs = [code.replace("runs/my-run", first) for code in (onnx_code, program_code)]
    each = [safetensors_code.replace("runs/my-run", name) for name in RUNS]
    printed = _run("\n".join(graphs + each), tmp_path)  # one Python for all: torch imports once
    assert printed == [expected[first], expected[first], *(expected[name] for name in RUNS)]
