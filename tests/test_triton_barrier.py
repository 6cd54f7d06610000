"""The persistent kernels' one-launch path, run on a CPU: every program a thread (tests/triton_threads.py), the grid
barrier between steps waiting for real.

This is the code a GPU runs under a cooperative launch: ``t0 = first``, ``steps = T``, the backward walking down,
each step's target of arrivals, a program's loop over its batch tiles. It must match float64; removing the wait
must break it (the negative control); a missing arrival must end as a hang the harness reports, and with a small
spin limit as the barrier's own error, never as a launch that does not end.
"""

import dataclasses

import pytest
import torch

from rnnlab.cells import available_engines
from rnnlab.config import ModelConfig
from rnnlab.lab.compare_cells import engine_results
from rnnlab.model.classifier import build_model

pytestmark = [
    pytest.mark.slow,  # Triton's interpreter, a thread per program
    pytest.mark.skipif(
        available_engines("cpu")["triton"] is not None,
        reason=f"runs the kernels under Triton's interpreter on CPU: {available_engines('cpu')['triton']}",
    ),
]
F64 = {"atol": 1e-12, "rtol": 1e-10}
T, B, H = 4, 37, 40  # three unit programs (the last partial), three batch tiles (the last partial)


def _persistent(monkeypatch, rows: int = 16, spin_limit: int | None = None) -> None:
    """The engine runs the persistent launch (one per sequence, barrier on) where it would run the interpreted one."""
    from rnnlab.cells.triton import engine

    planned = engine._plan

    def persistent(cell, batch, hidden, dtype, device):
        p = planned(cell, batch, hidden, dtype, device)
        changes = {"variant": "persistent", "grid_sync": True, "rows": rows, "grid": (p.grid[0], -(-batch // rows))}
        return dataclasses.replace(p, **changes, **({} if spin_limit is None else {"spin_limit": spin_limit}))

    monkeypatch.setattr(engine, "_plan", persistent)


def _plant(monkeypatch, step_done) -> None:
    from rnnlab.cells.triton import gru_kernels, lstm_kernels

    monkeypatch.setattr(lstm_kernels, "step_done", step_done)
    monkeypatch.setattr(gru_kernels, "step_done", step_done)


def _case(cell: str):
    cfg = ModelConfig(cell=cell, input_size=4, hidden=(H,), layers=1, dropout=0.0)
    model = build_model(cfg, engine="triton", layout="time", seed=0)
    x = torch.randn(T, B, 4, generator=torch.Generator().manual_seed(3))
    return model, x, engine_results(model, "unrolled", x, torch.float64)


def _matches(got: dict, ref: dict) -> bool:
    return all(torch.allclose(got[k].double(), ref[k], **F64) for k in ref)


@pytest.mark.parametrize("rows", [16, 32])  # one batch tile per program; two, looped inside each program
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_one_launch_path_matches_float64_with_every_program_at_once(cell, rows, monkeypatch) -> None:
    from triton_threads import programs_as_threads

    _persistent(monkeypatch, rows)
    model, x, ref = _case(cell)
    with programs_as_threads(timeout=300, seed=rows):
        got = engine_results(model, "triton", x, torch.float64)  # forward and backward, each one launch
    for key in ref:
        torch.testing.assert_close(got[key].double(), ref[key], **F64, msg=lambda m, key=key: f"{cell} {key}: {m}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_without_the_wait_the_programs_race_and_the_numbers_are_wrong(cell, monkeypatch) -> None:
    """The negative control: the same launch with the barrier's wait taken out (arrivals only)."""
    from triton_planted import arrive_only
    from triton_threads import programs_as_threads

    _persistent(monkeypatch)
    _plant(monkeypatch, arrive_only)
    model, x, ref = _case(cell)
    for seed in (7, 8, 9):  # a race shows only where the threads interleave: on a loaded machine one draw may not
        with programs_as_threads(timeout=300, seed=seed, yields=0.5):
            got = engine_results(model, "triton", x, torch.float64)
        if not _matches(got, ref):
            return
    raise AssertionError(f"{cell}: three launches without the wait all matched float64; the control shows nothing")


def test_a_missing_arrival_hangs_where_the_spin_is_unbounded(monkeypatch) -> None:
    """With the spin limit far away, the launch does not end: the harness's own timeout says so (and stops it)."""
    from triton_planted import one_arrival_short
    from triton_threads import ProgramsHung, programs_as_threads

    _persistent(monkeypatch)
    _plant(monkeypatch, one_arrival_short)
    model, x, _ = _case("lstm")
    with programs_as_threads(timeout=20), pytest.raises(ProgramsHung, match="still running after 20 s"):
        model(x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the steps run out past the give-up compute garbage
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_missing_arrival_ends_in_the_barriers_error_not_a_hang(cell, monkeypatch) -> None:
    """With a bounded spin the same launch ends by itself: every program runs out its steps, and the host raises
    one line naming the kernel."""
    from triton_planted import one_arrival_short
    from triton_threads import programs_as_threads

    from rnnlab.cells.triton.launch import BarrierTimeout

    _persistent(monkeypatch, spin_limit=50)
    _plant(monkeypatch, one_arrival_short)
    model, x, _ = _case(cell)
    with programs_as_threads(timeout=300), pytest.raises(BarrierTimeout) as caught:
        model(x)
    message = str(caught.value)
    assert f"{cell}_forward gave up at its grid barrier after 50 polls" in message and "\n" not in message
