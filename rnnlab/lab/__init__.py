"""The laboratory: engines compared, hand-written gradients checked, runs compared.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(__name__, ("compare_cells", "gradcheck", "compare_runs"))
