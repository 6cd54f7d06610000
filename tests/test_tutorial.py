"""docs/tutorial.ipynb runs end to end on a CPU, against this checkout's rnnlab, and shows what it promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def test_the_committed_tutorial_has_no_outputs() -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra: pip install -e '.[dev]'")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_tutorial_runs_end_to_end(tmp_path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is in the dev extra: pip install -e '.[dev]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra: pip install -e '.[dev]'")
    pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra: pip install -e '.[dev]'")
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", pythonpath)  # the kernel imports this checkout, wherever rnnlab is installed
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(
        o.get("text", "") if o.output_type == "stream" else str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "rnnlab" in text and "(N samples, T steps, I features per step)" in text
    assert "test sequences (359, 8, 8)" in text and "64 steps of 1 pixel" in text
    assert "rnns.0.weight_ih_l0    (128, 8)" in text
    accuracy = float(text.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80, accuracy
    assert "after step 8: top class" in text
    assert "a drawn 4: predicted 4 (" in text  # a confident answer (over 97% in the models tried)
    assert text.count("True") >= 3 and "False" not in text  # the gate identities and the trace's end
    for engine in ("cudnn", "unrolled", "bptt"):
        line = next(line for line in text.splitlines() if line.startswith(f"{engine} "))
        assert float(line.split("max |logits - cudnn's| ")[1].split()[0]) < 1e-4, line
    assert "every check passed: True" in text
    assert images >= 4  # the digit as a sequence, the per-step probabilities (twice), the gates


def test_make_notebook_opens_the_tutorial_with_the_notebook_extra() -> None:
    import shutil
    import subprocess

    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("jupyterlab") for req in extras["notebook"])
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    plan = subprocess.run(["make", "-n", "notebook"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "jupyter lab docs/tutorial.ipynb" in plan and ".[notebook]" in plan
