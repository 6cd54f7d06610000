"""Triton's interpreter with one thread per program: what a cooperative launch gives the persistent kernels on a GPU
(every program of the grid resident at once, each at its own pace), on a CPU.

Triton's interpreter runs a grid's programs one after another, so a grid barrier would wait forever for programs
that have not started. Here every program is a thread with its own program id; every load, store and atomic may
yield to another thread at random, so programs interleave at every memory access. That runs the persistent path
(one launch, the barrier between steps, the per-step targets, the backward walking down) as a GPU would order it,
and a missing wait or a missing arrival shows: wrong numbers, or a launch that never ends, which the harness turns
into ``ProgramsHung`` after ``timeout`` seconds (and stops its threads).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

from triton.runtime import interpreter

MEMORY = (
    "create_load",
    "create_store",
    "create_masked_load",
    "create_masked_store",
    "create_atomic_rmw",
    "create_atomic_cas",
)


class ProgramsHung(AssertionError):
    """Some programs of a launch were still running when the harness's timeout passed."""


class _Stopped(BaseException):
    """Raised inside a program's thread to end it once its launch has hung."""


@contextlib.contextmanager
def programs_as_threads(timeout: float = 60.0, seed: int = 0, yields: float = 0.3) -> Iterator[None]:
    """Within this block, every interpreted launch runs each program in its own thread; each memory access yields
    with probability ``yields`` (a seeded draw per access)."""
    builder = interpreter.interpreter_builder
    local = threading.local()
    stop = threading.Event()
    lock = threading.Lock()
    draws = random.Random(seed)

    class ThreadedBuilder(type(builder)):  # type: ignore[misc]
        grid_idx = property(lambda self: local.grid_idx, lambda self, v: setattr(local, "grid_idx", v))

    def yielding(name: str) -> Any:
        original = getattr(interpreter.InterpreterBuilder, name)

        def access(self: Any, *args: Any, **kwargs: Any) -> Any:
            if stop.is_set():
                raise _Stopped
            with lock:
                pause = draws.random() < yields
            if pause:
                time.sleep(0)
            return original(self, *args, **kwargs)

        return access

    for name in MEMORY:
        setattr(ThreadedBuilder, name, yielding(name))

    def threaded_call(self: Any, *args_dev: Any, **kwargs: Any) -> None:
        """GridExecutor.__call__, the grid's programs run side by side instead of one after another."""
        names = inspect.getfullargspec(self.fn).args
        kwargs = {k: v for k, v in kwargs.items() if k in names}
        args_hst, kwargs_hst = self._init_args_hst(args_dev, kwargs)
        for hook in self.pre_run_hooks:
            hook(*args_hst, **kwargs_hst)
        scope = interpreter._patch_lang(self.fn)
        try:
            args = inspect.getcallargs(self.fn, *args_hst, **kwargs_hst)
            args = {k: v if k in self.constexprs else interpreter._implicit_cvt(v) for k, v in args.items()}
            grid = self.grid(args) if callable(self.grid) else self.grid
            grid = (*grid, *(1,) * (3 - len(grid)))
            builder.set_grid_dim(*grid)
            errors: list[BaseException] = []

            def program(x: int, y: int, z: int) -> None:
                try:
                    builder.set_grid_idx(x, y, z)
                    self.fn(**args)
                except _Stopped:
                    pass
                except BaseException as exc:  # reported by the launch, in the test's thread
                    errors.append(exc)

            threads = [
                threading.Thread(target=program, args=i, daemon=True) for i in itertools.product(*map(range, grid))
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + timeout
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            running = sum(thread.is_alive() for thread in threads)
            if running:
                stop.set()
                for thread in threads:
                    thread.join()
                stop.clear()
                raise ProgramsHung(f"{running} of {len(threads)} programs still running after {timeout:g} s")
            if errors:
                raise errors[0]
        finally:
            scope.restore()
        self._restore_args_dev(args_dev, args_hst, kwargs, kwargs_hst)

    original_class, original_call = type(builder), interpreter.GridExecutor.__call__
    builder.__class__ = ThreadedBuilder
    interpreter.GridExecutor.__call__ = threaded_call
    try:
        yield
    finally:
        builder.__class__ = original_class
        interpreter.GridExecutor.__call__ = original_call
