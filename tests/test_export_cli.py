"""`rnnlab export`: each format written from a trained run and checked in its own runtime; the safetensors file a
checkpoint that eval, predict and visualize read; bad input one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.config import DataConfig, ModelConfig, RunConfig, RuntimeConfig, TrainConfig
from rnnlab.export.formats import FORMATS
from rnnlab.export.plain import PlainClassifier
from rnnlab.train.loop import fit
from tests.conftest import assert_one_error_line, file_hashes

TINY = RunConfig(
    ModelConfig(input_size=8, hidden=(16,), layers=1, dropout=0.0, bidirectional=True),
    DataConfig(dataset="digits"),
    TrainConfig(epochs=3, batch_size=64, lr=1e-2),
    RuntimeConfig(device="cpu"),
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("export-cli") / "run"
    fit(TINY, out)
    return out


def _export(*args: str):
    return CliRunner().invoke(app, ["export", *map(str, args)])


@pytest.fixture(autouse=True)
def wide(monkeypatch) -> None:
    """Each line of the output on one line (the lines wrap at the console's width), for tests that read them."""
    from rnnlab.cli.tables import console

    monkeypatch.setattr(console, "width", 2000)


def test_at_80_columns_the_lines_wrap_between_words(trained, tmp_path, monkeypatch) -> None:
    from rnnlab.cli.tables import console

    out = tmp_path / "m.safetensors"
    wide = _export(trained, "--format", "safetensors", "--out", out)
    monkeypatch.setattr(console, "width", 80)
    narrow = _export(trained, "--format", "safetensors", "--out", out, "--force")
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert len(lines) > len(wide.stdout.splitlines()) and max(map(len, lines)) <= 80, lines
    assert narrow.stdout.split() == wide.stdout.split()  # every word whole: broken only between them


@pytest.mark.parametrize(
    "fmt,suffix,runtime", [("onnx", ".onnx", "onnxruntime"), ("torch-export", ".pt2", "torch.export.load")]
)
def test_export_writes_the_file_says_how_to_run_it_and_checks_it(trained, tmp_path, fmt, suffix, runtime) -> None:
    out = tmp_path / f"m{suffix}"
    result = _export(trained, "--format", fmt, "--out", out, "--check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"wrote {out} (") and "best.pt (bidirectional LSTM 1 x 16 on digits" in lines[0]
    assert lines[1].startswith("input: x: float32 (batch, 8, 8): an image's pixels in [0, 1]")
    assert lines[2].startswith("run it: ") and str(out) in lines[2]
    assert lines[3].startswith(f"check: {runtime} on the test set (359 samples, batches of 1, 7, 351)")
    assert "all 359 predictions the same" in lines[3]
    diff = float(lines[3].split("max |logit diff| ")[1].split(",")[0])
    assert diff < 1e-5
    accuracy = [part.split("%")[0] for part in lines[4].removeprefix("accuracy: ").split(", ")]
    assert len(accuracy) == 2 and accuracy[0] == accuracy[1], lines[4]
    scored = json.loads(CliRunner().invoke(app, ["eval", str(trained), "--json"]).stdout)
    assert f"{100 * scored['accuracy']:.2f}" == accuracy[0]  # beside rnnlab eval's own figure


@pytest.mark.slow
def test_a_safetensors_export_is_a_checkpoint_eval_predict_and_visualize_read(trained, tmp_path) -> None:
    out = tmp_path / "model.safetensors"
    result = _export(trained, "--format", "safetensors", "--out", out, "--check")
    assert result.exit_code == 0, result.output
    assert "all 359 predictions the same" in result.stdout and "max |logit diff| 0.00e+00" in result.stdout
    assert b"pickle" not in out.read_bytes()[:8] and out.read_bytes()[8:9] == b"{"  # a safetensors header
    ours = json.loads(CliRunner().invoke(app, ["eval", str(out), "--json"]).stdout)
    theirs = json.loads(CliRunner().invoke(app, ["eval", str(trained), "--json"]).stdout)
    assert ours["accuracy"] == theirs["accuracy"] and ours["loss"] == theirs["loss"]
    assert (ours["epoch"], ours["step"]) == (theirs["epoch"], theirs["step"])
    image = tmp_path / "four.npy"
    np.save(image, np.random.default_rng(0).random((8, 8), dtype=np.float32))
    predicted = [
        json.loads(CliRunner().invoke(app, ["predict", str(path), str(image), "--json"]).stdout)["images"][0]
        for path in (out, trained)
    ]
    assert predicted[0]["probabilities_after_each_step"] == predicted[1]["probabilities_after_each_step"]
    drawn = CliRunner().invoke(app, ["visualize", str(out), "--out", str(tmp_path / "figures")])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "figures" / "test0_step_probs.json").is_file()
    assert not (tmp_path / "figures" / "curves.png").exists()  # a lone file has no metrics.jsonl: said in one line
    assert f"warning: no curves.png: a run's training curves come from its metrics.jsonl, and {out} has none" in (
        drawn.stderr
    )


def test_an_existing_out_is_refused_unless_force_and_json_says_what_was_written(trained, tmp_path, monkeypatch) -> None:
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep me")
    assert_one_error_line(_export(trained, "--format", "safetensors", "--out", out), "exists; give --force")
    assert out.read_bytes() == b"keep me"
    monkeypatch.setattr("rnnlab.export.check.dataset_at_hand", lambda dataset, where: False)  # 64 images: quicker
    result = _export(trained, "--format", "safetensors", "--out", out, "--force", "--check", "--json")
    assert result.exit_code == 0 and out.read_bytes()[8:9] == b"{", result.output
    document = json.loads(result.stdout)  # --json: the one object a benchmark table is made from
    assert document["wrote"] == str(out) and document["bytes"] == out.stat().st_size
    assert document["format"] == "safetensors" and document["checkpoint"] == str(trained / "best.pt")
    check = document["check"]
    assert check["same"] and check["samples"] == 64 and check["max_diff"] == 0.0 and check["batches"] == [1, 7, 56]


@pytest.mark.parametrize(
    "args,expect",
    [
        (["--format", "tflite"], "--format: unknown value 'tflite'; choose from onnx, torch-export, safetensors"),
        (["--format", "safetensors", "--out", "{tmp}/m.pt"], "a safetensors checkpoint must end in .safetensors"),
        (["--out", "{tmp}"], "is a folder; give the file to write"),
        (["--out", "{tmp}/no/such/m.onnx"], "does not exist; make it first"),
        (["--out", "{run}/best.pt", "--force"], "is the checkpoint being exported"),
        (["--out", "{run}/config.json", "--force"], "is the run's own config.json, which rnnlab reads back"),
        (["--out", "{run}/metrics.jsonl", "--force"], "is the run's own metrics.jsonl"),
        (["--out", "{run}/checkpoint.pt", "--force"], "is the run's own checkpoint.pt"),
        (["--out", "{run}/../run/metrics.csv"], "is the run's own metrics.csv"),  # not there yet, another spelling
        (["--checkpoint", "nothing.pt"], "--checkpoint: nothing.pt does not exist"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(trained, tmp_path, args, expect) -> None:
    before, here = file_hashes(trained), file_hashes(tmp_path)
    filled = [a.format(tmp=tmp_path, run=trained) for a in args]
    assert_one_error_line(_export(trained, *filled), expect)
    assert file_hashes(trained) == before and file_hashes(tmp_path) == here


def test_a_run_with_no_checkpoint_is_one_line(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    assert_one_error_line(_export(tmp_path / "empty"), "holds no best.pt or checkpoint.pt")
    assert list((tmp_path / "empty").iterdir()) == []


def test_checkpoint_picks_another_file_of_the_run(trained, tmp_path, monkeypatch) -> None:
    """A name inside RUN first, as its help says, though the current folder holds a file of that name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"not the run's")
    out = tmp_path / "last.safetensors"
    result = _export(trained, "--checkpoint", "checkpoint.pt", "--format", "safetensors", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"{trained / 'checkpoint.pt'} (" in result.stdout.splitlines()[0]


def test_a_model_a_format_cannot_hold_is_refused_naming_what(trained, tmp_path) -> None:
    from rnnlab.runs.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(trained)
    ckpt["config"]["model"]["zoneout"] = 0.1  # a zoneout model: its evaluation is no nn.LSTM operation
    save_checkpoint(tmp_path / "zoneout.pt", {k: v for k, v in ckpt.items() if k != "path"})
    for fmt in ("onnx", "torch-export"):
        assert_one_error_line(
            _export(tmp_path / "zoneout.pt", "--format", fmt, "--out", tmp_path / "z.out"),
            f"--format {fmt}: cannot hold this model's zoneout",
        )
    assert not (tmp_path / "z.out").exists()
    kept = _export(tmp_path / "zoneout.pt", "--format", "safetensors", "--out", tmp_path / "z.safetensors", "--check")
    assert kept.exit_code == 0 and "all 359 predictions the same" in kept.stdout, kept.output  # zoneout's own rule
    said = kept.stdout.splitlines()
    assert (
        said[2] == f"run it: rnnlab eval {tmp_path / 'z.safetensors'}; rnnlab predict {tmp_path / 'z.safetensors'} "
        "IMAGE (rnnlab computes zoneout's evaluation rule)"
    )
    assert said[3].startswith("note: zoneout's evaluation rule") and "compute a different model (" in said[3], said
    rnnlab = said[-1].split(", ")[1].removesuffix(" by rnnlab eval")  # the accuracy line's figure
    assert f"% on the test set against rnnlab's {rnnlab}); run it with rnnlab" in said[3], said
    assert "PyTorch's own layers" not in said[2]


def test_an_exporter_failure_names_the_operation_and_writes_nothing(trained, tmp_path, monkeypatch) -> None:
    def unexportable(self, x):  # an operation the ONNX exporter has no translation for
        return torch.special.zeta(x, x).sum((1, 2)).unsqueeze(1).expand(-1, 10)

    monkeypatch.setattr(PlainClassifier, "forward", unexportable)
    assert_one_error_line(
        _export(trained, "--out", tmp_path / "m.onnx"),
        "--format onnx: the exporter could not export aten::special_zeta (UnsupportedOperatorError: Exporting",
    )
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_inside_the_exporter_is_a_stop_and_a_wrapped_failure_gives_its_innermost_reason(
    trained, tmp_path, monkeypatch
) -> None:
    """torch's exporter wraps what went wrong in its own error ('... step 1/3 ... Next steps:'): a Ctrl-C inside it
    is the stop it was (130), and a failure's reason is the innermost cause's first line."""

    def wrapped(inner: BaseException):
        def export(*args, **kwargs):
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError("Failed to export the model with torch.export. Next steps:\n- x") from exc

        return export

    monkeypatch.setattr("torch.onnx.export", wrapped(KeyboardInterrupt()))
    result = _export(trained, "--out", tmp_path / "m.onnx")
    assert result.exit_code == 130 and "stopped" in result.stderr and "could not export" not in result.output
    monkeypatch.setattr("torch.export.export", wrapped(KeyboardInterrupt()))
    result = _export(trained, "--format", "torch-export", "--out", tmp_path / "m.pt2")
    assert result.exit_code == 130 and "stopped" in result.stderr and "could not export" not in result.output
    monkeypatch.setattr("torch.onnx.export", wrapped(ValueError("aten.frobnicate.default has no ONNX form\nmore")))
    line = assert_one_error_line(_export(trained, "--out", tmp_path / "m.onnx"), "--format onnx: the exporter")
    assert line.endswith("aten.frobnicate.default (ValueError: aten.frobnicate.default has no ONNX form)")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_the_model_fails_the_check_in_one_line(trained, tmp_path, monkeypatch) -> None:
    """The planted bug: the file, run in its own runtime, reverses the classes, so predictions differ. The file
    that failed is not left at --out, and the file --force would have replaced stays as it was."""
    fmt = FORMATS["safetensors"]  # the quickest to write: the check is the same for every format

    def reversed_classes(path):
        logits = fmt.runner(path)
        return lambda x: logits(x).flip(1)

    monkeypatch.setitem(FORMATS, "safetensors", replace(fmt, runner=reversed_classes))
    monkeypatch.setattr("rnnlab.export.check.dataset_at_hand", lambda dataset, where: False)  # 64 images: quicker
    out = tmp_path / "m.safetensors"
    result = _export(trained, "--format", "safetensors", "--out", out, "--check")
    line = assert_one_error_line(result, "--check: the exported file is not the same model")
    assert "predictions differ" in line and line.endswith(f"; {out} was not written")
    assert list(tmp_path.iterdir()) == [] and result.stdout == ""  # no temporary file either
    out.write_bytes(b"the previous export")
    result = _export(trained, "--format", "safetensors", "--out", out, "--check", "--force")
    assert assert_one_error_line(result, "predictions differ").endswith(f"; the previous {out} is kept")
    assert out.read_bytes() == b"the previous export" and list(tmp_path.iterdir()) == [out]


def test_ctrl_c_during_the_check_leaves_the_previous_file_and_no_temporary(trained, tmp_path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rnnlab.export.write.check_export", interrupted)
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"the previous export")
    result = _export(trained, "--format", "safetensors", "--out", out, "--check", "--force")
    assert result.exit_code == 130 and "stopped" in result.stderr, result.output
    assert out.read_bytes() == b"the previous export" and list(tmp_path.iterdir()) == [out]


def test_without_the_export_extra_one_line_says_how_to_install(trained, tmp_path, monkeypatch) -> None:
    for module in ("onnx", "safetensors.torch"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: its import fails
    assert_one_error_line(
        _export(trained, "--out", tmp_path / "m.onnx"),
        "needs onnx, which is not installed: pip install 'rnnlab[export]'",
    )
    assert_one_error_line(
        _export(trained, "--format", "safetensors", "--out", tmp_path / "m.safetensors"),
        "needs safetensors, which is not installed: pip install 'rnnlab[export]'",
    )
    assert list(tmp_path.iterdir()) == []
