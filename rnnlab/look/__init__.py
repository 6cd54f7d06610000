"""Looking inside a model: per-step predictions, states and gates, figures; a trained run on new images.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from rnnlab.lazy import submodules

__getattr__, __dir__ = submodules(
    __name__, ("probe", "steps", "figures", "step_figures", "visualize", "predict", "loaded", "epoch")
)
