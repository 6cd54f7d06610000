"""Run folders on disk: atomic writes, checkpoints, config.json and metrics.jsonl.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(__name__, ("files", "checkpoint", "folder"))
