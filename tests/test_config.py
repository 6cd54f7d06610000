import pytest

from rnnlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig, parse_sizes
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
        ({"engine": "warp"}, "--engine"),
        ({"device": "tpu"}, "--device"),
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
