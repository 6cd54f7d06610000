"""Shared fixtures. Real-MNIST tests read RNNLAB_DATA_DIR and skip with the reason where it is absent."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def file_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` by its sha256 and every folder as 'dir', to tell that nothing changed; a FIFO is
    left out (reading one would block)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
        if not p.is_fifo()
    }


def assert_one_error_line(result: Any, expect: str) -> str:
    """A CliRunner result that ended as a user's mistake must: exit code 2, one line on stderr, `rnnlab: error:`
    and ``expect`` in it, no traceback. Returns the line."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnnlab: error: ") and expect in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return lines[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An engine test that runs the Triton kernels under Triton's interpreter on CPU is slow (seconds a case):
    `make test` runs it, `make test-fast` skips it."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("engine") == "triton":
            item.add_marker(pytest.mark.slow)


@contextlib.contextmanager
def serving(playground: Any) -> Iterator[str]:
    """A playground on a real uvicorn server in a thread of this process, on a free port: its URL, until the block
    ends (waits up to 20 s for it to start)."""
    from rnnlab.playground.serve import bind, make_server, url_of

    sock = bind("127.0.0.1", 0)
    server = make_server(playground)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.02)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
