"""Keep freed memory in the process (glibc), so that each CPU training step reuses the last step's buffers.

glibc hands every allocation above its mmap threshold (128 KB at first, never more than 32 MB) its own fresh
mapping and unmaps it on free. A training step allocates and frees the same large buffers every time (the LSTM's
workspace, activations, gradients: 125 MB at a time for pixel MNIST), so by default every step pays a page
fault per 4 KB and the kernel's zeroing of each page. scripts/bench_cpu_memory.py (docs/BENCHMARKS.md): the
default model's CPU step goes from 160 to 114 ms, pixel MNIST's from 437 to 210 ms. The price: the process
keeps its peak memory until it exits (resident memory +15% and +88% there). jemalloc or tcmalloc under
LD_PRELOAD, which PyTorch's performance guide suggests, do the same from outside.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>: free keeps up to this many bytes at the heap's top
M_MMAP_MAX = -4  # glibc's <malloc.h>: how many blocks may be served by mmap at once; 0 = none

_applied = False


def keep_freed_memory() -> bool:
    """Serve every allocation from the heap and never trim it; True once glibc agreed, False where there is none."""
    global _applied
    if _applied:
        return True
    try:
        libc_name = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; absent on macOS, musl, Windows
    except (AttributeError, ValueError, OSError):
        libc_name = ""
    if not libc_name.startswith("glibc"):
        return False
    libc = ctypes.CDLL("libc.so.6")
    # mallopt returns 1 on success. The threshold is an int in glibc: 2**31 - 1 means never trim.
    _applied = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _applied


def keep_freed_memory_on(device_type: str, wanted: bool = True) -> bool:
    """keep_freed_memory() for work on the CPU when wanted; CUDA work leaves the host allocator alone."""
    return device_type == "cpu" and wanted and keep_freed_memory()
