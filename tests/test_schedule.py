"""Learning-rate schedules: pure functions of the step, checked at their defining points."""

import math

import pytest

from rnnlab.config import RunConfig, TrainConfig
from rnnlab.errors import ConfigError
from rnnlab.train.optim import lr_at


def rates(total: int, **kw) -> list[float]:
    tc = TrainConfig(lr=1.0, **kw)
    return [lr_at(step, total, tc) for step in range(total)]


def test_constant_is_flat_after_warmup() -> None:
    assert rates(6) == [1.0] * 6
    assert rates(6, warmup=4) == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_runs_from_peak_to_floor() -> None:
    r = rates(11, schedule="cosine", final_lr_ratio=0.1)
    assert r[0] == 1.0 and r[-1] == pytest.approx(0.1)
    assert r[5] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway
    assert r[2] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.2)))
    assert all(a > b for a, b in zip(r, r[1:]))


def test_linear_with_warmup() -> None:
    r = rates(7, schedule="linear", warmup=2)
    assert r == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])


def test_bad_values_name_their_flag() -> None:
    with pytest.raises(ConfigError, match="--schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ConfigError, match="--final-lr-ratio"):
        TrainConfig(schedule="cosine", final_lr_ratio=1.5)
    with pytest.raises(ConfigError, match="--final-lr-ratio: sets where a decay ends"):
        TrainConfig(schedule="constant", final_lr_ratio=0.1)  # a constant rate chosen: refused at once
    with pytest.raises(ConfigError, match="--final-lr-ratio: sets where a decay ends"):
        RunConfig(train=TrainConfig(final_lr_ratio=0.1))  # left to MNIST's default, constant: refused by the run
    with pytest.raises(ConfigError, match="--warmup"):
        TrainConfig(warmup=-1)
