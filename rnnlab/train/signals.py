"""Ctrl-C and SIGTERM while training: the first asks to stop after the current step (and says so at once), a second
stops now. During the final evaluation there is no step to finish, so any signal stops at once.

Handlers only set a flag or raise StopNow; the loop decides what to write. Main thread only: elsewhere the
process's own handlers stay as they are.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any


class StopNow(BaseException):  # noqa: N818 (not an error: the user asked to stop)
    """Raised from a signal handler: unwinds the current step without finishing it (BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way swallows it)."""

    def __init__(self, signame: str, second: bool) -> None:
        super().__init__(signame)
        self.signame = signame
        self.second = second  # a second signal, after a first asked to stop after the step


class StopRequests:
    """What signals have asked for so far; ``phase`` is "training" (finish the step first) or "final" (stop now)."""

    def __init__(self, notice: Callable[[str], None]) -> None:
        self.notice = notice
        self.name: str | None = None  # the first signal's name, once one came
        self.phase = "training"

    @property
    def requested(self) -> bool:
        return self.name is not None

    def handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.phase != "training":
            raise StopNow(name, second=self.requested)
        if self.requested:
            raise StopNow(name, second=True)
        self.name = name
        again = "Ctrl-C again" if name == "SIGINT" else "a second signal"
        self.notice(f"{name}: stopping after this step, with a checkpoint ({again} to stop now)")


@contextlib.contextmanager
def _handling(handler: Any) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` inside the block, as they went before after it (main thread only)."""
    old: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


@contextlib.contextmanager
def stop_requests(notice: Callable[[str], None]) -> Iterator[StopRequests]:
    requests = StopRequests(notice)
    with _handling(requests.handle):
        yield requests


def ignoring_signals() -> contextlib.AbstractContextManager[None]:
    """While a stop is being reported, a further Ctrl-C must not turn it into a traceback."""
    return _handling(signal.SIG_IGN)
