"""The ``triton`` engine: LSTM and GRU layers on the persistent kernels of ``triton_kernels``.

The input products (x W_ih^T for all steps) and the weight gradients are single large matmuls done by PyTorch,
as in ``bptt``, whose helpers this reuses; the kernels do what is sequential. float32 runs the recurrent dot in
TF32 where PyTorch allows TF32 for cuDNN (its default), else in IEEE fp32; bfloat16 (inputs, or bf16 autocast)
feeds bf16 operands to the dot and keeps fp32 accumulation and state; float64 stays float64.
Legend: T time steps, B batch, I input features, H hidden units.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.common import Params, autocast_on, input_product, param_grads
from rnnlab.errors import UserError

CELLS = ("lstm", "gru")


def unavailable(device: torch.device) -> str | None:
    try:
        from rnnlab.cells.triton import kernels as triton_kernels
    except ImportError as exc:
        return f"triton is not installed ({exc})"
    if device.type == "cuda" or triton_kernels.INTERPRETED:
        return None
    return "the Triton kernels need a CUDA GPU here (TRITON_INTERPRET=1 runs them on CPU, slowly, where CUDA is absent)"


def interpreted(device: torch.device) -> bool:
    from rnnlab.cells.triton import kernels

    return device.type != "cuda" and kernels.INTERPRETED


def variant(cell: str, batch: int, hidden: int, dtype: torch.dtype, device: torch.device) -> str:
    """What runs for this shape: one persistent launch over every step, or the interpreter on a CPU."""
    if interpreted(device):
        return "interpreted (TRITON_INTERPRET=1)"
    return f"persistent batch tiles: {-(-batch // BLOCK_B)} programs of {BLOCK_B} rows"


BLOCK_B = 16  # batch rows per program: the smallest tile tl.dot takes


def _launch(B: int, H: int, dtype: torch.dtype) -> dict[str, Any]:
    from rnnlab.cells.triton.kernels import INTERPRETED

    block_h = max(16, min(64, triton_next_pow2(H)))
    precision = "tf32" if dtype == torch.float32 and torch.backends.cudnn.allow_tf32 else "ieee"
    if dtype == torch.bfloat16:
        precision = "bf16-interpreted" if INTERPRETED else "ieee"  # ieee is ignored for bf16 operands
    return {
        "grid": (-(-B // BLOCK_B),),
        "meta": {"BLOCK_B": BLOCK_B, "BLOCK_H": block_h, "BLOCK_K": block_h, "PRECISION": precision},
    }


def triton_next_pow2(n: int) -> int:
    return 1 << (max(n, 1) - 1).bit_length()


class TritonLSTM(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        h0: Tensor,
        c0: Tensor,
        w_ih: Tensor,
        w_hh: Tensor,
        b_ih: Tensor,
        b_hh: Tensor,
        op_dtype: torch.dtype,
    ) -> tuple[Tensor, Tensor, Tensor]:
        from rnnlab.cells.triton import kernels as k

        T, B, _ = x.shape
        H = w_hh.shape[1]
        state_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        xw = input_product(x.to(op_dtype), w_ih.to(op_dtype), (b_ih + b_hh).to(op_dtype)).to(state_dtype).contiguous()
        whh = w_hh.to(op_dtype).contiguous()
        hs = torch.empty(T + 1, B, H, device=x.device, dtype=state_dtype)
        cs = torch.empty_like(hs)
        hs[0], cs[0] = h0, c0
        acts = torch.empty_like(xw)
        cfg = _launch(B, H, op_dtype)
        k.lstm_forward[cfg["grid"]](xw, whh, hs, cs, acts, T, B, H, **cfg["meta"])
        ctx.save_for_backward(x, w_ih, whh, acts, hs, cs)
        ctx.cfg = cfg
        return hs[1:], hs[T].clone(), cs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor, dc_T: Tensor) -> tuple[Tensor | None, ...]:
        from rnnlab.cells.triton import kernels as k

        x, w_ih, whh, acts, hs, cs = ctx.saved_tensors
        T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dgates = torch.empty_like(acts)
        dc = dc_T.to(hs.dtype).contiguous().clone()
        k.lstm_backward[ctx.cfg["grid"]](
            dout.to(hs.dtype).contiguous(),
            dh_T.to(hs.dtype).contiguous(),
            whh,
            acts,
            cs,
            dgates,
            dc,
            T,
            B,
            H,
            **ctx.cfg["meta"],
        )
        dh0 = dgates[0] @ whh.to(hs.dtype)
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dgates, dgates, x.to(hs.dtype), hs, w_ih.to(hs.dtype))
        cast = _caster(x.dtype)
        return cast(dx), cast(dh0), cast(dc), cast(dw_ih), cast(dw_hh), cast(db_ih), cast(db_hh), None


class TritonGRU(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: Tensor, h0: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, op_dtype: torch.dtype
    ) -> tuple[Tensor, Tensor]:
        from rnnlab.cells.triton import kernels as k

        T, B, _ = x.shape
        H = w_hh.shape[1]
        state_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        xw = input_product(x.to(op_dtype), w_ih.to(op_dtype), b_ih.to(op_dtype)).to(state_dtype).contiguous()
        whh = w_hh.to(op_dtype).contiguous()
        hs = torch.empty(T + 1, B, H, device=x.device, dtype=state_dtype)
        hs[0] = h0
        gates = torch.empty_like(xw)
        hwn = torch.empty(T, B, H, device=x.device, dtype=state_dtype)
        cfg = _launch(B, H, op_dtype)
        k.gru_forward[cfg["grid"]](xw, whh, b_hh.to(state_dtype).contiguous(), hs, gates, hwn, T, B, H, **cfg["meta"])
        ctx.save_for_backward(x, w_ih, whh, gates, hwn, hs)
        ctx.cfg = cfg
        return hs[1:], hs[T].clone()

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dh_T: Tensor) -> tuple[Tensor | None, ...]:
        from rnnlab.cells.triton import kernels as k

        x, w_ih, whh, gates, hwn, hs = ctx.saved_tensors
        T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dpre_x, dpre_h = torch.empty_like(gates), torch.empty_like(gates)
        carry = dh_T.to(hs.dtype).contiguous().clone()
        k.gru_backward[ctx.cfg["grid"]](
            dout.to(hs.dtype).contiguous(), carry, whh, hs, gates, hwn, dpre_x, dpre_h, T, B, H, **ctx.cfg["meta"]
        )
        dh0 = carry + dpre_h[0] @ whh.to(hs.dtype)
        dx, dw_ih, dw_hh, db_ih, db_hh = param_grads(ctx, dpre_x, dpre_h, x.to(hs.dtype), hs, w_ih.to(hs.dtype))
        cast = _caster(x.dtype)
        return cast(dx), cast(dh0), cast(dw_ih), cast(dw_hh), cast(db_ih), cast(db_hh), None


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
) -> tuple[Tensor, Tensor, Tensor | None]:
    if cell not in CELLS:
        raise UserError(
            f"--engine triton implements {' and '.join(CELLS)}; use --engine bptt or cudnn for --cell {cell}"
        )
    if lengths is not None:
        raise UserError("--engine triton takes full-length sequences only; use --engine cudnn for --lengths random")
    op_dtype = torch.bfloat16 if x.dtype == torch.bfloat16 or _bf16_autocast(x.device.type) else x.dtype
    if reverse:
        x = x.flip(0)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if cell == "lstm":
            out, h_n, c_n = TritonLSTM.apply(x, h.to(x.dtype), c.to(x.dtype), *p, op_dtype)
        else:
            (out, h_n), c_n = TritonGRU.apply(x, h.to(x.dtype), *p, op_dtype), None
    out = out.to(x.dtype)
    return (out.flip(0) if reverse else out), h_n.to(x.dtype), None if c_n is None else c_n.to(x.dtype)
