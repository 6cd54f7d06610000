"""Looking inside a model: per-step predictions, states and gates, figures; a trained run on new images.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.look import epoch, figures, loaded, predict, probe, step_figures, steps, visualize  # noqa: F401


__getattr__, __dir__ = submodules(
    __name__, ("probe", "steps", "figures", "step_figures", "visualize", "predict", "loaded", "epoch")
)
