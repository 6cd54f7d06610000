"""rnnlab's engines as ``torch.library`` custom ops, so that ``torch.compile`` and ``torch.export`` see one direction of
a layer as one node of their graph instead of breaking it (dynamo cannot trace a Python loop of ``out=`` ops inside
an autograd.Function, nor a Triton launch).

``define`` turns an engine's forward and hand-written backward into two ops: ``rnnlab::<name>`` returns the engine's
outputs and then what its backward needs (the residuals, which are not differentiable), ``rnnlab::<name>_backward``
returns a gradient per differentiable input. Each has a fake implementation (the shapes and dtypes of what it returns)
for tracing, and autograd is registered so that the first op's backward is the second. No output aliases an input
or another output (torch.library's rule): a residual that is a view of another is passed as an empty placeholder
and the backward takes the view itself. Gradients that autograd leaves out (an output nobody used) arrive as None
and are taken as zeros here, as an autograd.Function would.
Legend: T time steps, B batch, H hidden units.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

NAMESPACE = "rnnlab"

# (*inputs) -> the visible outputs, then the residuals; a fake takes the same inputs and returns empty tensors of
# the shapes and dtypes the real one returns
Forward = Callable[..., tuple[Tensor, ...]]
# (grads of the visible outputs, inputs, residuals, need_dx) -> a gradient per differentiable input, dx None unless
# need_dx; the grads are never None here
Backward = Callable[[tuple[Tensor, ...], tuple[Any, ...], tuple[Tensor, ...], bool], tuple[Tensor | None, ...]]


def placeholder(like: Tensor) -> Tensor:
    """What an op returns in place of a residual it has not got (one that would alias another output)."""
    return like.new_empty(0)


def define(
    name: str,
    params: Sequence[str],  # the forward's arguments as a schema writes them: "Tensor x", "Tensor? valid", ...
    differentiable: int,  # the first ones take gradients (x first)
    outputs: tuple[int, int],  # (visible, residuals): the engine's outputs, then what its backward keeps
    forward: Forward,
    fake: Forward,
    backward: Backward,
) -> Callable[..., tuple[Tensor, ...]]:
    """Register ``rnnlab::<name>`` and ``rnnlab::<name>_backward``; returns a function of the forward's inputs that
    gives the visible outputs, differentiable through the backward op."""
    visible, residuals = outputs
    n_in = len(params)
    _register(name, f"({', '.join(params)}) -> ({_tensors(visible + residuals)})", forward, fake)
    grads = [f"Tensor? grad_{i}" for i in range(visible)]
    saved = [f"Tensor saved_{i}" for i in range(residuals)]
    bwd_schema = f"({', '.join([*grads, *params, *saved, 'bool need_dx'])}) -> ({_tensors(differentiable)})"

    def split(args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Tensor, ...], bool]:
        return args[:visible], args[visible : visible + n_in], args[visible + n_in : -1], bool(args[-1])

    def backward_impl(*args: Any) -> tuple[Tensor, ...]:
        given, inputs, kept, need_dx = split(args)
        if any(g is None for g in given):  # an output nobody used: its gradient is zero
            like = fake(*inputs)
            given = tuple(torch.zeros_like(like[i]) if g is None else g for i, g in enumerate(given))
        result = backward(given, inputs, kept, need_dx)
        return tuple(
            placeholder(inputs[0]) if g is None else g.to(inputs[i].dtype).contiguous() for i, g in enumerate(result)
        )  # each gradient in its input's dtype (what autograd would cast it to), laid out as the fake says

    def backward_fake(*args: Any) -> tuple[Tensor, ...]:
        _, inputs, _, need_dx = split(args)
        grads = tuple(t.new_empty(t.shape) for t in inputs[:differentiable])
        return grads if need_dx else (placeholder(inputs[0]), *grads[1:])

    _register(f"{name}_backward", bwd_schema, backward_impl, backward_fake)
    bwd_op = getattr(getattr(torch.ops, NAMESPACE), f"{name}_backward").default

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        ctx.set_materialize_grads(False)  # residuals have no gradient: no zeros made for them
        ctx.mark_non_differentiable(*output[visible:])
        ctx.constants = tuple(None if a is None or isinstance(a, Tensor) else a for a in inputs)
        ctx.save_for_backward(*(a if isinstance(a, Tensor) else None for a in inputs), *output[visible:])

    def autograd_backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors
        inputs = tuple(c if s is None else s for s, c in zip(saved[:n_in], ctx.constants))
        need = ctx.needs_input_grad
        result = bwd_op(*grads[:visible], *inputs, *saved[n_in:], bool(need[0]))
        return (*(g if need[i] else None for i, g in enumerate(result)), *([None] * (n_in - differentiable)))

    torch.library.register_autograd(f"{NAMESPACE}::{name}", autograd_backward, setup_context=setup_context, lib=_LIB)
    op = getattr(getattr(torch.ops, NAMESPACE), name).default

    def call(*inputs: Any) -> tuple[Tensor, ...]:
        return tuple(op(*inputs)[:visible])

    return call


# The ops are defined with the library's own calls rather than torch.library.custom_op, whose implementations
# import dynamo on their first run (seconds, in every process that runs an engine once)
_LIB = torch.library.Library(NAMESPACE, "FRAGMENT")


def _register(name: str, schema: str, impl: Callable[..., Any], fake: Callable[..., Any]) -> None:
    _LIB.define(name + schema)
    _LIB.impl(name, impl, "CompositeExplicitAutograd")
    torch.library.register_fake(f"{NAMESPACE}::{name}", fake, lib=_LIB)


def _tensors(n: int) -> str:
    return ", ".join(["Tensor"] * n)


def _allow_rnn() -> Any:
    """``ALLOW_RNN``: a context that sets dynamo's ``allow_rnn`` while dynamo traces the block it holds, and only
    then (dynamo enters it in its trace, under its compile lock; run eagerly, it would set the process-wide flag,
    so it is entered only where ``torch.compiler.is_dynamo_compiling()``). Made on the first read, which dynamo
    does eagerly while tracing, so that importing this module never costs dynamo's import. None where this torch
    has no traceable config patch (an older one): there dynamo breaks at each nn.LSTM module (same numbers)."""
    try:  # dynamo's own, not public: the class it recognises as a config patch it may enter in a trace
        import torch._dynamo
        from torch._dynamo.decorators import DynamoConfigPatchProxy
    except ImportError:
        return None
    return DynamoConfigPatchProxy(torch._dynamo.config.patch(allow_rnn=True))


if TYPE_CHECKING:
    ALLOW_RNN: Any  # _allow_rnn(), made on the first read
else:

    def __getattr__(name: str) -> Any:  # out of the type checker's sight: other names stay errors to it
        if name != "ALLOW_RNN":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value = _allow_rnn()
        return value


class UntracedFrame:
    """A method whose own frame dynamo never traces while the frames it calls are traced as usual (what
    ``torch.compiler.disable(recursive=False)`` does, except that torch.export refuses that one). Registered with
    dynamo on the first lookup after dynamo is loaded, e.g. ``torch.compile(model)`` reading ``model.__call__``,
    so that importing the model never costs dynamo's import (seconds)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.registered = False

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if not self.registered and "torch._dynamo" in sys.modules:
            self.registered = True
            try:  # dynamo's own, not public: where a torch lacks it, the frame is traced (a graph break, same numbers)
                from torch._dynamo.eval_frame import skip_code
            except ImportError:
                return self.fn.__get__(obj, owner)
            skip_code(self.fn.__code__)
        return self.fn.__get__(obj, owner)
