from pathlib import Path

import pytest
import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from rnnlab.errors import UserError
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)


def _ckpt(path: Path, cfg: RunConfig) -> torch.nn.Module:
    model = build_model(cfg.model, seed=0)
    save_checkpoint(path, {"config": cfg.to_dict(), "model": model.state_dict()})
    return model


CFG = RunConfig(
    ModelConfig(cell="gru", input_size=8, hidden=(6, 4), layers=2, bidirectional=True),
    DataConfig(dataset="digits"),
    TrainConfig(),
)


def test_round_trip_with_weights_only(tmp_path) -> None:
    model = _ckpt(tmp_path / "c.pt", CFG).eval()
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # plain types only: config is a dict
    assert raw["config"]["model"]["cell"] == "gru"
    again = model_from_checkpoint(load_checkpoint(tmp_path / "c.pt")).eval()
    x = torch.randn(2, 8, 8)
    torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_a_run_folder_resolves_to_best_then_checkpoint(tmp_path) -> None:
    _ckpt(tmp_path / "checkpoint.pt", CFG)
    assert load_checkpoint(tmp_path)["path"].endswith("checkpoint.pt")
    _ckpt(tmp_path / "best.pt", CFG)
    assert load_checkpoint(tmp_path)["path"].endswith("best.pt")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a readable checkpoint"),
        (b"hello, I am a text file", "not a readable checkpoint"),
        ("truncated", "not a readable checkpoint"),
        ("plain_state_dict", "not an rnnlab checkpoint"),
    ],
)
def test_bad_files_are_user_errors(tmp_path, content, match) -> None:
    p = tmp_path / "bad.pt"
    if content == "truncated":
        _ckpt(p, CFG)
        p.write_bytes(p.read_bytes()[:300])
    elif content == "plain_state_dict":
        torch.save(build_model(CFG.model).state_dict(), p)
    else:
        p.write_bytes(content)
    with pytest.raises(UserError, match=match):
        load_checkpoint(p)
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_weights_of_another_model_are_named(tmp_path) -> None:
    p = tmp_path / "c.pt"
    other = build_model(ModelConfig(cell="gru", input_size=8, hidden=(5,), layers=1), seed=0)
    save_checkpoint(p, {"config": CFG.to_dict(), "model": other.state_dict()})
    with pytest.raises(UserError, match="holds another model"):
        model_from_checkpoint(load_checkpoint(p))
