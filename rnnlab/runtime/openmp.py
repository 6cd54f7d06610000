"""How PyTorch's CPU threads wait for work: briefly, so that a machine other programs are using does not stall
every step.

On Linux PyTorch's thread pool is GNU OpenMP (libgomp). Between two parallel regions its threads spin for up to
300,000 polls before they sleep; it shortens that by itself (to 100) only when its own threads outnumber the
cores, since it cannot see other processes. When they are there, a spinning thread holds a core that the
thread everyone waits for needs, and each of the thousands of small regions of a step waits for a time slice:
beside 3 busy processes on 2 cores the default MNIST step took 1.38 s with the long spin and 0.63 s with 1,000
polls; on a free machine the short spin costs it 1.20x (docs/BENCHMARKS.md, scripts/bench_threads.py). Intel's
and LLVM's OpenMP (conda, macOS builds) ignore it; their equivalent is KMP_BLOCKTIME, left as it is.

libgomp reads its settings once, when it loads, so this must run before torch is imported: the `rnnlab` command
does it first thing. From Python, set ``GOMP_SPINCOUNT=1000`` in the environment before importing torch.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_COUNT = "1000"  # long enough for a free machine's next region, short enough to yield a busy one's core
CHOSEN_BY_USER = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")  # either says how long to spin; then it is theirs


def wait_briefly(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set libgomp's spin count to ``SPIN_COUNT`` unless the user chose how OpenMP waits; True if it was set."""
    if any(name in environ for name in CHOSEN_BY_USER):
        return False
    environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True
