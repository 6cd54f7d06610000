"""Training: the loop and its step, its resumable state and records, signals, memory checks, optimisers and schedules,
evaluation and live loggers. Devices, threads, CPU memory and torchrun live below it, in rnnlab.runtime.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(
    __name__,
    ("loop", "step", "state", "book", "results", "signals", "memory", "optim", "evaluation", "loggers"),
)
