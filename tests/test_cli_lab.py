"""compare-cells and gradcheck through the CLI: JSON on stdout, the default engines, Ctrl-C, a planted gradient bug."""

import json

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cells import bptt_backward
from rnnlab.cli import app
from rnnlab.lab import compare_cells

TINY = ["--hidden", "8", "--batch-size", "2", "--seq", "3", "--input-size", "4", "--repeats", "1", "--device", "cpu"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="the interpreted engine exists where CUDA is absent")


def strict_json(text: str) -> dict:
    """JSON as the standard has it: NaN and Infinity are refused, as JavaScript's and Go's parsers refuse them."""

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_compare_cells_json_is_one_object_on_stdout(tmp_path) -> None:
    saved = tmp_path / "new folder" / "rows.json"  # a folder that does not exist yet is made
    args = ["compare-cells", *TINY, "--engines", "cudnn,bptt", "--layout", "time", "--json", "--json-file", str(saved)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document = strict_json(result.stdout)
    assert [r["engine"] for r in document["rows"]] == ["cudnn", "bptt"]
    assert document["rows"][1]["max_abs_diff_output"] < 1e-5 and document["stopped"] is False
    assert json.loads(saved.read_text()) == document


@NO_CUDA
@pytest.mark.slow  # Triton's interpreter, about 7 s
def test_the_interpreted_engine_runs_only_when_named_and_says_so() -> None:
    default = CliRunner().invoke(app, ["compare-cells", *TINY, "--layout", "time", "--json"])
    assert default.exit_code == 0, default.output
    assert "triton" not in [r["engine"] for r in json.loads(default.stdout)["rows"]]
    named = CliRunner().invoke(app, ["compare-cells", *TINY, "--layout", "time", "--engines", "triton", "--json"])
    assert named.exit_code == 0, named.output
    (row,) = json.loads(named.stdout)["rows"]
    assert row["status"] == "ok" and "interpreted" in row["variant"]


def test_ctrl_c_keeps_the_rows_already_measured(tmp_path, monkeypatch) -> None:
    """Stopped while the engines take turns (in unrolled's first timed forward+backward, after two untimed ones):
    cudnn and bptt have each been timed once, and are kept with that one repeat."""
    real, calls = compare_cells._EngineRun.fwdbwd, []

    def interrupted(run):
        if run.name == "unrolled":
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
        return real(run)

    monkeypatch.setattr(compare_cells._EngineRun, "fwdbwd", interrupted)
    saved = tmp_path / "rows.json"
    args = ["compare-cells", *TINY, "--engines", "cudnn,bptt,unrolled", "--layout", "batch", "--json-file", str(saved)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines() == [
        "rnnlab: stopped: by SIGINT (Ctrl-C); the 2 rows measured before it are kept"
    ]
    assert "cudnn" in result.stdout and "bptt" in result.stdout  # the table of what was measured
    document = json.loads(saved.read_text())
    assert document["stopped"] is True and [r["engine"] for r in document["rows"]] == ["cudnn", "bptt"]
    assert [r["repeats"] for r in document["rows"]] == [1, 1]


def test_the_engines_are_timed_in_turns(monkeypatch) -> None:
    """Every repeat of every engine interleaved: cudnn, bptt, cudnn, bptt, ... (not cudnn's repeats in a block)."""
    order: list[str] = []
    real = compare_cells._EngineRun.fwdbwd

    def noted(run):
        order.append(run.name)
        return real(run)

    monkeypatch.setattr(compare_cells._EngineRun, "fwdbwd", noted)
    args = ["compare-cells", *TINY, "--engines", "cudnn,bptt", "--layout", "batch", "--repeats", "3", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    timed = order[4:]  # after each engine's two untimed calls (memory is measured on the CPU without this call)
    assert timed == ["cudnn", "bptt"] * 3
    for row in json.loads(result.stdout)["rows"]:
        low, high = row["fwdbwd_ms_spread"]
        assert low <= row["fwdbwd_ms"] <= high and row["repeats"] == 3


SMALL = ["--hidden", "2", "--layers", "1", "--no-bidirectional", "--seq", "3", "--batch-size", "2"]


def test_gradcheck_passes_for_a_correct_backward_and_prints_a_summary() -> None:
    result = CliRunner().invoke(app, ["gradcheck", "--cell", "rnn", *SMALL])
    assert result.exit_code == 0, result.output
    assert "rnn" in result.output and "passed" in result.output and "--verbose" in result.output
    verbose = CliRunner().invoke(app, ["gradcheck", "--cell", "rnn", *SMALL, "--verbose", "--json"])
    rows = strict_json(verbose.stdout)["rows"]
    assert {r["name"] for r in rows} >= {"gradcheck", "x", "rnns.0.weight_hh_l0"} and all(r["ok"] for r in rows)
    finite_differences = [r["max_abs_diff"] for r in rows if r["name"] == "gradcheck"]
    assert finite_differences and set(finite_differences) == {None}  # no one difference there: null, not NaN


def test_gradcheck_catches_a_planted_backward_bug(monkeypatch) -> None:
    real = bptt_backward.param_grads

    def off_by_a_little(*args):
        dx, dw_ih, dw_hh, db_ih, db_hh = real(*args)
        return dx, dw_ih, dw_hh * (1 + 1e-6), db_ih, db_hh  # dW_hh, 1e-6 relative: far above float64 rounding

    monkeypatch.setattr(bptt_backward, "param_grads", off_by_a_little)
    result = CliRunner().invoke(app, ["gradcheck", "--cell", "rnn", *SMALL, "--json"])
    assert result.exit_code == 1, result.output
    failed = {r["name"] for r in json.loads(result.stdout)["rows"] if not r["ok"]}
    assert "rnns.0.weight_hh_l0" in failed


def test_gradcheck_refuses_a_cell_the_engine_lacks() -> None:
    result = CliRunner().invoke(app, ["gradcheck", "--engine", "triton", "--cell", "rnn"])
    assert result.exit_code == 2 and "--cell" in result.stderr and "lstm, gru" in result.stderr


class _Handed(Exception):
    """Raised by a stand-in for the measurement: the config the command would have measured."""


@pytest.mark.parametrize(
    ("command", "target", "hidden"),
    [
        ("compare-cells", "rnnlab.lab.compare_cells.measure", (128,)),
        ("gradcheck", "rnnlab.lab.gradcheck.run_gradcheck", (3, 2)),
    ],
)
def test_a_command_keeps_its_own_default_for_a_setting_datasets_replace(monkeypatch, command, target, hidden) -> None:
    """--hidden's general default (256) gives way to a dataset's own in `train`; a lab command's own default
    (compare-cells 128, gradcheck 3,2) is no such default and stays."""

    def stand_in(cfg, *rest, **kwargs):
        raise _Handed(cfg)

    monkeypatch.setattr(target, stand_in)
    result = CliRunner().invoke(app, [command])
    assert isinstance(result.exception, _Handed), result.output
    assert result.exception.args[0].model.hidden == hidden


def test_compare_cells_table_reads_whole_at_80_columns(monkeypatch) -> None:
    """A kernel variant's description and an engine's reason for not running are notes under the table, marked on
    the engine (triton¹): in the engine column they wrapped a word a line, and a reason widened the table."""
    from rnnlab.cli.tables import console

    real = compare_cells.measure
    variant = "interpreted: the persistent kernels' code on CPU (TRITON_INTERPRET=1), one launch per step, tf32 dot"

    def measure(cfg, progress):
        for row in real(cfg, progress):
            yield row
            if row["engine"] == "cudnn":  # the same numbers under the names and notes a GPU run or Triton gives
                yield {**row, "engine": "triton", "variant": variant, "fwd_ms": 123456.7, "peak_memory_bytes": 2**30}
                yield {"engine": "triton", "layout": row["layout"], "status": "unavailable: needs a CUDA device"}

    monkeypatch.setattr(compare_cells, "measure", measure)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "width", 80)  # a terminal 80 columns wide (captured output has a fixed width)
    result = CliRunner().invoke(app, ["compare-cells", *TINY, "--engines", "cudnn,bptt"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in result.output, result.output
    words = " ".join(result.output.split())
    assert f"¹ {variant}" in words and "² unavailable: needs a CUDA device" in words, result.output
    assert sum("triton¹" in line for line in lines) == 2 and sum("triton²" in line for line in lines) == 2  # layouts
    assert sum(line.split()[:1] == ["│", "bptt"] or "│ bptt " in line for line in lines) == 2


def test_gradcheck_tables_read_whole_at_80_columns(monkeypatch) -> None:
    from rnnlab.cli.tables import console

    monkeypatch.setattr(console, "width", 80)  # a terminal 80 columns wide (captured output has a fixed width)
    for verbose in ([], ["--verbose"]):
        result = CliRunner().invoke(app, ["gradcheck", "--cell", "rnn", "--layers", "2", *SMALL[4:], *verbose])
        assert result.exit_code == 0, result.output
        assert max(map(len, result.output.splitlines())) <= 80 and "…" not in result.output, result.output
        assert "recurrent-dropout," in result.output and ("weight_hh_l0" in result.output or not verbose)
