"""Training: the loop, its resumable state, optimisers and schedules, evaluation, torchrun, CPU memory.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(
    __name__, ("loop", "state", "optim", "evaluation", "distributed", "cpu_memory", "device")
)
