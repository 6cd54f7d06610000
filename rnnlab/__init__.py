"""rnnlab: a laboratory for recurrent networks on images read as sequences.

One parameter layout (PyTorch's own ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` names), many engines that compute it.
From Python (see docs/tutorial.ipynb):

    import rnnlab
    run = rnnlab.load("runs/my-run")        # .model, .config, .preprocessing
    run.predict("seven.png")                 # the prediction after each step
    run.trace("seven.png")                   # every layer's states and gates at every step
    rnnlab.ENGINES                           # cudnn, unrolled, bptt, triton: run.engine("bptt")

Everything loads on first use (rnnlab.lazy): ``import rnnlab`` imports no torch, so `rnnlab --help` stays fast.
"""

from typing import TYPE_CHECKING

from rnnlab.lazy import submodules
from rnnlab.version import __version__ as __version__  # the package's own version, on the ground floor

if TYPE_CHECKING:  # the submodules, for the type checker (at run time each loads on first use)
    from rnnlab import cells, config, data, errors, export, lab, look, model, runs, runtime, train  # noqa: F401
    from rnnlab.cells import ENGINES, get_engine  # noqa: F401
    from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig, model_for  # noqa: F401
    from rnnlab.data.preprocess import Preprocessing  # noqa: F401
    from rnnlab.errors import UserError  # noqa: F401
    from rnnlab.look.loaded import Loaded, load, predict, trace  # noqa: F401
    from rnnlab.runs.run import Run  # noqa: F401
    from rnnlab.train.loop import fit  # noqa: F401


__getattr__, __dir__ = submodules(
    __name__,
    ("cells", "config", "data", "errors", "export", "lab", "look", "model", "runs", "runtime", "train"),
    exports={
        "load": "look.loaded",
        "Run": "runs.run",
        "predict": "look.loaded",
        "trace": "look.loaded",
        "Loaded": "look.loaded",
        "ENGINES": "cells",
        "get_engine": "cells",
        "RunConfig": "config",
        "ModelConfig": "config",
        "DataConfig": "config",
        "TrainConfig": "config",
        "RuntimeConfig": "config",
        "model_for": "config",
        "Preprocessing": "data.preprocess",
        "UserError": "errors",
        "fit": "train.loop",
    },
)
