"""rnnlab: a laboratory for recurrent networks on images read as sequences.

One parameter layout (PyTorch's own ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` names), many engines that compute it.
"""

__version__ = "0.1.0"
