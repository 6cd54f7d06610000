"""scripts/reproduce.py end to end on a digits recipe: its JSON holds both test scores, and best.pt's is true."""

import importlib.util
import json
import sys
from pathlib import Path

import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.runs.checkpoint import load_checkpoint, model_from_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reproduce.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_reports_the_last_and_the_best_validation_parameters(tmp_path, monkeypatch) -> None:
    reproduce = _load_script()
    cfg = RunConfig(
        ModelConfig(input_size=8, hidden=(16,), layers=1, dropout=0.0),
        DataConfig(dataset="digits"),
        TrainConfig(epochs=2, batch_size=128, lr=1e-2, schedule="constant", clip=0.0),
        RuntimeConfig(device="cpu"),
    )
    monkeypatch.setattr(reproduce, "EXPERIMENTS", {"digits-rows": (0.9, "a made-up figure", cfg, {"max_steps": 5})})
    out = tmp_path / "rows.json"
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    reproduce.main()
    (row,) = json.loads(out.read_text())
    assert row["experiment"] == "digits-rows" and row["steps"] == 2 * 11 and not row["short"]  # 1,293 samples, B=128
    run = tmp_path / "runs" / "digits-rows-seed0"
    model = model_from_checkpoint(load_checkpoint(run / "best.pt")).eval()
    x, y = load_sequences(cfg.data).test
    with torch.no_grad():
        best = (model(x).argmax(-1) == y).double().mean().item()
    assert abs(row["test_accuracy_best_val"] - best) < 1e-12
    assert 0.0 <= row["test_accuracy"] <= 1.0
