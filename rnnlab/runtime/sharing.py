"""Whether other processes are taking this process's CPU time: the time its threads were ready to run but waited
for a core, from Linux's scheduler statistics (/proc/self/task/*/schedstat). Elsewhere it reports nothing.

A step's speed alone cannot say whether the machine is busy (a big model is slow on a free machine too); this
can: a share of 0.5 means every thread ran half the time it could have, so steps take about twice as long as
they would on a machine of their own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TASKS = Path("/proc/self/task")
WINDOW_S = 10.0  # how much time a verdict covers
BUSY_SHARE = 0.5  # waiting this much of the time means steps at least twice as slow as alone


def scheduler_times(tasks: Path = TASKS) -> tuple[int, int] | None:
    """Nanoseconds this process's threads ran, and waited ready to run, since they began; None off Linux."""
    ran = waited = 0
    try:
        names = os.listdir(tasks)
    except OSError:
        return None
    for name in names:
        try:
            fields = (tasks / name / "schedstat").read_text().split()
            ran, waited = ran + int(fields[0]), waited + int(fields[1])
        except (OSError, ValueError, IndexError):  # a thread that ended between the listing and the read
            continue
    return ran, waited


def wait_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the time between two scheduler_times that the threads waited for a core (None: not known)."""
    if before is None or after is None:
        return None
    ran, waited = after[0] - before[0], after[1] - before[1]
    return waited / (ran + waited) if ran + waited else None


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SharingWatch:
    """Looked at after every step; says once per process, in one line, when the CPU was shared for a window."""

    def __init__(self, threads: int, window_s: float = WINDOW_S, tasks: Path = TASKS) -> None:
        self.threads, self.window_s, self.tasks = threads, window_s, tasks
        self.told = False
        self._since = time.monotonic()
        self._times = scheduler_times(tasks)

    def check(self) -> str:
        """The one-line notice when the last window's threads waited ``BUSY_SHARE`` of their time, else ""."""
        if self.told or self._times is None or time.monotonic() - self._since < self.window_s:
            return ""
        now = scheduler_times(self.tasks)
        if now is None:
            return ""
        share = wait_share(self._times, now) or 0.0
        self._since, self._times = time.monotonic(), now
        if share < BUSY_SHARE:
            return ""
        self.told = True
        return busy_notice(share, self.threads)


def busy_notice(share: float, threads: int) -> str:
    n = cores()
    load = f" (load average {os.getloadavg()[0]:.1f} on {n} cores)" if hasattr(os, "getloadavg") else ""
    plural = "s" if threads != 1 else ""
    if threads > n:  # its own threads are what is waiting
        return (
            f"this run's {threads} threads waited for a free core {100 * share:.0f}% of the time: there are "
            f"{n} cores{load}; --threads {n} or fewer lets them run"
        )
    return (
        f"the CPU is shared with other work: this run's {threads} thread{plural} waited for a free core "
        f"{100 * share:.0f}% of the time{load}, so its steps take about {1 / max(1 - share, 0.01):.1f}x as long as "
        "on a free machine"
    )
