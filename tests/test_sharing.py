"""The 'CPU is shared' notice: from the scheduler's own counts of time run and time waited for a core."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rnnlab.runtime import sharing
from rnnlab.runtime.sharing import SharingWatch, scheduler_times


def _threads(tasks: Path, *counts: tuple[int, int]) -> None:
    for k, (ran, waited) in enumerate(counts):
        (tasks / str(k)).mkdir(exist_ok=True)
        (tasks / str(k) / "schedstat").write_text(f"{ran} {waited} 7\n")


def test_a_window_where_threads_waited_half_their_time_is_told_once(tmp_path: Path) -> None:
    _threads(tmp_path, (100, 0), (100, 0))
    watch = SharingWatch(2, window_s=0.0, tasks=tmp_path)
    _threads(tmp_path, (150, 20), (150, 20))  # waited 40 of 140 ns: 29%, not told
    assert watch.check() == ""
    _threads(tmp_path, (200, 90), (200, 90))  # this window: ran 100, waited 140 -> 58%
    told = watch.check()
    assert told.startswith("the CPU is shared with other work: this run's 2 threads waited for a free core 58% of")
    assert "about 2.4x as long as on a free machine" in told
    _threads(tmp_path, (200, 900), (200, 900))
    assert watch.check() == ""  # once per process


def test_nothing_is_told_before_the_window_has_passed(tmp_path: Path) -> None:
    _threads(tmp_path, (100, 0))
    watch = SharingWatch(1, window_s=3600.0, tasks=tmp_path)
    _threads(tmp_path, (100, 10**9))
    assert watch.check() == ""


def test_without_the_scheduler_statistics_it_says_nothing(tmp_path: Path) -> None:
    watch = SharingWatch(2, window_s=0.0, tasks=tmp_path / "absent")
    assert scheduler_times(tmp_path / "absent") is None and watch.check() == ""


def test_a_thread_that_ends_while_it_is_read_is_passed_over(tmp_path: Path) -> None:
    _threads(tmp_path, (100, 5))
    (tmp_path / "9").mkdir()  # its schedstat is gone
    assert scheduler_times(tmp_path) == (100, 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the scheduler's statistics are Linux's")
def test_this_process_has_run() -> None:
    times = scheduler_times()
    assert times is not None and times[0] > 0 and times[1] >= 0


def test_training_draws_the_notice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, digits) -> None:
    from dataclasses import replace

    from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
    from rnnlab.train import loop
    from rnnlab.train.results import NullReporter

    class Told(NullReporter):
        notices: list[str] = []

        def notice(self, message: str) -> None:
            self.notices.append(message)

    class Busy(SharingWatch):
        def check(self) -> str:
            return "" if self.told else (setattr(self, "told", True) or sharing.busy_notice(0.75, self.threads))

    monkeypatch.setattr(loop, "SharingWatch", Busy)
    cfg = RunConfig(
        ModelConfig(input_size=8, hidden=(8,), layers=1), DataConfig(dataset="digits"),
        replace(TrainConfig(), epochs=1, max_steps=3), RuntimeConfig(device="cpu", threads=1),
    )  # fmt: skip
    loop.fit(cfg, tmp_path / "run", Told(), data=digits)
    told = [n for n in Told.notices if "CPU is shared" in n]
    assert len(told) == 1 and told[0].startswith(
        "the CPU is shared with other work: this run's 1 thread waited for a free core 75%"
    )
    assert "about 4.0x as long as on a free machine" in told[0]
