"""visualize and inspect: valid PNGs, and the plotted per-step numbers equal the model's own predictions."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.runs.checkpoint import load_checkpoint, model_from_checkpoint
from rnnlab.train.loop import fit

BASE = RunConfig(
    ModelConfig(cell="lstm", input_size=8, hidden=(16,), layers=2, dropout=0.0),
    DataConfig(dataset="digits", train_subset=256),
    TrainConfig(epochs=1, batch_size=64),
    RuntimeConfig(device="cpu"),
)


# lstm-last runs in `make test-fast`; the other two kinds (each visualize draws about 4 s of figures) in `make test`
KINDS = ["lstm-last", *(pytest.param(k, marks=pytest.mark.slow) for k in ("gru-bidirectional", "rnn-mean-time"))]


@pytest.fixture(scope="module", params=KINDS)
def run_dir(request, tmp_path_factory):
    model = {
        "lstm-last": BASE.model,
        "gru-bidirectional": replace(BASE.model, cell="gru", bidirectional=True),
        "rnn-mean-time": replace(BASE.model, cell="rnn", readout="mean"),
    }[request.param]
    layout = "time" if request.param.endswith("time") else "batch"
    cfg = replace(BASE, model=model, data=replace(BASE.data, layout=layout))
    out = tmp_path_factory.mktemp(request.param)
    fit(cfg, out)
    return out


def test_visualize_writes_valid_pngs_and_the_true_numbers(run_dir) -> None:
    result = CliRunner().invoke(app, ["visualize", str(run_dir), "--index", "5"])
    assert result.exit_code == 0, result.output
    figures = run_dir / "figures"
    pngs = sorted(figures.glob("*.png"))
    names = {p.name for p in pngs}
    assert {
        "test5_digit.png",
        "test5_step_probs_grid.png",
        "test5_step_probs_heatmap.png",
        "test5_layer2_hidden_states.png",
        "curves.png",
    } <= names
    assert "confusion_test.png" not in names  # only with --confusion
    assert ("test5_layer2_cell_states.png" in names) == ("lstm" in run_dir.name)
    assert ("test5_layer2_gates.png" in names) == ("rnn" not in run_dir.name)  # a plain RNN has no gates
    assert not any("layer1" in name for name in names)  # the last layer unless --layer says otherwise
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as im:
            assert im.size[0] >= 200 and im.size[1] >= 200, (png.name, im.size)
        assert str(png) in result.output.replace("\n", "")

    numbers = json.loads((figures / "test5_step_probs.json").read_text())
    ckpt = load_checkpoint(run_dir)
    model = model_from_checkpoint(ckpt).eval()
    x, y = load_sequences(replace(BASE.data, train_subset=0)).test
    seq = x[5]
    assert numbers["label"] == int(y[5])
    with torch.no_grad():  # the definition: the model run on the prefix of steps 1..t, computed independently here
        direct = torch.stack(
            [
                torch.softmax(model(seq[: t + 1].unsqueeze(0 if model.layout == "batch" else 1)), -1)[0]
                for t in range(seq.shape[0])
            ]
        )
    torch.testing.assert_close(torch.tensor(numbers["probs"]), direct, atol=1e-6, rtol=1e-5)
    assert numbers["prediction"] == int(direct[-1].argmax())


def test_visualize_digit_picks_that_class_and_bad_choices_fail(run_dir) -> None:
    runner = CliRunner()
    out = run_dir / "d3"
    result = runner.invoke(app, ["visualize", str(run_dir), "--digit", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = json.loads(next(out.glob("*_step_probs.json")).read_text())
    assert index["label"] == 3
    for args, flag in (
        (["--index", "100000"], "--index"),
        (["--digit", "12"], "--digit"),
        (["--split", "dev"], "--split"),
    ):
        bad = runner.invoke(app, ["visualize", str(run_dir), *args])
        assert bad.exit_code == 2 and flag in bad.stderr


@pytest.mark.slow  # another full visualize (about 4 s): `make test` only
def test_visualize_draws_the_layer_asked_in_each_direction(run_dir, tmp_path) -> None:
    result = CliRunner().invoke(app, ["visualize", str(run_dir), "--layer", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.glob("*.png")}
    assert "test0_layer1_hidden_states.png" in names and not any("layer2" in n for n in names)
    if "rnn" in run_dir.name:
        return
    with Image.open(tmp_path / "test0_layer1_gates.png") as im:
        width, height = im.size
    gates = 4 if "lstm" in run_dir.name else 3
    assert width >= 250 * gates + 200  # digits are read by rows: the image, then a legible heatmap per gate across
    both = "bidirectional" in run_dir.name
    assert (height > 1.6 * 450) == both, (height, both)  # a row of heatmaps per direction
    bad = CliRunner().invoke(app, ["visualize", str(run_dir), "--layer", "3", "--out", str(tmp_path / "no")])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "rnnlab: error: --layer: this model has 2 layers (1 to 2); got 3"
    assert not (tmp_path / "no").exists()


def test_the_confusion_matrix_is_computed_only_when_asked_with_a_bar(run_dir, tmp_path, monkeypatch) -> None:
    from rnnlab.cli import look as look_cli
    from rnnlab.look import probe

    computed = probe.confusion_matrix

    def refused(*args, **kwargs):
        raise AssertionError("the confusion matrix was computed without --confusion")

    monkeypatch.setattr(probe, "confusion_matrix", refused)
    result = CliRunner().invoke(app, ["visualize", str(run_dir), "--out", str(tmp_path / "plain")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "plain" / "confusion_test.png").exists()

    counted: list[tuple[int, list[int]]] = []
    real_counting = look_cli.counting

    def counting(total, least, what="predicting"):
        steps: list[int] = []
        counted.append((total, steps))
        assert what == "confusion matrix"
        with real_counting(total, least, what) as advance:
            yield lambda n: (steps.append(n), advance(n))

    import contextlib

    monkeypatch.setattr(look_cli, "counting", contextlib.contextmanager(counting))
    monkeypatch.setattr(probe, "confusion_matrix", computed)
    result = CliRunner().invoke(app, ["visualize", str(run_dir), "--confusion", "--out", str(tmp_path / "asked")])
    assert result.exit_code == 0, result.output
    matrix = tmp_path / "asked" / "confusion_test.png"
    with Image.open(matrix) as im:
        assert im.size[0] >= 300 and im.size[1] >= 300
    assert str(matrix) in result.output.replace("\n", "")
    test_size = len(load_sequences(replace(BASE.data, train_subset=0)).test[1])
    assert "confusion matrix: the model on each of the" in result.stderr
    assert len(counted) == 1 and counted[0][0] == test_size and sum(counted[0][1]) == test_size  # the bar filled


def test_units_are_ordered_by_the_step_of_their_largest_change() -> None:
    from rnnlab.look.units import change_order

    h = np.array(
        [  # units 0..4 over 4 steps
            [0.0, -0.9, 0.5, 0.1, 0.0],
            [0.0, -0.9, 0.5, 0.9, 0.0],  # unit 3 changes most at step 2 (+0.8)
            [1.0, -0.9, 0.5, 0.9, -0.6],  # units 0 (+1.0) and 4 (-0.6) at step 3
            [1.0, -0.9, 0.5, 0.9, -0.6],
        ]
    )
    # at step 1 unit 2 rises and unit 1 falls (rises first), then unit 3 (step 2), then units 0 (rise) and 4 (fall)
    assert change_order(h).tolist() == [2, 1, 3, 0, 4]
    # read backward (from step 4), each unit changes most at its first step read (from the state 0 before it):
    # the rises by size (units 0, 3, 2), then the falls (1, 4)
    assert change_order(h, reverse=True).tolist() == [0, 3, 2, 1, 4]
    rng = np.random.default_rng(0)
    random = rng.normal(size=(28, 64))
    order = change_order(random)
    assert sorted(order.tolist()) == list(range(64))  # a permutation
    when = np.abs(np.diff(random, axis=0, prepend=0)).argmax(0)[order]
    assert np.all(np.diff(when) >= 0)  # the rule holds: the step of the largest change never goes back


def test_a_gates_units_are_drawn_by_their_level() -> None:
    from rnnlab.look.units import level_order

    gate = np.array([[0.9, 0.1, 0.5, 0.5], [0.9, 0.3, 0.5, 0.7]])  # (T, H): means 0.9, 0.2, 0.5, 0.6
    assert level_order(gate).tolist() == [1, 2, 3, 0]
    random = np.random.default_rng(1).uniform(size=(28, 64))
    order = level_order(random)
    assert sorted(order.tolist()) == list(range(64)) and np.all(np.diff(random.mean(0)[order]) >= 0)


def test_the_colour_range_shows_the_typical_unit_not_the_largest() -> None:
    from rnnlab.look.units import robust_limit

    values = np.concatenate([np.linspace(-2, 2, 990), np.full(10, 10.0)])  # 1% of units at 10
    limit = robust_limit([values[:500], values[500:]])
    assert 1.9 < limit < 2.1, limit
    assert robust_limit([np.zeros(5)]) == 1.0


@pytest.mark.parametrize("sequence", ["rows", "cols", "pixels", "permuted"])
def test_the_reading_order_is_the_views_own(sequence) -> None:
    from rnnlab.data.views import as_sequences
    from rnnlab.look.order import Reading

    image = np.random.default_rng(1).random((6, 5))
    reading = Reading.of(image, sequence, permute_seed=3)
    seq = as_sequences(torch.from_numpy(image)[None], sequence, 3)[0].numpy()  # (T, I)
    T = seq.shape[0]
    assert reading.steps == T
    for t in (0, T // 2, T - 1):  # the pixels read at step t are exactly the ones the view hands the model there
        got = np.sort(reading.image[reading.step_of == t] * np.ptp(image) + image.min())
        np.testing.assert_allclose(got, np.sort(seq[t]))
        assert reading.read_by(t).sum() == (t + 1) * seq.shape[1]
    if sequence in ("pixels", "permuted"):
        np.testing.assert_allclose(reading.per_step() * np.ptp(image) + image.min(), seq[:, 0])
    shown = reading.shown_at(0)
    assert shown.shape == (6, 5, 3) and np.array_equal(
        shown[reading.read_by(0)][:, 0], reading.image[reading.read_by(0)]
    )


def test_the_settled_step_is_where_the_top_class_stops_changing() -> None:
    from rnnlab.look.step_axes import settled

    probs = np.array([[0.6, 0.4], [0.4, 0.6], [0.7, 0.3], [0.8, 0.2]])
    assert settled(probs) == 2  # class 0 from the third step on
    assert settled(probs[2:]) == 0


def test_inspect_walks_seed_002s_graph() -> None:
    result = CliRunner().invoke(app, ["inspect", "--layers", "1", "--hidden", "128", "--proj", "128", "--dropout", "0"])
    assert result.exit_code == 0, result.output
    text = result.output
    for shape in ("(128, 28, 28)", "(28, 128, 128)", "(1, 128, 128)", "(128, 10)", "(512, 128)"):
        assert shape in text, shape
    assert "137,098" in text  # 28*128+128 + 4*128*(128+128)+2*512 + 128*10+10


def test_inspect_usage_shows_its_optional_run_in_one_pair_of_brackets(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(app, ["inspect", "--help"])
    assert result.exit_code == 0, result.output
    assert "inspect [OPTIONS] [RUN]" in result.output and "[[RUN]]" not in result.output


def test_inspect_reads_a_run(run_dir) -> None:
    result = CliRunner().invoke(app, ["inspect", str(run_dir), "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "(3, 8, 8)" in result.output or "(8, 3, 8)" in result.output
    assert "rnns.1.weight_hh_l0" in result.output


def test_inspect_refuses_model_flags_given_with_a_run(run_dir) -> None:
    result = CliRunner().invoke(app, ["inspect", str(run_dir), "--hidden", "64", "--cell", "gru"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rnnlab: error: --cell, --hidden:") and "drop them" in line


@pytest.mark.slow  # another full visualize (about 4 s): `make test` only
def test_visualize_draws_any_split_on_the_device_asked(run_dir, tmp_path) -> None:
    result = CliRunner().invoke(
        app, ["visualize", str(run_dir), "--split", "val", "--device", "cpu", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "val0_step_probs.json").read_text())["split"] == "val"


@pytest.mark.slow
def test_a_long_sequence_prints_a_summarised_table(tmp_path) -> None:
    cfg = replace(
        BASE,
        model=replace(BASE.model, input_size=1, layers=1, hidden=(8,)),
        data=replace(BASE.data, sequence="pixels", train_subset=64),
    )
    fit(cfg, tmp_path / "run")
    result = CliRunner().invoke(app, ["visualize", str(tmp_path / "run"), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "64 steps: shown are step 1, every 3rd step and" in text and "every step is in the JSON file" in text
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    numbers = json.loads((tmp_path / "figs" / "test0_step_probs.json").read_text())
    assert len(numbers["probs"]) == 64
    assert 22 < len(rows) < 64  # one per step shown: 1, 3, 6, ..., 63, 64, and the changes


def test_steps_are_drawn_from_1() -> None:
    from matplotlib.figure import Figure

    from rnnlab.look.step_figures import over_steps

    ax = Figure().add_subplot()
    over_steps(ax, torch.rand(3, 5).numpy(), "viridis", 0, 1)
    assert ax.get_xlim() == (0.5, 5.5)  # column t is centred on step t + 1
    assert sorted(ax.get_ylim()) == [0.5, 3.5]
    ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 5.5]
    assert ticks and min(ticks) >= 1 and all(float(t).is_integer() for t in ticks)
