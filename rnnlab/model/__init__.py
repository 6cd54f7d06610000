"""The model: projection -> recurrent stack -> readout -> head, its initialisations and dropout.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(__name__, ("classifier", "init", "dropout"))
