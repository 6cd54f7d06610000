"""predict: a trained model on images the suite draws itself and on dataset images written out as files.

Drawn digits check the preparation (polarity, the digit's box, its centre of mass); dataset images written as
PNG files check that predict reads exactly what the model was trained on; bad files get one line each.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.data import load_sequences
from rnnlab.data.images import MAX_PIXELS, read_images
from rnnlab.data.preprocess import Preprocessing
from rnnlab.data.sets import load_images
from rnnlab.look.loaded import load
from rnnlab.look.predict import figure_names
from rnnlab.model.classifier import build_model
from rnnlab.runs.checkpoint import save_checkpoint
from rnnlab.train.loop import fit

DIGITS = RunConfig(
    ModelConfig(input_size=8, hidden=(64,), layers=1, dropout=0.0),
    DataConfig(dataset="digits"),
    TrainConfig(epochs=10, batch_size=128, lr=1e-2),
    RuntimeConfig(device="cpu"),
)


def draw(text: str, size: int, canvas: tuple[int, int], at: tuple[int, int], light: bool) -> Image.Image:
    """A digit in PIL's own font, dark on light or light on dark, where asked on a canvas of any size."""
    font = ImageFont.load_default(size=size)
    background, ink = (235, 25) if light else (10, 250)
    picture = Image.new("L", canvas, background)
    ImageDraw.Draw(picture).text(at, text, fill=ink, font=font, stroke_width=size // 14, stroke_fill=ink)
    return picture


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits-run")
    result = fit(DIGITS, out)
    assert result.test.accuracy > 0.8, result.test.accuracy  # a model worth asking
    return out


def _invoke(*args: str):
    return CliRunner().invoke(app, ["predict", *args])


# ---- the preparation, on digits drawn here ---------------------------------------------------------------------


@pytest.mark.parametrize("digit", range(10))
def test_a_drawn_digit_is_framed_as_mnist_digits_were(digit) -> None:
    dark_on_light = draw(str(digit), 120, (301, 257), (20, 5), light=True)  # big, off-centre, light background
    light_on_dark = draw(str(digit), 64, (97, 131), (30, 40), light=False)  # small, elsewhere, dark background
    a, b = (read_images(p, "mnist", (28, 28))[0].image for p in (dark_on_light, light_on_dark))
    for image in (a, b):
        assert image.shape == (28, 28) and image.dtype == np.float32
        assert image.max() == 1.0 and image.min() == 0.0
        assert np.all(np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]) == 0)  # dark background
        rows, cols = np.nonzero(image > 0.05)
        assert 19 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 21  # the box's longer side: 20 of 28 pixels
        mass = image.sum()
        cy = (image.sum(1) * np.arange(28)).sum() / mass
        cx = (image.sum(0) * np.arange(28)).sum() / mass
        assert abs(cy - 13.5) <= 0.5 + 1e-6 and abs(cx - 13.5) <= 0.5 + 1e-6  # centre of mass at the centre
    assert np.abs(a - b).mean() < 0.08  # the same digit, whatever the size, place and polarity


def test_a_digits_model_frames_a_drawing_in_8x8_blocks() -> None:
    image = read_images(draw("7", 90, (200, 150), (60, 10), light=True), "digits", (8, 8))[0].image
    rows, cols = np.nonzero(image > 0.05)
    assert image.shape == (8, 8) and image.max() == 1.0
    assert np.ptp(rows) + 1 == 8  # the digits set's digits fill their field's height
    assert image[0].sum() > image[-1].sum()  # a 7: its bar on top, after the light background was inverted


# ---- dataset images written out as files -----------------------------------------------------------------------


def test_digits_blown_up_on_a_light_page_come_back_to_their_pixels(digits_run, tmp_path) -> None:
    run = load(digits_run)
    x, y = load_sequences(DIGITS.data).test
    p = run.preprocessing
    raw = (x[:60] * p.std + p.mean).clamp(0, 1).numpy()  # (N, 8, 8) in [0, 1]: the digits as scikit-learn gives
    paths = []
    for k, image in enumerate(raw):
        page = np.ones((83, 71))
        page[5:61, 9:65] = 1 - np.kron(image, np.ones((7, 7)))  # 7x larger, dark on light, off-centre
        paths.append(tmp_path / f"{k}.png")
        Image.fromarray((page * 255).round().astype(np.uint8)).save(paths[-1])
    predictions = run.predict(paths)
    seen = np.stack([q.image.numpy() for q in predictions])
    exact = np.abs(seen - raw / raw.max(axis=(1, 2), keepdims=True)).max(axis=(1, 2)) < 2e-3
    assert exact.mean() >= 0.8, exact.mean()  # the rest sit one column over: their box is centred differently
    with torch.no_grad():
        direct = run.model(x[:60]).argmax(1)
    agree = np.mean([q.label == int(d) for q, d in zip(predictions, direct)])
    assert agree >= 0.8, agree
    assert np.mean([q.label == int(t) for q, t in zip(predictions, y[:60])]) >= 0.75


@pytest.mark.mnist
def test_mnist_images_written_as_png_and_npy_are_read_back_exactly(mnist_dir, tmp_path, monkeypatch) -> None:
    cfg = RunConfig(ModelConfig(hidden=(32,), layers=1, dropout=0.0), DataConfig(dataset="mnist"), TrainConfig())
    images = load_images("mnist", mnist_dir)
    model = build_model(cfg.model, seed=0).eval()
    checkpoint = tmp_path / "mnist.pt"
    preprocessing = Preprocessing.measure(cfg.data, images)
    payload = {"config": cfg.to_dict(), "model": model.state_dict(), "preprocessing": preprocessing.to_dict()}
    save_checkpoint(checkpoint, payload)
    x_test = load_sequences(replace(cfg.data, data_dir=mnist_dir)).test[0]
    pixels = (images.test.images[:12] * preprocessing.std + preprocessing.mean) * 255  # the uint8 files' values
    pixels = pixels.round().clamp(0, 255).to(torch.uint8).numpy()
    files = []
    for k, image in enumerate(pixels):
        files.append(tmp_path / f"test{k}.png")
        Image.fromarray(255 - image if k % 3 == 2 else image).save(files[-1])  # every third on a light background
    np.save(tmp_path / "stack.npy", pixels[:3])
    monkeypatch.setenv("RNNLAB_DATA_DIR", str(tmp_path / "no-data-here"))  # the checkpoint is all it needs

    result = _invoke(str(checkpoint), *map(str, files), str(tmp_path / "stack.npy"), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["source"] for r in out["images"]] == [str(f) for f in files] + [
        f"{tmp_path / 'stack.npy'}[{k}]" for k in range(3)
    ]
    run = load(checkpoint)
    assert torch.equal(run.sequences(*files), x_test[:12])  # pixel for pixel what the model was trained on
    assert torch.equal(run.sequences(tmp_path / "stack.npy"), x_test[:3])
    with torch.no_grad():
        direct = torch.softmax(model(x_test[:12]), dim=-1)
    for k, record in enumerate(out["images"][:12] + out["images"][12:]):
        expected = direct[k % 12]
        torch.testing.assert_close(torch.tensor(record["probabilities"]), expected, rtol=1e-5, atol=1e-6)
        assert record["class"] == int(expected.argmax()) and record["prediction"] == str(int(expected.argmax()))
        assert len(record["after_each_step"]) == 28 and record["after_each_step"][-1] == record["class"]


# ---- the command --------------------------------------------------------------------------------------------------


def test_predict_prints_probabilities_and_each_steps_prediction_and_draws(digits_run, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the files named as a user in that folder would name them
    paths = []
    for k, (digit, light) in enumerate([("3", True), ("0", False), ("7", True)]):
        paths.append(f"digit{k}.png")
        draw(digit, 80 + 10 * k, (160 + 7 * k, 140), (40, 10), light).save(paths[-1])
    jpeg = "photo.jpg"
    draw("4", 150, (240, 320), (70, 60), light=True).convert("RGB").save(jpeg, quality=70)
    figures = tmp_path / "figs"
    result = _invoke(str(digits_run), *paths, jpeg, "--figure", str(figures))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "predictions of" in text and "the prediction after each step" in text
    for path in (*paths, jpeg):
        assert text.count(f"│ {path} ") == 2, text  # a row in each table
    assert "1-" in text and "-8: " in text  # runs of steps from 1 to the last, 8 rows of 8 pixels
    for image in ("digit0", "digit1", "digit2", "photo"):  # the figures visualize draws, for each image
        for name, least in (
            (f"{image}_steps.png", (800, 400)),
            (f"{image}_layer1_hidden_states.png", (700, 300)),
            (f"{image}_layer1_cell_states.png", (700, 300)),
            (f"{image}_layer1_gates.png", (1200, 300)),
        ):
            with Image.open(figures / name) as im:
                assert im.format == "PNG" and im.size[0] >= least[0] and im.size[1] >= least[1], (name, im.size)
            assert str(figures / name) in text.replace("\n", "")
    assert len(list(figures.iterdir())) == 16


def test_each_bad_file_gets_one_line_and_the_others_still_run(digits_run, tmp_path) -> None:
    good = tmp_path / "good.png"
    draw("2", 100, (150, 150), (40, 10), light=True).save(good)
    text_file = tmp_path / "notes.png"
    text_file.write_text("not a picture")
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 5)))
    negative = tmp_path / "normalised.npy"
    np.save(negative, np.full((8, 8), -0.4))
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 60), 200).save(blank)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    missing = tmp_path / "missing.png"
    stack = tmp_path / "stack.npy"
    np.save(stack, np.random.default_rng(0).integers(0, 256, (2, 8, 8)).astype(np.uint8))
    args = [good, text_file, wrong, missing, negative, blank, truncated, stack, tmp_path]
    result = _invoke(str(digits_run), *map(str, args), "--figure", str(tmp_path / "figs"), "--json")
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert [r["source"] for r in out["images"]] == [str(good), f"{stack}[0]", f"{stack}[1]"]
    lines = result.stderr.strip().splitlines()
    assert lines == [f"rnnlab: error: {e}" for e in out["errors"]] and len(lines) == 7
    expected = [
        (text_file, "not an image"),
        (wrong, "an array of shape (3, 5); expected one 8x8 image or a stack of them (N, 8, 8)"),
        (missing, "no such file"),
        (negative, "values from -0.4 to -0.4"),
        (blank, "holds no digit"),
        (truncated, "damaged image"),
        (tmp_path, "a folder"),
    ]
    for line, (path, what) in zip(lines, expected):
        assert line.startswith(f"rnnlab: error: {path}: ") and what in line, line
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(
        f"{image}_{what}.png"
        for image in ("good", "stack_0", "stack_1")
        for what in ("steps", "layer1_hidden_states", "layer1_cell_states", "layer1_gates")
    )


def test_predicts_figures_draw_the_models_own_states_in_the_order_visualize_uses(
    digits_run, tmp_path, monkeypatch
) -> None:
    from rnnlab.look import layer_figures
    from rnnlab.look.units import change_order

    good = tmp_path / "good.png"
    draw("2", 100, (150, 150), (40, 10), light=True).save(good)
    drawn: dict[str, list] = {}
    states = layer_figures.states

    def watched(directions, key, title, path, reading=None):
        drawn[key] = list(directions)
        assert reading is not None and reading.sequence == "rows" and reading.image.shape == (8, 8)
        return states(directions, key, title, path, reading)

    monkeypatch.setattr(layer_figures, "states", watched)
    result = _invoke(str(digits_run), str(good), "--figure", str(tmp_path / "figs"), "--layer", "1")
    assert result.exit_code == 0, result.output
    [direction] = drawn["h"]
    h = load(digits_run).trace(good).layer(1)[0].h[:, 0].numpy()  # (T, H): the model's own steps
    np.testing.assert_allclose(direction.values["h"], h, rtol=0, atol=1e-6)
    assert np.array_equal(direction.order, change_order(h))
    assert drawn["c"][0].order is direction.order  # one order for the layer's h and c
    bad = _invoke(str(digits_run), str(good), "--figure", str(tmp_path / "no"), "--layer", "2")
    assert bad.exit_code == 2 and bad.stdout == "" and not (tmp_path / "no").exists()
    assert bad.stderr == "rnnlab: error: --layer: this model has 1 layer (1 to 1); got 2\n"


def test_a_figure_folder_that_is_a_file_is_one_line(digits_run, tmp_path) -> None:
    good = tmp_path / "good.png"
    draw("2", 100, (150, 150), (40, 10), light=True).save(good)
    (tmp_path / "taken").write_text("a file")
    result = _invoke(str(digits_run), str(good), "--figure", str(tmp_path / "taken"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"rnnlab: error: --figure: {tmp_path / 'taken'} is a file; give a folder\n"


def test_a_run_that_cannot_be_used_is_one_line(tmp_path) -> None:
    result = _invoke(str(tmp_path / "nowhere"), str(tmp_path / "a.png"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "does not exist" in result.stderr
    old = tmp_path / "old.pt"  # written before checkpoints carried their preprocessing, its data nowhere
    cfg = RunConfig(ModelConfig(), DataConfig(dataset="mnist"), TrainConfig())
    save_checkpoint(old, {"config": cfg.to_dict(), "model": build_model(cfg.model, seed=0).state_dict()})
    result = _invoke(str(old), str(tmp_path / "a.png"), "--data-dir", str(tmp_path / "empty"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "before checkpoints carried their preprocessing" in result.stderr


def test_a_too_large_image_is_one_line_and_a_large_one_is_read_without_warning(digits_run, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow warns past 10,000 pixels, refuses past 20,000
    large, huge = tmp_path / "large.png", tmp_path / "huge.png"
    draw("4", 80, (120, 110), (30, 10), light=True).save(large)  # 13,200 pixels: warned of, and fine to read
    draw("4", 80, (150, 150), (30, 10), light=True).save(huge)  # 22,500 pixels: refused by Pillow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_images(large, "digits", (8, 8))[0].image.shape == (8, 8)
    assert caught == []
    result = _invoke(str(digits_run), str(huge), str(large), "--json")
    assert result.exit_code == 2
    assert [r["source"] for r in json.loads(result.stdout)["images"]] == [str(large)]
    assert result.stderr == (
        f"rnnlab: error: {huge}: a picture of 22,500 pixels is larger than rnnlab reads ({MAX_PIXELS:,} pixels); "
        "scale it down first\n"
    )


def test_a_blank_array_is_refused_as_a_blank_page_is(digits_run, tmp_path) -> None:
    zeros, flat, stack = tmp_path / "zeros.npy", tmp_path / "flat.npy", tmp_path / "stack.npy"
    np.save(zeros, np.zeros((8, 8)))
    np.save(flat, np.full((8, 8), 200, dtype=np.uint8))
    digits = np.random.default_rng(0).integers(0, 256, (3, 8, 8)).astype(np.uint8)
    digits[1] = 0
    np.save(stack, digits)
    black, white = tmp_path / "black.png", tmp_path / "white.png"  # at the model's size: taken as it is, unframed
    Image.new("L", (8, 8), 0).save(black)
    Image.new("L", (8, 8), 255).save(white)
    result = _invoke(str(digits_run), str(zeros), str(flat), str(stack), str(black), str(white))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"rnnlab: error: {zeros}: holds no digit (every pixel is nearly the same shade)",
        f"rnnlab: error: {flat}: holds no digit (every pixel is nearly the same shade)",
        f"rnnlab: error: {stack}: 1 of its 3 images holds no digit (every pixel nearly the same shade): index 1",
        f"rnnlab: error: {black}: holds no digit (every pixel is nearly the same shade)",
        f"rnnlab: error: {white}: holds no digit (every pixel is nearly the same shade)",
    ]


def test_unreadable_files_are_named_in_words_not_in_the_libraries(digits_run, tmp_path) -> None:
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"ab")
    picture = tmp_path / "seven.png"
    draw("7", 80, (120, 110), (30, 10), light=True).save(picture)
    result = _invoke(str(digits_run), str(garbage))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"{garbage}: not a readable .npy array" in result.stderr and "pickle" not in result.stderr
    (tmp_path / "config.json").write_text('{"a": 1}')
    for not_a_checkpoint in (picture, tmp_path / "config.json"):
        result = _invoke(str(not_a_checkpoint), str(picture))
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert f"{not_a_checkpoint} is not a readable checkpoint" in result.stderr
        assert "not one written by rnnlab" in result.stderr and "Weights only" not in result.stderr


def test_figures_of_images_sharing_a_name_say_which_is_which() -> None:
    files = ["seven.gif", "seven.tiff", "three.png", "three.png", "one.png", "s.npy", "s.npy"]
    index = [None] * 5 + [0, 1]
    names = figure_names([SimpleNamespace(file=f, index=i) for f, i in zip(files, index)])  # type: ignore[misc]
    assert names == [
        "seven-gif_steps.png",
        "seven-tiff_steps.png",
        "three_steps.png",
        "three-2_steps.png",
        "one_steps.png",
        "s_0_steps.png",
        "s_1_steps.png",
    ]
