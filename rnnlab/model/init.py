"""Initial weights of the recurrent layers, written into PyTorch's own parameters (no new layout).

uniform: PyTorch's default, every weight and bias from U(-1/sqrt(H), 1/sqrt(H)).
orthogonal: each gate's (H, H) block of weight_hh orthogonal, weight_ih Glorot-uniform, biases zero (as Keras).
identity: as orthogonal, but the block that writes the cell's candidate (LSTM g, GRU n, the whole tanh RNN) is
the identity. Cooijmans et al. (2016) start their pixel-MNIST LSTM so; the memory path then neither grows nor
shrinks at first, which matters over 784 steps.
ugi (Gu et al. 2020, "Improving the Gating Mechanism of Recurrent Neural Networks"): PyTorch's weights, and the
gate that keeps the state (LSTM forget, GRU update) biased so that sigmoid(b) ~ U(1/H, 1 - 1/H): as chrono, the
units start out remembering over time scales spread up to about H steps, without a T_max to choose.
The forget-gate bias (ModelConfig.forget_bias) is added afterwards, by the model, in every scheme but ugi.

chrono (Tallec & Ollivier 2018, "Can recurrent neural networks warp time?") sets an LSTM's gate biases instead:
forget bias log(u), u ~ U(1, T_max - 1), and input bias its negative. Unit k then starts out remembering over about
u_k steps, so the layer holds memories of every time scale up to T_max from the first step of training, where a
forget bias of 1 forgets within a few steps: over 784 pixels, the label's evidence must survive hundreds of steps.
"""

from __future__ import annotations

import torch
from torch import nn

_CANDIDATE = {"LSTM": 2, "GRU": 2, "RNN_TANH": 0}  # which gate block writes the candidate: i,f,g,o; r,z,n; h
_KEEPER = {"LSTM": 1, "GRU": 1}  # which gate block keeps the state: f of i,f,g,o; z of r,z,n


@torch.no_grad()
def init_recurrent(rnn: nn.RNNBase, scheme: str) -> None:
    """Re-initialise ``rnn`` in place by ``scheme``; uniform keeps what nn.LSTM/GRU/RNN drew."""
    if scheme in ("uniform", "ugi"):  # ugi sets biases after every weight (init_ugi)
        return
    if scheme not in ("orthogonal", "identity"):
        raise ValueError(f"unknown init {scheme!r}")
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


@torch.no_grad()
def init_chrono(rnn: nn.LSTM, t_max: int) -> None:
    """Chrono gate biases for every layer and direction of ``rnn`` (the input and forget gates; g and o untouched)."""
    hidden = rnn.hidden_size
    for name, p in rnn.named_parameters():
        if name.startswith("bias_ih"):  # gate order i, f, g, o; the effective bias is bias_ih + bias_hh
            forget = torch.empty(hidden, dtype=torch.float64).uniform_(1.0, t_max - 1.0).log_().to(p)
            p[hidden : 2 * hidden] = forget
            p[:hidden] = -forget
        elif name.startswith("bias_hh"):
            p[: 2 * hidden] = 0.0


@torch.no_grad()
def init_ugi(rnn: nn.RNNBase) -> None:
    """Uniform gate initialisation of the keeping gate's biases, every direction of ``rnn`` (LSTM f, GRU z): the
    effective bias b = logit(u), u ~ U(1/H, 1 - 1/H), all of it in bias_ih."""
    hidden, block = rnn.hidden_size, _KEEPER[rnn.mode]
    rows = slice(block * hidden, (block + 1) * hidden)
    for name, p in rnn.named_parameters():
        if name.startswith("bias_ih"):
            u = torch.empty(hidden, dtype=torch.float64).uniform_(1.0 / hidden, 1.0 - 1.0 / hidden)
            p[rows] = torch.logit(u).to(p)
        elif name.startswith("bias_hh"):
            p[rows] = 0.0
