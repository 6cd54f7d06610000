"""The ``triton`` engine: LSTM and GRU layers on the kernels of ``lstm_kernels`` / ``gru_kernels``.

The input products (x W_ih^T for all steps) and the weight gradients are single large matmuls done by PyTorch,
as in ``bptt``, whose helpers this reuses; the kernels do what is sequential, in the variant ``variants.plan``
picks (``variant()`` names it). Each cell's forward and backward are ``torch.library`` custom ops
(``rnnlab::triton_lstm``, ``rnnlab::triton_lstm_backward``; see ``cells.ops``), so that ``torch.compile`` takes a
direction as one node; the forward keeps the index of the launch plan it ran, so its backward launches that plan.
float32 runs the recurrent dot in TF32 where PyTorch allows TF32 for cuDNN (its default), else in IEEE fp32;
bfloat16 (inputs, or bf16 autocast) feeds bf16 operands to the dot and keeps fp32 accumulation and state; float64
stays float64.
Legend: T time steps, B batch, I input features, H hidden units.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import Tensor

from rnnlab.cells import ENGINES
from rnnlab.cells.common import Masks, Params, autocast_on, input_product, param_grads
from rnnlab.cells.ops import define
from rnnlab.errors import UserError


def unavailable(device: torch.device) -> str | None:
    try:
        from rnnlab.cells.triton import kernels as triton_kernels
    except ImportError as exc:
        return f"triton is not installed ({exc})"
    if device.type == "cuda":
        return None if torch.cuda.is_available() else "no CUDA device is visible here"
    if triton_kernels.INTERPRETED:
        return None
    return "the Triton kernels need a CUDA GPU here (TRITON_INTERPRET=1 runs them on CPU, slowly, where CUDA is absent)"


def interpreted(device: torch.device) -> bool:
    """Whether the kernels run under Triton's interpreter on ``device`` (a CPU without CUDA): right, and slow."""
    from rnnlab.cells.triton.kernels import INTERPRETED

    return device.type != "cuda" and INTERPRETED


def variant(cell: str, batch: int, hidden: int, dtype: torch.dtype, device: torch.device | str) -> str:
    """The kernel variant this engine runs for one layer of ``hidden`` units over ``batch`` rows, by name.

    The rule (``variants.plan``): interpreted where Triton runs under TRITON_INTERPRET=1; on a CUDA GPU persistent
    (W_hh slice on chip, one launch per sequence) when the slice fits on chip and H/16 unit programs fit the SMs,
    else stepwise (one launch per step, W_hh streamed from L2)."""
    _check(cell)
    device = torch.device(device)
    reason = unavailable(device)
    if reason:
        raise UserError(f"--engine triton cannot run on {device}: {reason}")
    return _plan(cell, batch, hidden, dtype, device).describe()


def _plan(cell: str, B: int, H: int, op_dtype: torch.dtype, device: torch.device) -> Any:
    from rnnlab.cells.triton.kernels import INTERPRETED
    from rnnlab.cells.triton.variants import plan

    return plan(cell, B, H, op_dtype, device, INTERPRETED)


def _check(cell: str, variable_lengths: bool = False, regularisers: tuple[str, ...] = ()) -> None:
    ENGINES["triton"].check_model(cell, variable_lengths, regularisers)


# Every launch plan a forward ran (stepwise where its cooperative launch was refused), once each. The forward op
# returns its plan's index here as a residual, so that its backward launches exactly that plan, whatever other
# forwards of the same shape ran in between
_PLANS: list[Any] = []
_INDEX: dict[Any, int] = {}
_LOCK = threading.Lock()


def _ran(plan: Any) -> Tensor:
    """The index of ``plan`` in ``_PLANS``, as an int64 scalar on the CPU (the backward reads it without a sync)."""
    with _LOCK:
        if plan not in _INDEX:
            _INDEX[plan] = len(_PLANS)
            _PLANS.append(plan)
        return torch.tensor(_INDEX[plan], dtype=torch.int64)


def _plan_of(kept: Tensor) -> Any:
    """The plan the forward ran, from its ``_ran`` residual."""
    return _PLANS[int(kept)]


def _index_fake() -> Tensor:
    return torch.empty((), dtype=torch.int64, device="cpu")


def _state_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def lstm_forward(
    x: Tensor,  # (T, B, I), already in processing order
    h0: Tensor,  # (B, H)
    c0: Tensor,  # (B, H)
    w_ih: Tensor,  # (4H, I)
    w_hh: Tensor,  # (4H, H)
    b_ih: Tensor,  # (4H,)
    b_hh: Tensor,  # (4H,)
    op_dtype: torch.dtype,  # the recurrent dot's operands
) -> tuple[Tensor, ...]:  # out, h_T, c_T (the state dtype); kept: acts (T, B, 4H), hs, cs (T+1, B, H), plan ()
    from rnnlab.cells.triton.launch import run
    from rnnlab.cells.triton.lstm_kernels import lstm_forward as kernel

    T, B, _ = x.shape
    H = w_hh.shape[1]
    state_dtype = _state_dtype(x)
    xw = input_product(x.to(op_dtype), w_ih.to(op_dtype), (b_ih + b_hh).to(op_dtype)).to(state_dtype).contiguous()
    whh = w_hh.to(op_dtype).contiguous()
    hs = torch.empty(T + 1, B, H, device=x.device, dtype=state_dtype)
    cs = torch.empty_like(hs)
    hs[0], cs[0] = h0, c0
    acts = torch.empty_like(xw)  # (T, B, 4H)
    p = _plan("lstm", B, H, op_dtype, x.device)
    _, ran = run(kernel, p, (xw, whh, hs, cs, acts), T, B, H, backward=False)
    return hs[1:].clone(), hs[T].clone(), cs[T].clone(), acts, hs, cs, _ran(ran)


def _lstm_fake(x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor, *rest: Any) -> tuple[Tensor, ...]:
    T, B, _ = x.shape
    H = w_hh.shape[1]
    e = lambda *shape: x.new_empty(shape, dtype=_state_dtype(x))  # noqa: E731
    return e(T, B, H), e(B, H), e(B, H), e(T, B, 4 * H), e(T + 1, B, H), e(T + 1, B, H), _index_fake()


def lstm_backward(
    grads: tuple[Tensor, ...], inputs: tuple[Any, ...], kept: tuple[Tensor, ...], need_dx: bool
) -> tuple[Tensor | None, ...]:
    from rnnlab.cells.triton.launch import run
    from rnnlab.cells.triton.lstm_kernels import lstm_backward as kernel

    dout, dh_T, dc_T = grads
    x, _, _, w_ih, w_hh, _, _, op_dtype = inputs
    acts, hs, cs, plan = kept
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    whh = w_hh.to(op_dtype).contiguous()
    dh = dout.to(hs.dtype).clone(memory_format=torch.contiguous_format)  # (T, B, H)
    dh[T - 1] += dh_T
    dgates = torch.empty(T + 1, B, 4 * H, device=hs.device, dtype=hs.dtype)
    dgates[T] = 0  # nothing flows back from past the last step
    dc = dc_T.to(hs.dtype).clone(memory_format=torch.contiguous_format)  # (B, H): dc_T in, dc_0 out
    run(kernel, _plan_of(plan), (dh, whh, acts, cs, dgates, dc), T, B, H, backward=True)
    dgates = dgates[:T]
    dh0 = dgates[0] @ whh.to(hs.dtype)
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(need_dx, dgates, dgates, x.to(hs.dtype), hs[:-1], w_ih.to(hs.dtype))
    cast = _caster(x.dtype)
    return cast(dx), cast(dh0), cast(dc), cast(dw_ih), cast(dw_hh), cast(db_ih), cast(db_hh)


def gru_forward(
    x: Tensor,  # (T, B, I), already in processing order
    h0: Tensor,  # (B, H)
    w_ih: Tensor,  # (3H, I)
    w_hh: Tensor,  # (3H, H)
    b_ih: Tensor,  # (3H,)
    b_hh: Tensor,  # (3H,)
    op_dtype: torch.dtype,
) -> tuple[Tensor, ...]:  # out, h_T (the state dtype); kept: gates (T, B, 3H), hwn (T, B, H), hs (T+1, B, H), plan
    from rnnlab.cells.triton.gru_kernels import gru_forward as kernel
    from rnnlab.cells.triton.launch import run

    T, B, _ = x.shape
    H = w_hh.shape[1]
    state_dtype = _state_dtype(x)
    xw = input_product(x.to(op_dtype), w_ih.to(op_dtype), b_ih.to(op_dtype)).to(state_dtype).contiguous()
    whh = w_hh.to(op_dtype).contiguous()
    hs = torch.empty(T + 1, B, H, device=x.device, dtype=state_dtype)
    hs[0] = h0
    gates = torch.empty_like(xw)  # (T, B, 3H)
    hwn = torch.empty(T, B, H, device=x.device, dtype=state_dtype)
    p = _plan("gru", B, H, op_dtype, x.device)
    bhh = b_hh.to(state_dtype).contiguous()
    args = (xw, whh, bhh, hs, gates, hwn)
    _, ran = run(kernel, p, args, T, B, H, backward=False)
    return hs[1:].clone(), hs[T].clone(), gates, hwn, hs, _ran(ran)


def _gru_fake(x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, *rest: Any) -> tuple[Tensor, ...]:
    T, B, _ = x.shape
    H = w_hh.shape[1]
    e = lambda *shape: x.new_empty(shape, dtype=_state_dtype(x))  # noqa: E731
    return e(T, B, H), e(B, H), e(T, B, 3 * H), e(T, B, H), e(T + 1, B, H), _index_fake()


def gru_backward(
    grads: tuple[Tensor, ...], inputs: tuple[Any, ...], kept: tuple[Tensor, ...], need_dx: bool
) -> tuple[Tensor | None, ...]:
    from rnnlab.cells.triton.gru_kernels import gru_backward as kernel
    from rnnlab.cells.triton.launch import run

    dout, dh_T = grads
    x, _, w_ih, w_hh, _, _, op_dtype = inputs
    gates, hwn, hs, plan = kept
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    whh = w_hh.to(op_dtype).contiguous()
    dpre_x = torch.empty_like(gates)
    dpre_h = torch.empty(T + 1, B, 3 * H, device=hs.device, dtype=hs.dtype)
    dpre_h[T] = 0
    carry = dh_T.to(hs.dtype).clone(memory_format=torch.contiguous_format)  # (B, H)
    args = (dout.to(hs.dtype).contiguous(), carry, whh, hs, gates, hwn, dpre_x, dpre_h)
    run(kernel, _plan_of(plan), args, T, B, H, backward=True)
    dpre_h = dpre_h[:T]
    dh0 = carry + dpre_h[0] @ whh.to(hs.dtype)
    dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(need_dx, dpre_x, dpre_h, x.to(hs.dtype), hs[:-1], w_ih.to(hs.dtype))
    cast = _caster(x.dtype)
    return cast(dx), cast(dh0), cast(dw_ih), cast(dw_hh), cast(db_ih), cast(db_hh)


_ARGS = ("Tensor w_ih", "Tensor w_hh", "Tensor b_ih", "Tensor b_hh", "ScalarType op_dtype")
# (out, h_T[, c_T]) = lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, op_dtype), in the state dtype; gru alike, without c
lstm = define("triton_lstm", ("Tensor x", "Tensor h0", "Tensor c0", *_ARGS), 7, (3, 4), lstm_forward, _lstm_fake,
              lstm_backward)  # fmt: skip
gru = define("triton_gru", ("Tensor x", "Tensor h0", *_ARGS), 6, (2, 4), gru_forward, _gru_fake, gru_backward)


def _bf16_autocast(device_type: str) -> bool:
    if not autocast_on(device_type):
        return False
    try:
        return torch.get_autocast_dtype(device_type) == torch.bfloat16
    except AttributeError:  # torch < 2.4
        return (
            torch.get_autocast_gpu_dtype() if device_type == "cuda" else torch.get_autocast_cpu_dtype()
        ) == torch.bfloat16


def _caster(dtype: torch.dtype) -> Any:
    return lambda t: None if t is None else t.to(dtype)


def direction(
    cell: str,
    x: Tensor,  # (T, B, I)
    h: Tensor,  # (B, H)
    c: Tensor | None,  # (B, H), LSTM only
    p: Params,
    reverse: bool,
    lengths: Tensor | None,  # (B,)
    masks: Masks | None = None,  # the weight mask only (run_directions applies it); no zoneout, recurrent dropout
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One direction of a one-layer LSTM or GRU in fused Triton kernels, time-major (on a CPU: under Triton's
    interpreter, for checking).

    Args:
        cell: "lstm", "gru" or "rnn" (tanh): lstm and gru only; no ``lengths``.
        x: (T, B, I) the inputs, every step of every sample.
        h: (B, H) the initial hidden state; c: (B, H) the LSTM's initial cell state, None for a GRU or RNN.
        p: this direction's parameters, nn.LSTM's own tensors (cells.common.layer_params(layer, 0 or 1)).
        reverse: read steps T-1 .. 0 (the backward direction of a bidirectional layer).
        lengths: (B,) the valid steps of each sample (the rest is padding), or None: all T valid.
        masks: the regularisers' masks (cells.common.Masks): DropConnect only, already in p's W_hh.
    Returns:
        out (T, B, H) the hidden state after each step (zero past a sample's length), h_T (B, H) and c_T (B, H) or
        None: the state after each sample's last valid step.

    Example, against PyTorch's own layer (the parameters are shared, nothing is copied):

        >>> import torch
        >>> from rnnlab.cells.common import layer_params
        >>> from rnnlab.cells.triton.engine import direction
        >>> lstm = torch.nn.LSTM(3, 5)
        >>> x, h0, c0 = torch.randn(7, 2, 3), torch.zeros(2, 5), torch.zeros(2, 5)
        >>> out, h_T, c_T = direction("lstm", x, h0, c0, layer_params(lstm, 0), False, None)
        >>> out.shape, h_T.shape, c_T.shape
        (torch.Size([7, 2, 5]), torch.Size([2, 5]), torch.Size([2, 5]))
        >>> torch.allclose(out, lstm(x)[0], atol=1e-5)
        True
    """
    _check(cell, lengths is not None, () if masks is None else masks.regularisers())
    op_dtype = torch.bfloat16 if x.dtype == torch.bfloat16 or _bf16_autocast(x.device.type) else x.dtype
    if reverse:
        x = x.flip(0)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if cell == "lstm":
            assert c is not None  # an LSTM's state is always (h, c)
            out, h_n, c_n = lstm(x, h.to(x.dtype), c.to(x.dtype), *p, op_dtype)
        else:
            (out, h_n), c_n = gru(x, h.to(x.dtype), *p, op_dtype), None
    out = out.to(x.dtype)
    return (out.flip(0) if reverse else out), h_n.to(x.dtype), None if c_n is None else c_n.to(x.dtype)
