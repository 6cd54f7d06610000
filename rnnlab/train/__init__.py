"""Training: the loop and its step, its resumable state, signals, memory checks, optimisers and schedules. What a
run writes (config.json, metrics, checkpoints, loggers) is handed to rnnlab.runs' writer; devices, threads, CPU
memory and torchrun live below, in rnnlab.runtime.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.train import loop, memory, optim, parts, progress, results, resume, scoring, signals, state, step  # noqa: F401


__getattr__, __dir__ = submodules(
    __name__,
    ("loop", "step", "state", "parts", "progress", "resume", "scoring", "results", "signals", "memory", "optim"),
)
