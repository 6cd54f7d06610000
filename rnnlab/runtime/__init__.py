"""How a process runs: which device, torch's threads and determinism, CPU memory, torchrun's process group.

Below runs/, train/ and look/, so that every command resolves its device the same way without importing the
trainer. Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:
    from rnnlab.runtime import cpu_memory, device, distributed, free_memory, openmp, sharing  # noqa: F401

__getattr__, __dir__ = submodules(__name__, ("device", "cpu_memory", "distributed", "free_memory", "openmp", "sharing"))
