"""The laboratory: engines compared, hand-written gradients checked, runs compared.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.lab import compare_cells, compare_runs, gradcheck  # noqa: F401


__getattr__, __dir__ = submodules(__name__, ("compare_cells", "gradcheck", "compare_runs"))
