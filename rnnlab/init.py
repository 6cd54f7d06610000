"""Initial weights of the recurrent layers, written into PyTorch's own parameters (no new layout).

uniform: PyTorch's default, every weight and bias from U(-1/sqrt(H), 1/sqrt(H)).
orthogonal: each gate's (H, H) block of weight_hh orthogonal, weight_ih Glorot-uniform, biases zero (as Keras).
identity: as orthogonal, but the block that writes the cell's candidate (LSTM g, GRU n, the whole tanh RNN) is
the identity. Cooijmans et al. (2016) start their pixel-MNIST LSTM so; the memory path then neither grows nor
shrinks at first, which matters over 784 steps.
The forget-gate bias (ModelConfig.forget_bias) is added afterwards, by the model, in every scheme.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.config import INITS

_CANDIDATE = {"LSTM": 2, "GRU": 2, "RNN_TANH": 0}  # which gate block writes the candidate: i,f,g,o; r,z,n; h


@torch.no_grad()
def init_recurrent(rnn: nn.RNNBase, scheme: str) -> None:
    """Re-initialise ``rnn`` in place by ``scheme``; uniform keeps what nn.LSTM/GRU/RNN drew."""
    if scheme == "uniform":
        return
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    hidden = rnn.hidden_size
    for name, p in rnn.named_parameters():
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(p)  # (G*H, I)
        elif name.startswith("weight_hh"):  # (G*H, H)
            for k in range(p.shape[0] // hidden):
                block = p[k * hidden : (k + 1) * hidden]
                if scheme == "identity" and k == _CANDIDATE[rnn.mode]:
                    block.copy_(torch.eye(hidden, dtype=p.dtype, device=p.device))
                else:
                    nn.init.orthogonal_(block)
        elif name.startswith("bias"):
            p.zero_()
