"""visualize and inspect: valid PNGs, and the plotted per-step numbers equal the model's own predictions."""

import json
from dataclasses import replace

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
        "confusion_test.png",
    } <= names
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
    assert height >= gates * 150  # one legible row of heatmaps per gate
    both = "bidirectional" in run_dir.name
    assert (width > 1.3 * 700) == both, (width, both)  # a column of heatmaps per direction
    bad = CliRunner().invoke(app, ["visualize", str(run_dir), "--layer", "3", "--out", str(tmp_path / "no")])
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "rnnlab: error: --layer: this model has 2 layers (1 to 2); got 3"
    assert not (tmp_path / "no").exists()


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
