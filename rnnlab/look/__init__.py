"""Looking inside a model: per-step predictions, states and gates, figures; a trained run on new images.

Submodules load on first use (rnnlab.lazy), so importing this package costs nothing.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab.look import (  # noqa: F401
        epoch,
        figures,
        layer_figures,
        loaded,
        order,
        predict,
        probe,
        step_axes,
        step_figures,
        steps,
        units,
        visualize,
    )


__getattr__, __dir__ = submodules(
    __name__,
    (
        "probe",
        "steps",
        "figures",
        "order",
        "units",
        "step_axes",
        "step_figures",
        "layer_figures",
        "visualize",
        "predict",
        "loaded",
        "epoch",
    ),
)
