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

from rnnlab.lazy import submodules

__version__ = "0.1.0"

__getattr__, __dir__ = submodules(
    __name__,
    ("cells", "config", "data", "errors", "lab", "look", "model", "runs", "runtime", "train"),
    exports={
        "load": "look.loaded",
        "predict": "look.loaded",
        "trace": "look.loaded",
        "Loaded": "look.loaded",
        "ENGINES": "cells",
        "get_engine": "cells",
        "RunConfig": "config",
        "ModelConfig": "config",
        "DataConfig": "config",
        "TrainConfig": "config",
        "model_for": "config",
        "Preprocessing": "data.preprocess",
        "UserError": "errors",
        "fit": "train.loop",
    },
)
