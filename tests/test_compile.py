"""The engines as torch.library custom ops: torch.compile of a model running bptt (or triton, under Triton's
interpreter on CPU), or of a caller around it, is one graph with no break and computes eager's numbers, and an eager
call leaves dynamo's config alone; opcheck passes on every op; torch.export of a bptt model with a dynamic batch
runs; and the checks bite (a wrong fake, cudnn's nn.LSTM breaking the graph)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnlab.cells import available_engines, bptt
from rnnlab.cells.ops import define
from rnnlab.config import ModelConfig
from rnnlab.model.classifier import build_model

TRITON_REASON = available_engines("cpu")["triton"]  # also sets TRITON_INTERPRET before anything imports triton
ROOT = Path(__file__).resolve().parents[1]
REGULARISED = {"zoneout": 0.3, "recurrent_dropout": 0.4, "weight_drop": 0.25}


def _model(cell: str, engine: str = "bptt", hidden: tuple[int, ...] = (8, 6), **rates: float):
    cfg = ModelConfig(cell=cell, input_size=4, hidden=hidden, layers=len(hidden), dropout=0.0, bidirectional=True,
                      readout="last", **rates)  # fmt: skip
    return build_model(cfg, engine=engine, seed=0)


def _step(call, model, x, lengths=None, seed: int = 0) -> dict[str, torch.Tensor]:
    """Logits and every parameter's gradient of one forward and backward through ``call`` (the model, compiled or
    not); the seed makes a training forward draw the same masks."""
    model.zero_grad()
    torch.manual_seed(seed)
    logits = call(x, lengths)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    (logits * weights).sum().backward()
    return {"logits": logits.detach(), **{k: p.grad.clone() for k, p in model.named_parameters()}}


def _compiled(model):
    """``torch.compile(model)`` (a module or a function) on a backend that keeps each graph dynamo hands it (then
    runs it through AOT autograd, as the default backend does, with eager kernels), and the list of those graphs."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    graphs: list[torch.fx.GraphModule] = []
    aot_eager = torch._dynamo.lookup_backend("aot_eager")

    def keep(gm, example_inputs):
        graphs.append(gm)
        return aot_eager(gm, example_inputs)

    return torch.compile(model, backend=keep), graphs, counters


def _ops(gm) -> set[str]:
    return {str(n.target) for n in gm.graph.nodes if n.op == "call_function" and "rnnlab" in str(n.target)}


def _assert_same(got: dict, want: dict, **tol) -> None:
    for key in want:
        torch.testing.assert_close(got[key], want[key], **tol, msg=lambda m, key=key: f"{key}: {m}")


@pytest.mark.parametrize(("cell", "rates"), [("lstm", {}), ("gru", {}), ("rnn", {}), ("lstm", REGULARISED)])
def test_a_compiled_bptt_model_is_one_graph_with_the_numbers_of_eager(cell, rates) -> None:
    """Two layers, both directions, padded sequences (and, in training, every recurrent regulariser's masks drawn
    inside the graph): one graph, no break, the ops in it, and eager's logits and gradients exactly."""
    model = _model(cell, **rates).train()
    x, lengths = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2)), torch.tensor([6, 3, 1])
    eager = _step(model, model, x, lengths)
    compiled, graphs, counters = _compiled(model)
    got = _step(compiled, model, x, lengths)
    assert len(graphs) == 1 and not counters["graph_break"], (len(graphs), dict(counters["graph_break"]))
    assert _ops(graphs[0]) == {f"rnnlab.bptt_{cell}.default"}
    _assert_same(got, eager, rtol=0, atol=0)
    assert not torch._dynamo.config.allow_rnn  # set for the trace alone
    _step(compiled, model, torch.randn(3, 6, 4), lengths)  # the same shapes again: no second graph
    assert len(graphs) == 1


@pytest.mark.parametrize("around", ["sequential", "step"])
def test_a_compiled_caller_around_a_bptt_model_is_one_graph_with_the_numbers_of_eager(around) -> None:
    """Not the model compiled but what calls it: nn.Sequential(model, a Linear), or a step function that adds its
    loss. The model's own call is traced inside the caller's frame, and the nn.LSTM modules are still held: one
    graph, no break, the ops in it, eager's numbers exactly."""
    model = _model("lstm")
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 3, 9])
    if around == "sequential":
        call = torch.nn.Sequential(model, torch.nn.Linear(10, 3))
        for p in call[1].parameters():
            p.requires_grad_(False)
    else:

        def call(x, lengths=None):
            return torch.nn.functional.cross_entropy(model(x, lengths), target, reduction="none").unsqueeze(1)

    eager = _step(lambda x, lengths: call(x), model, x)
    compiled, graphs, counters = _compiled(call)
    got = _step(lambda x, lengths: compiled(x), model, x)
    assert len(graphs) == 1 and not counters["graph_break"], (len(graphs), dict(counters["graph_break"]))
    assert _ops(graphs[0]) == {"rnnlab.bptt_lstm.default"}
    _assert_same(got, eager, rtol=0, atol=0)
    assert not torch._dynamo.config.allow_rnn  # set for the trace alone


def test_an_eager_call_leaves_dynamo_config_alone() -> None:
    """allow_rnn is set only inside dynamo's trace (the compile tests above leave it off, each checks): an eager
    forward with dynamo loaded runs with the flag as the process has it, so threads cannot leave it set."""
    import torch._dynamo

    model = _model("lstm")
    seen: list[bool] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(torch._dynamo.config.allow_rnn))
    model(torch.randn(3, 6, 4))
    assert seen == [False]


@pytest.mark.slow
def test_the_default_backend_compiles_a_bptt_train_step_to_eager_numbers() -> None:
    """Inductor (C++ on CPU) around the ops: the same logits and gradients to float32 rounding, one graph."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    model = _model("lstm")
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    eager = _step(model, model, x)
    torch._dynamo.reset()
    counters.clear()
    got = _step(torch.compile(model), model, x)
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"], dict(counters["graph_break"])
    _assert_same(got, eager)


def test_cudnn_under_compile_breaks_at_nn_lstm_and_runs_eagerly() -> None:
    """The contrast, and proof that the break counter above bites: dynamo will not hold an nn.LSTM it would run
    (cudnn calls the module), so the model's forward falls back to eager: no graph of it, and eager's numbers."""
    model = _model("lstm", engine="cudnn")
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    eager = _step(model, model, x)
    compiled, graphs, counters = _compiled(model)
    got = _step(compiled, model, x)
    assert any("LSTM" in reason for reason in counters["graph_break"]), dict(counters["graph_break"])
    assert not any(_ops(g) for g in graphs)
    _assert_same(got, eager, rtol=0, atol=0)


def test_without_allow_rnn_for_its_trace_a_bptt_model_breaks_too(monkeypatch) -> None:
    """What the model's call does for bptt, taken away: dynamo meets the nn.LSTM modules that hold the parameters
    and breaks there, as for cudnn (so the one-graph test above depends on it, and its counter would catch a loss)."""
    import contextlib

    from rnnlab.cells import Engine

    monkeypatch.setattr(Engine, "compilable", lambda self: contextlib.nullcontext())
    model = _model("lstm")
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    compiled, graphs, counters = _compiled(model)
    _step(compiled, model, x)
    assert any("LSTM" in reason for reason in counters["graph_break"]), dict(counters["graph_break"])


_MASKS = ["none", "all"]


@pytest.mark.parametrize("masks", _MASKS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_opcheck_passes_for_every_bptt_op(cell, masks) -> None:
    """torch.library.opcheck: the schema (no mutation, no aliasing), the autograd registration, the fake against
    the real outputs, and the ops under AOT autograd with dynamic shapes, backward op included."""
    T, B, n_in, H = 5, 3, 4, 2
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)

    state = (r(B, H), r(B, H)) if cell == "lstm" else (r(B, H),)
    weights = (r(G * H, n_in), r(G * H, H), r(G * H), r(G * H))
    valid = (torch.arange(T).unsqueeze(1) < torch.tensor([5, 2, 1])).double().unsqueeze(2)
    keep = torch.rand(T, B, H, dtype=torch.float64, generator=g)
    drop = torch.rand(B, H, dtype=torch.float64, generator=g) * 2
    extra = (valid, keep, keep.flip(2), drop) if cell == "lstm" else (valid, keep, drop)
    if masks == "none":
        extra = (None,) * len(extra)
    op = getattr(torch.ops.rnnlab, f"bptt_{cell}").default
    result = torch.library.opcheck(op, (r(T, B, n_in), *state, *weights, *extra))
    assert set(result.values()) == {"SUCCESS"}, result


def test_opcheck_catches_a_fake_of_the_wrong_shape() -> None:
    """A planted bug: the RNN's op again, its fake one step too long; opcheck must refuse it."""

    def wrong_fake(x, h0, w_ih, w_hh, *rest):
        out, *others = bptt._rnn_fake(x, h0, w_ih, w_hh, *rest)
        return (x.new_empty(out.shape[0] + 1, *out.shape[1:]), *others)

    params = [f"Tensor {n}" for n in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh")]
    params += ["Tensor? valid", "Tensor? keep_h", "Tensor? drop"]
    define("planted_test_rnn", params, 6, (2, 3), bptt.rnn_forward, wrong_fake, bptt.bptt_backward.rnn)
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(s, generator=g, requires_grad=True) for s in ((5, 3, 4), (3, 2), (2, 4), (2, 2), (2,), (2,))]
    with pytest.raises(Exception, match=r"test_faketensor failed.*Shapes"):
        torch.library.opcheck(torch.ops.rnnlab.planted_test_rnn.default, (*args, None, None, None))


@pytest.mark.parametrize("strict", [False, True])
def test_a_bptt_model_exports_with_a_dynamic_batch(strict) -> None:
    """torch.export (the model at evaluation: no masks drawn): the program holds the op, and runs any batch size to
    the model's own numbers."""
    model = _model("lstm").eval()
    batch = torch.export.Dim("batch", min=1)
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2))
    program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}}, strict=strict)
    assert _ops(program.graph_module) == {"rnnlab.bptt_lstm.default"}
    for n in (1, 5):
        x = torch.randn(n, 6, 4, generator=torch.Generator().manual_seed(n))
        torch.testing.assert_close(program.module()(x), model(x), rtol=0, atol=0)


@pytest.mark.skipif(TRITON_REASON is not None, reason=f"triton's interpreter does not run here: {TRITON_REASON}")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_compiled_triton_model_is_one_graph_with_the_numbers_of_eager(cell) -> None:
    """The triton engine's ops under compile (their kernels under Triton's interpreter here): one graph, no break,
    eager's numbers exactly."""
    model = _model(cell, engine="triton", hidden=(4,))
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2))
    eager = _step(model, model, x)
    compiled, graphs, counters = _compiled(model)
    got = _step(compiled, model, x)
    assert len(graphs) == 1 and not counters["graph_break"], (len(graphs), dict(counters["graph_break"]))
    assert _ops(graphs[0]) == {f"rnnlab.triton_{cell}.default"}
    _assert_same(got, eager, rtol=0, atol=0)


@pytest.mark.skipif(TRITON_REASON is not None, reason=f"triton's interpreter does not run here: {TRITON_REASON}")
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_each_triton_backward_launches_its_own_forwards_plan(cell, monkeypatch) -> None:
    """Two forwards of one shape on different launch plans (the second stepwise, as after a refused cooperative
    launch), then the first one's backward: the op hands each backward its own forward's plan, whatever ran since;
    and the gradients are the float64 module's."""
    import dataclasses

    from rnnlab.cells.common import layer_params
    from rnnlab.cells.triton import engine, launch

    planned, real_run = engine._plan, launch.run
    changes = iter([{}, {"variant": "stepwise", "resident": False, "block_k": 16, "num_stages": 2}])
    monkeypatch.setattr(engine, "_plan", lambda *shape: dataclasses.replace(planned(*shape), **next(changes)))
    ran: list[tuple[str, bool]] = []

    def recording(kernel, p, args, T, B, H, backward):
        ran.append((p.variant, backward))
        return real_run(kernel, p, args, T, B, H, backward)

    monkeypatch.setattr(launch, "run", recording)
    layer = getattr(torch.nn, cell.upper())(4, 5).double()
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(3, 2, 4, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(2)]
    h = torch.zeros(2, 5, dtype=torch.float64)
    outs = [engine.direction(cell, x, h, h if cell == "lstm" else None, layer_params(layer, 0), False, None)[0]
            for x in xs]  # fmt: skip
    assert ran == [("interpreted", False), ("stepwise", False)]
    for k, want in ((0, "interpreted"), (1, "stepwise")):
        ran.clear()
        (grad,) = torch.autograd.grad(outs[k].sum(), xs[k])
        assert ran == [(want, True)], (k, ran)
        (ref,) = torch.autograd.grad(layer(xs[k])[0].sum(), xs[k])
        torch.testing.assert_close(grad, ref, atol=1e-12, rtol=1e-10)


@pytest.mark.slow
def test_bench_compile_runs_at_toy_size(tmp_path: Path) -> None:
    """scripts/bench_compile.py --quick (on aot_eager, which compiles in a second): a row per engine, bptt one
    graph with no break."""
    out = tmp_path / "compile.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_compile.py"), "--quick", "--backend", "aot_eager", "--out",
         str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["engine"], r["shape"]) for r in rows} == {(e, s) for e in ("bptt", "cudnn") for s in ("toy",)}
    bptt_row = next(r for r in rows if r["engine"] == "bptt")
    assert bptt_row["graphs"] == 1 and bptt_row["graph_breaks"] == 0
    assert all(r["compile_s"] > 0 and r["eager_ms"] > 0 and r["compiled_ms"] > 0 for r in rows)
    assert "bptt" in done.stdout and "compiled / eager" in done.stdout
