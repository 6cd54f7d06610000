import pytest

from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig, parse_sizes
from rnnlab.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"cell": "transformer"}, "--cell"),
        ({"layers": 0}, "--layers"),
        ({"layers": -1}, "--layers"),
        ({"hidden": (0,)}, "--hidden"),
        ({"hidden": (64, 64, 64), "layers": 2}, "--hidden"),
        ({"dropout": 1.0}, "--dropout"),
        ({"dropout": -0.1}, "--dropout"),
        ({"readout": "first"}, "--readout"),
        ({"proj": -3}, "--proj"),
    ],
)
def test_model_config_errors_name_the_flag(kwargs: dict, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelConfig(**kwargs)
    assert str(info.value).startswith(flag)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"batch_size": 0}, "--batch-size"),
        ({"epochs": 0}, "--epochs"),
        ({"lr": 0.0}, "--lr"),
        ({"optimizer": "adagrad"}, "--optimizer"),
        ({"on_nan": "ignore"}, "--on-nan"),
        ({"clip": -1.0}, "--clip"),
    ],
)
def test_train_config_errors_name_the_flag(kwargs: dict, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**kwargs)
    assert str(info.value).startswith(flag)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"engine": "warp"}, "--engine"), ({"device": "tpu"}, "--device"), ({"threads": -1}, "--threads")],
)
def test_runtime_config_errors_name_the_flag(kwargs: dict, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        RuntimeConfig(**kwargs)
    assert str(info.value).startswith(flag)


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"dataset": "cifar"}, "--dataset"), ({"sequence": "spiral"}, "--sequence"), ({"layout": "depth"}, "--layout")],
)
def test_data_config_errors_name_the_flag(kwargs: dict, flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        DataConfig(**kwargs)
    assert str(info.value).startswith(flag)


def test_parse_sizes() -> None:
    assert parse_sizes("256") == (256,)
    assert parse_sizes("128, 256") == (128, 256)
    for bad in ("", "a,b", "128,-1", "0"):
        with pytest.raises(ConfigError):
            parse_sizes(bad)


def test_per_layer_sizes_repeat_a_single_size() -> None:
    assert ModelConfig(hidden=(64,), layers=3).hidden_sizes == (64, 64, 64)
    assert ModelConfig(hidden=(32, 64), layers=2).hidden_sizes == (32, 64)


def test_run_config_round_trips_through_a_plain_dict() -> None:
    cfg = RunConfig(
        ModelConfig(cell="gru", hidden=(8, 16), bidirectional=True), DataConfig(dataset="digits"), TrainConfig(lr=0.01)
    )
    raw = cfg.to_dict()
    assert isinstance(raw["model"]["hidden"], tuple | list)
    assert RunConfig.from_dict(raw) == cfg
    with pytest.raises(ValueError, match="unknown model settings"):
        RunConfig.from_dict({**raw, "model": {**raw["model"], "heads": 4}})


def test_the_runtime_settings_are_saved_inside_train_as_every_earlier_run_saved_them() -> None:
    cfg = RunConfig(train=TrainConfig(lr=0.01), runtime=RuntimeConfig(device="cpu", engine="bptt", threads=2))
    raw = cfg.to_dict()
    assert list(raw) == ["model", "data", "train"]
    assert (raw["train"]["engine"], raw["train"]["device"], raw["train"]["threads"], raw["train"]["lr"]) == (
        "bptt",
        "cpu",
        2,
        0.01,
    )
    assert RunConfig.from_dict(raw) == cfg
    with pytest.raises(ValueError, match=r"^train\.engine: "):  # named where the file holds it
        RunConfig.from_dict({**raw, "train": {**raw["train"], "engine": "warp"}})
    with pytest.raises(ValueError, match="unknown sections"):
        RunConfig.from_dict({**raw, "runtime": {}})


class _Handed(Exception):
    """Raised by a stand-in for fit: the config the command would have trained."""


def _config_rnnlab_train_hands_to_fit(monkeypatch, tmp_path, *args: str) -> RunConfig:
    from typer.testing import CliRunner

    from rnnlab.cli import app

    def fake_fit(cfg, *rest, **kwargs):
        raise _Handed(cfg)

    monkeypatch.setattr("rnnlab.train.loop.fit", fake_fit)
    result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, _Handed), result.output
    return result.exception.args[0]


@pytest.mark.parametrize(
    ("args", "model", "train"),
    [
        ((), {}, {}),
        (
            ("--epochs", "3", "--hidden", "16", "--schedule", "linear"),
            {"hidden": (16,)},
            {"epochs": 3, "schedule": "linear"},
        ),
        (("--lr", "0.001", "--batch-size", "128"), {}, {"lr": 1e-3, "batch_size": 128}),  # the general defaults, typed
        (("--final-lr-ratio", "0.1"), {}, {"final_lr_ratio": 0.1}),  # needs a decay: the digits set's cosine gives one
    ],
)
def test_fit_and_rnnlab_train_make_the_same_run_from_the_same_settings(
    monkeypatch, tmp_path, args, model, train
) -> None:
    from rnnlab.config import model_for

    data = DataConfig(dataset="digits")
    from_python = RunConfig(model_for(data, **model), data, TrainConfig(**train))
    from_cli = _config_rnnlab_train_hands_to_fit(monkeypatch, tmp_path, "--dataset", "digits", *args)
    assert from_cli == from_python
    assert from_python.train.epochs == train.get("epochs", 40)  # the digits set's own default, not the general 5
    assert from_python.model.hidden == model.get("hidden", (128,))
    assert from_python.train.lr == train.get("lr", 3e-3)


def test_mnist_keeps_the_general_defaults_and_saved_values_are_plain() -> None:
    import json

    cfg = RunConfig()
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.model.hidden, cfg.train.schedule) == (
        5,
        128,
        (256,),
        "constant",
    )
    for section in (cfg.model, cfg.data, cfg.train):
        for value in vars(section).values():
            assert type(value) in (int, float, str, bool, tuple, type(None)), (value, type(value))
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_a_saved_config_missing_a_setting_takes_the_general_default_not_the_datasets() -> None:
    raw = RunConfig(data=DataConfig(dataset="digits")).to_dict()
    del raw["train"]["epochs"]  # as a file written before the setting existed
    assert RunConfig.from_dict(raw).train.epochs == 5


def test_a_setting_that_needs_another_is_checked_once_the_dataset_has_given_its_own() -> None:
    assert (
        RunConfig(data=DataConfig(dataset="digits"), train=TrainConfig(final_lr_ratio=0.1)).train.schedule == "cosine"
    )
    with pytest.raises(ConfigError, match="--final-lr-ratio: sets where a decay ends"):
        RunConfig(train=TrainConfig(final_lr_ratio=0.1))  # MNIST keeps the constant rate


def test_configs_built_outside_a_run_config_pickle() -> None:
    import pickle

    for cfg in (TrainConfig(), ModelConfig(), RunConfig()):
        assert pickle.loads(pickle.dumps(cfg)) == cfg
