"""The model: projection -> recurrent stack -> readout -> head, its initialisations and dropout.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.model import classifier, dropout, init  # noqa: F401


__getattr__, __dir__ = submodules(__name__, ("classifier", "init", "dropout"))
