"""A run on disk: its folder's paths (folder), the run read (run: Run.open, evaluate) and written (writer: the one
code that decides whether a folder may be written), checkpoints, config.json, metrics.jsonl, the live loggers,
a split scored (evaluation), atomic writes (files) and many runs listed (listing).

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.runs import (  # noqa: F401
        checkpoint,
        config_file,
        evaluation,
        files,
        folder,
        listing,
        loggers,
        metrics,
        run,
        safetensors_file,
        writer,
    )


__getattr__, __dir__ = submodules(
    __name__,
    (
        "files",
        "folder",
        "config_file",
        "metrics",
        "checkpoint",
        "evaluation",
        "loggers",
        "writer",
        "run",
        "listing",
        "safetensors_file",
    ),
)
