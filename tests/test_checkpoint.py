from pathlib import Path

import pytest
import torch

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.errors import UserError
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import (
    load_checkpoint,
    model_from_checkpoint,
    preprocessing_of,
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


# ---- preprocessing: carried by every checkpoint; an older one upgraded in memory where its data is at hand ---------


def test_a_checkpoint_carries_its_preprocessing(tmp_path) -> None:
    from rnnlab.data import load_sequences
    from rnnlab.train.loop import fit

    cfg = RunConfig(
        ModelConfig(input_size=8, hidden=(8,), layers=1, dropout=0.0),
        DataConfig(dataset="digits", sequence="cols", train_subset=64),
        TrainConfig(epochs=1, batch_size=64),
        RuntimeConfig(device="cpu"),
    )
    fit(cfg, tmp_path)
    expected = load_sequences(cfg.data).preprocessing
    for name in ("checkpoint.pt", "best.pt"):
        raw = torch.load(tmp_path / name, weights_only=True)["preprocessing"]
        assert raw["image_size"] == (8, 8) and raw["sequence"] == "cols" and raw["class_names"][3] == "3"
        assert preprocessing_of(load_checkpoint(tmp_path / name)) == expected
    images = torch.rand(2, 8, 8)
    seqs = expected.to_sequences(images)  # cols: step t reads column t, normalised with the training mean and std
    torch.testing.assert_close(seqs[1, 3], (images[1, :, 3] - expected.mean) / expected.std, rtol=0, atol=1e-6)


def test_an_older_checkpoint_is_upgraded_from_its_data_and_the_file_left_alone(tmp_path) -> None:
    from rnnlab.data import load_sequences

    p = tmp_path / "old.pt"
    _ckpt(p, CFG)  # written the way checkpoints were before they carried their preprocessing
    before = p.read_bytes()
    ckpt = load_checkpoint(p)
    assert "preprocessing" not in ckpt
    got = preprocessing_of(ckpt)
    assert got == load_sequences(CFG.data).preprocessing
    assert ckpt["preprocessing"] == got.to_dict()  # upgraded in memory...
    assert p.read_bytes() == before  # ...and never on disk


def test_an_older_checkpoint_without_its_data_is_refused_in_one_line(tmp_path) -> None:
    cfg = RunConfig(ModelConfig(), DataConfig(dataset="mnist"), TrainConfig())
    p = tmp_path / "old.pt"
    _ckpt(p, cfg)
    with pytest.raises(UserError) as err:
        preprocessing_of(load_checkpoint(p), data_dir=str(tmp_path / "empty"))
    message = str(err.value)
    assert "\n" not in message and "before checkpoints carried their preprocessing" in message
    assert str(tmp_path / "empty") in message and "--data-dir" in message
    assert not (tmp_path / "empty").exists()  # nothing downloaded, nothing created


@pytest.mark.mnist
def test_an_older_mnist_checkpoint_is_upgraded_where_mnist_is(tmp_path, mnist_dir) -> None:
    cfg = RunConfig(ModelConfig(), DataConfig(dataset="mnist", sequence="pixels"), TrainConfig())
    p = tmp_path / "old.pt"
    _ckpt(p, cfg)
    got = preprocessing_of(load_checkpoint(p), data_dir=mnist_dir)
    assert got.image_size == (28, 28) and got.sequence == "pixels"
    assert abs(got.mean - 0.1307) < 1e-4 and abs(got.std - 0.3081) < 1e-4  # MNIST's well-known figures


def test_a_damaged_preprocessing_is_a_user_error(tmp_path) -> None:
    p = tmp_path / "c.pt"
    model = build_model(CFG.model, seed=0)
    save_checkpoint(p, {"config": CFG.to_dict(), "model": model.state_dict(), "preprocessing": {"mean": 0.5}})
    with pytest.raises(UserError, match="unusable preprocessing"):
        preprocessing_of(load_checkpoint(p))
