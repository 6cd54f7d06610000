"""Every registered engine against the float64 reference, through the registry (a new engine is tested on the
day it is registered): outputs, final states, and the gradients of the input and of every parameter."""

import itertools
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rnnlab.cells import ENGINES, Engine, available_engines, bptt, get_engine, reference, register
from rnnlab.config import ModelConfig
from rnnlab.errors import UserError
from rnnlab.lab.compare_cells import engine_results, max_abs_diffs
from rnnlab.model.classifier import build_model

CPU_ENGINES = [name for name, why in available_engines("cpu").items() if why is None]
STACKS = {"1 layer": ((7,), 1), "2 layers": ((7,), 2), "per-layer sizes": ((5, 9), 2)}
# float32 against float64: rounding lands near 1e-6 here; a swapped gate or a shifted step is off by > 1e-2.
F32 = {"atol": 2e-5, "rtol": 1e-4}


def _model(cell: str, stack: str, bidirectional: bool, layout: str, seed: int = 0):
    hidden, layers = STACKS[stack]
    cfg = ModelConfig(
        cell=cell, input_size=4, hidden=hidden, layers=layers, dropout=0.0, bidirectional=bidirectional, readout="state"
    )
    return build_model(cfg, layout=layout, seed=seed)


def _check(model, engine: str, x, dtype=torch.float32, tol: dict | None = None, ref_engine: str = "unrolled") -> None:
    ref = engine_results(model, ref_engine, x, torch.float64)
    got = engine_results(model, engine, x, dtype)
    tol = tol or F32
    for key in ref:
        diff = (got[key].double() - ref[key]).abs()
        torch.testing.assert_close(
            got[key].double(),
            ref[key],
            **tol,
            msg=lambda m, key=key, diff=diff: (
                f"{engine} {key}: max |diff| {diff.max():.3e}, mean {diff.mean():.3e}\n{m}"
            ),
        )


def _supported(*dims):
    """(engine, cell, ...) combinations, keeping only the cells each engine implements."""
    return [(e, c, *rest) for e, c, *rest in itertools.product(CPU_ENGINES, *dims) if c in ENGINES[e].cells]


@pytest.mark.parametrize(
    ("engine", "cell", "layout", "stack", "bidirectional"),
    _supported(("lstm", "gru", "rnn"), ("batch", "time"), STACKS, (False, True)),
)
def test_engine_matches_float64_reference(engine, cell, layout, stack, bidirectional) -> None:
    model = _model(cell, stack, bidirectional, layout)
    T, B = 6, 3
    x = torch.randn((B, T, 4) if layout == "batch" else (T, B, 4), generator=torch.Generator().manual_seed(5))
    _check(model, engine, x)


@pytest.mark.parametrize(("engine", "cell"), _supported(("lstm", "gru", "rnn")))
def test_engine_in_float64_matches_to_rounding(engine, cell) -> None:
    model = _model(cell, "per-layer sizes", True, "time")
    x = torch.randn(9, 2, 4, generator=torch.Generator().manual_seed(1))
    _check(model, engine, x, torch.float64, {"atol": 1e-12, "rtol": 1e-10})


@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_engine_handles_batch_of_one_and_long_sequences(engine) -> None:
    model = _model("lstm", "1 layer", False, "time")
    _check(model, engine, torch.randn(60, 1, 4, generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize(("cell", "torch_cell"), [("lstm", nn.LSTMCell), ("gru", nn.GRUCell), ("rnn", nn.RNNCell)])
def test_reference_steps_match_pytorch_cells(cell, torch_cell) -> None:
    """The ground truth itself, against PyTorch's documented cells, in float64."""
    torch.manual_seed(0)
    ref_cell = torch_cell(3, 5).double()
    x, h, c = torch.randn(4, 3).double(), torch.randn(4, 5).double(), torch.randn(4, 5).double()
    xw = x @ ref_cell.weight_ih.t() + ref_cell.bias_ih
    if cell == "lstm":
        got = reference.lstm_step(xw, h, c, ref_cell.weight_hh, ref_cell.bias_hh)
        expect = ref_cell(x, (h, c))
        torch.testing.assert_close(got[0], expect[0], atol=1e-14, rtol=0)
        torch.testing.assert_close(got[1], expect[1], atol=1e-14, rtol=0)
    else:
        step = reference.gru_step if cell == "gru" else reference.rnn_step
        torch.testing.assert_close(
            step(xw, h, ref_cell.weight_hh, ref_cell.bias_hh), ref_cell(x, h), atol=1e-14, rtol=0
        )


@pytest.mark.parametrize(
    ("name", "fn", "shapes"),
    [
        ("lstm", bptt.lstm, [(5, 3, 4), (3, 2), (3, 2), (8, 4), (8, 2), (8,), (8,)]),
        ("gru", bptt.gru, [(5, 3, 4), (3, 2), (6, 4), (6, 2), (6,), (6,)]),
        ("rnn", bptt.rnn, [(5, 3, 4), (3, 2), (2, 4), (2, 2), (2,), (2,)]),
    ],
)
@pytest.mark.parametrize("masks", ["none", "lengths", "zoneout", "dropout", "all"])
def test_bptt_passes_gradcheck(name, fn, shapes, masks) -> None:
    """Each cell's op (rnnlab::bptt_<cell>: its backward, the one written by hand) against finite differences, with
    padding, zoneout's shares (any in [0, 1], not only its 0/1 draws) and a recurrent dropout mask."""
    g = torch.Generator().manual_seed(3)
    inputs = tuple(torch.randn(s, dtype=torch.float64, generator=g, requires_grad=True) for s in shapes)
    T, B = shapes[0][:2]
    H = shapes[1][1]
    lengths = torch.tensor([5, 2, 1])  # full, short, one step
    valid = (torch.arange(T).unsqueeze(1) < lengths).double().unsqueeze(2) if masks in ("lengths", "all") else None
    zone = torch.rand(T, B, H, dtype=torch.float64, generator=g) if masks in ("zoneout", "all") else None
    keep = zone if valid is None else (1 - valid if zone is None else 1 - valid * (1 - zone))
    drop = torch.rand(B, H, dtype=torch.float64, generator=g) * 2 if masks in ("dropout", "all") else None
    keep_c = None if keep is None else keep.flip(2)  # an LSTM's c has a share of its own: here another one
    extra = (valid, keep, keep_c, drop) if name == "lstm" else (valid, keep, drop)
    assert torch.autograd.gradcheck(lambda *a: fn(*a, *extra), inputs, eps=1e-6, atol=1e-7, rtol=1e-5), name


# ---- the tolerances above catch real bugs: plant one and see it fail ------------------------------------------


def _swapped_lstm_step(xw, h, c, w_hh, b_hh, drop=None):
    i, f, g, o = (xw + h @ w_hh.t() + b_hh).chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(f), torch.sigmoid(i), torch.tanh(g), torch.sigmoid(o)  # i and f swapped
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def _shifted_engine(layer, x, state, lengths, masks=None):
    out, new_state = ENGINES["bptt"].run(layer, x, state, lengths, masks)
    return torch.cat((out[:1], out[:-1])), new_state  # outputs one step late


def test_a_swapped_gate_is_caught(monkeypatch) -> None:
    model = _model("lstm", "1 layer", False, "time")
    x = torch.randn(6, 3, 4, generator=torch.Generator().manual_seed(5))
    monkeypatch.setattr(reference, "lstm_step", _swapped_lstm_step)  # the unrolled engine now has the bug
    with pytest.raises(AssertionError, match="unrolled output"):
        _check(model, "unrolled", x, ref_engine="cudnn")


def test_an_off_by_one_time_step_is_caught() -> None:
    register(Engine("shifted-test-only", SimpleNamespace(run_layer=_shifted_engine)))
    try:
        model = _model("gru", "2 layers", False, "time")
        x = torch.randn(6, 3, 4, generator=torch.Generator().manual_seed(5))
        with pytest.raises(AssertionError, match="shifted-test-only"):
            _check(model, "shifted-test-only", x)
    finally:
        del ENGINES["shifted-test-only"]


def test_max_abs_diffs_reports_outputs_and_gradients_separately() -> None:
    ref = {"output": torch.zeros(3), "state": torch.zeros(2), "grad:x": torch.zeros(2), "grad:w": torch.zeros(2)}
    got = {**ref, "output": torch.tensor([0.0, 0.5, 0.0]), "grad:w": torch.tensor([0.0, -0.25])}
    assert max_abs_diffs(got, ref) == (0.5, 0.25)


def test_unknown_or_unavailable_engine_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown engine 'warp'"):
        get_engine("warp")
    register(
        Engine(
            "gpu-only-test",
            SimpleNamespace(
                run_layer=_shifted_engine, unavailable=lambda d: None if d.type == "cuda" else "needs CUDA"
            ),
        )
    )
    try:
        with pytest.raises(UserError, match="cannot run on cpu: needs CUDA"):
            get_engine("gpu-only-test", "cpu")
    finally:
        del ENGINES["gpu-only-test"]


# ---- variable-length sequences -----------------------------------------------------------------------------------

LENGTH_ENGINES = [e for e in CPU_ENGINES if e != "triton"]  # triton takes full-length sequences only (a UserError)


@pytest.mark.parametrize(
    ("engine", "cell", "bidirectional", "readout"),
    [(e, c, b, r) for e, c, b, r in itertools.product(LENGTH_ENGINES, ("lstm", "gru", "rnn"), (False, True),
                                                       ("last", "state", "mean")) if c in ENGINES[e].cells],
)  # fmt: skip
def test_variable_lengths_match_across_engines(engine, cell, bidirectional, readout) -> None:
    """cudnn packs the batch (pack_padded_sequence), the others mask: outputs, states and gradients agree."""
    cfg = ModelConfig(cell=cell, input_size=4, hidden=(5, 6), layers=2, dropout=0.0, bidirectional=bidirectional,
                      readout=readout)  # fmt: skip
    model = build_model(cfg, layout="batch", seed=0)
    lengths = torch.tensor([7, 3, 1, 5])
    x = torch.randn(4, 7, 4, generator=torch.Generator().manual_seed(3))
    ref = engine_results(model, "unrolled", x, torch.float64, lengths)
    got = engine_results(model, engine, x, torch.float32, lengths)
    packed = engine_results(model, "cudnn", x, torch.float64, lengths)
    for key in ref:
        torch.testing.assert_close(got[key].double(), ref[key], **F32, msg=lambda m, key=key: f"{engine} {key}: {m}")
        torch.testing.assert_close(
            packed[key], ref[key], atol=1e-12, rtol=1e-10, msg=lambda m, key=key: f"cudnn {key}: {m}"
        )


@pytest.mark.parametrize("engine", LENGTH_ENGINES)
def test_what_lies_past_a_sequence_end_changes_nothing(engine) -> None:
    cfg = ModelConfig(cell="lstm", input_size=3, hidden=(4,), layers=1, dropout=0.0, bidirectional=True)
    model = build_model(cfg, engine=engine, layout="batch", seed=0)
    lengths = torch.tensor([2, 5])
    x = torch.randn(2, 5, 3)
    noisy = x.clone()
    noisy[0, 2:] = 100.0  # garbage after sample 0's end
    torch.testing.assert_close(model(noisy, lengths), model(x, lengths), atol=1e-6, rtol=0)
    torch.testing.assert_close(
        model(x[:1, :2], None), model(x, lengths)[:1], atol=1e-6, rtol=1e-5
    )  # = the short sequence alone


@pytest.mark.parametrize("engine", list(ENGINES))
def test_each_engine_documents_every_shape_with_an_example_that_runs(engine) -> None:
    """The public function of every registered engine says each argument's shape and carries an example; the
    example runs here, so it cannot go stale."""
    import doctest

    module = ENGINES[engine].module()
    public = getattr(module, "run_layer", None) or module.direction
    assert public.__doc__ and "(T, B, I)" in public.__doc__ and "(B,)" in public.__doc__ and ">>>" in public.__doc__
    tests = [t for t in doctest.DocTestFinder().find(public, public.__name__, globs={}) if t.examples]
    assert tests, f"{engine}: no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_an_engine_that_cannot_run_under_bf16_autocast_says_so_before_training(tmp_path) -> None:
    """oneDNN's LSTM has no bf16 primitive on some CPUs: `train --bf16` is one line naming the flag, not a traceback
    after the data has loaded; where the primitive exists it trains."""
    from typer.testing import CliRunner

    from rnnlab.cli import app

    def refuse(layer, x, state, lengths, masks=None):
        raise RuntimeError("could not create a primitive descriptor for the LSTM forward propagation primitive. Run")

    no_bf16 = Engine("no-bf16", SimpleNamespace(run_layer=refuse))
    with pytest.raises(
        UserError,
        match=r"^--bf16: --engine no-bf16 cannot run lstm under bf16 autocast on cpu here "
        r"\(could not create a primitive descriptor for the LSTM forward propagation primitive\)",
    ):
        no_bf16.check_bf16("lstm", torch.device("cpu"))
    ENGINES["bptt"].check_bf16("gru", torch.device("cpu"))  # computes in float32 under autocast: fine anywhere
    args = ["train", "--dataset", "digits", "--bf16", "--epochs", "1", "--train-subset", "64", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    if result.exit_code == 2:  # this CPU's oneDNN: the one line, and nothing written
        assert result.stderr.startswith("rnnlab: error: --bf16: --engine cudnn cannot run lstm") and not any(
            tmp_path.iterdir()
        )
    else:
        assert result.exit_code == 0, result.output
