"""Shared fixtures. Real-MNIST tests read RNNLAB_DATA_DIR and skip with the reason where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from rnnlab.config import DataConfig
from rnnlab.data import SequenceData, load_sequences


@pytest.fixture(scope="session")
def mnist_dir() -> str:
    d = os.environ.get("RNNLAB_DATA_DIR")
    if not d or not (Path(d) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip("real MNIST: set RNNLAB_DATA_DIR to a folder holding MNIST/raw/*-ubyte (CI uses ../shared/data)")
    return d


@pytest.fixture(scope="session")
def digits() -> SequenceData:
    return load_sequences(DataConfig(dataset="digits"))


@pytest.fixture(scope="session")
def digits_pixels() -> SequenceData:
    return load_sequences(DataConfig(dataset="digits", sequence="pixels"))


@pytest.fixture(autouse=True)
def _quiet_threads() -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, atol: float, rtol: float, what: str) -> None:
    """assert_close that reports the max and mean error and what was compared."""
    diff = (actual.double() - expected.double()).abs()
    torch.testing.assert_close(
        actual,
        expected,
        atol=atol,
        rtol=rtol,
        msg=lambda m: f"{what}: max |diff| {diff.max():.3e}, mean {diff.mean():.3e}\n{m}",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An engine test that runs the Triton kernels under Triton's interpreter on CPU is slow (seconds a case):
    `make test` runs it, `make test-fast` skips it."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("engine") == "triton":
            item.add_marker(pytest.mark.slow)
