"""A safetensors export is a complete checkpoint: Run.open reads it back to the same model, config, preprocessing
and place in training; a file that is not one, or one edited, is refused in one line, as a best.pt would be."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from rnnlab.cli import app
from rnnlab.data.preprocess import Preprocessing
from rnnlab.errors import UserError
from rnnlab.export.safetensors import write_safetensors
from rnnlab.runs.run import Run
from tests.conftest import assert_one_error_line
from tests.test_export_formats import make_run


@pytest.fixture
def exported(tmp_path):
    run = make_run(tmp_path, {"cell": "gru", "layers": 2, "bidirectional": True, "proj": 4}, {"sequence": "cols"})
    out = tmp_path / "model.safetensors"
    write_safetensors(run, out)
    return run, out


def _tensors_and_metadata(path):
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())  # noqa: SIM118 (no __iter__)


def test_it_reads_back_as_the_same_run(exported) -> None:
    run, out = exported
    back = Run.open(out)
    assert back.config == run.config and back.preprocessing == run.preprocessing and back.path == out
    assert back.saved == {"epoch": 1, "step": 1, "batch_in_epoch": None}
    mine, theirs = run.model.state_dict(), back.model.state_dict()
    assert list(mine) == list(theirs) and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert "rnns.1.weight_hh_l0_reverse" in mine and "proj.weight" in mine  # PyTorch's own names
    _, meta = _tensors_and_metadata(out)
    assert (
        meta["format"] == "rnnlab-checkpoint"
        and Preprocessing.from_dict(json.loads(meta["preprocessing"])) == run.preprocessing
    )
    assert meta["sequence"] == "cols" and "read as columns" in meta["input"]


def _edited(tmp_path, exported, tensors=None, **metadata):
    _, out = exported
    held, meta = _tensors_and_metadata(out)
    path = tmp_path / "edited.safetensors"
    save_file(held if tensors is None else tensors(held), str(path), metadata={**meta, **metadata})
    return path


@pytest.mark.parametrize(
    "edit,expect",
    [
        ({"format": "something-else"}, "is not an rnnlab checkpoint (no 'rnnlab-checkpoint' marker)"),
        ({"config": "{not json"}, "its config metadata is not JSON"),
        ({"version": "7"}, "is checkpoint format version 7"),
        ({"preprocessing": json.dumps({"dataset": "digits"})}, "has an unusable preprocessing"),
        ({"mean": "0.5"}, "its mean metadata ('0.5') is not its preprocessing's"),  # the copy others read
        ({"sequence": "rows"}, "its sequence metadata ('rows') is not its preprocessing's"),
    ],
)
def test_edited_metadata_is_refused_in_one_line(tmp_path, exported, edit, expect) -> None:
    path = _edited(tmp_path, exported, **edit)
    assert_one_error_line(CliRunner().invoke(app, ["eval", str(path)]), expect)


@pytest.mark.parametrize(
    "tensors,expect",
    [
        (lambda held: {k: v for k, v in held.items() if k != "head.bias"}, "holds another model than its config"),
        (lambda held: {**held, "head.bias": held["head.bias"].long()}, "holds no model weights"),
        (lambda held: {**held, "head.bias": held["head.bias"] * float("nan")}, "holds NaN or infinite values"),
    ],
)
def test_edited_weights_are_refused_in_one_line(tmp_path, exported, tensors, expect) -> None:
    with pytest.raises(UserError, match=expect.replace("(", r"\(")):
        Run.open(_edited(tmp_path, exported, tensors))


def test_a_file_that_is_no_safetensors_is_one_line(tmp_path) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    assert_one_error_line(CliRunner().invoke(app, ["eval", str(path)]), "is not a readable safetensors file")
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))  # a safetensors file, but no checkpoint
    line = assert_one_error_line(CliRunner().invoke(app, ["eval", str(bare)]), "no 'rnnlab-checkpoint' marker")
    assert line.endswith("give one written by `rnnlab export --format safetensors`")


@pytest.mark.parametrize("suffix,kind", [(".onnx", "an ONNX"), (".pt2", "a torch.export")])
def test_a_graph_export_given_to_eval_is_named_as_what_it_is(tmp_path, suffix, kind) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"PK\x03\x04 or an ONNX protobuf")
    for command in ("eval", "visualize"):
        assert_one_error_line(
            CliRunner().invoke(app, [command, str(path)]),
            f"{path} is {kind} file (from rnnlab export); eval, predict and visualize take a .pt checkpoint or a "
            ".safetensors export",
        )


def test_the_command_that_made_a_file_is_named_rnnlab_under_python_m(monkeypatch) -> None:
    from rnnlab.runs.config_file import made_by

    monkeypatch.setattr(sys, "argv", ["/site-packages/rnnlab/__main__.py", "export", "runs/a", "--check"])
    assert made_by()["command"] == "rnnlab export runs/a --check"
    monkeypatch.setattr(sys, "argv", ["/venv/bin/rnnlab", "train"])
    assert made_by()["command"] == "rnnlab train"


def test_a_file_cut_short_is_one_line_in_eval(exported, tmp_path) -> None:
    data = exported[1].read_bytes()
    for cut in (len(data) - 100, 20):  # in the tensors, in the header
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(data[:cut])
        assert_one_error_line(CliRunner().invoke(app, ["eval", str(path)]), "is not a readable safetensors file")


def test_a_foreign_file_is_refused_by_its_metadata_before_a_tensor_is_read(exported, tmp_path, monkeypatch) -> None:
    """One opening of the file, its metadata first: a file without the marker has no tensor read (any size)."""
    import safetensors.torch

    opened, read = [], []

    class Spy:
        def __init__(self, *args, **kwargs):
            self.inner = safe_open(*args, **kwargs)
            opened.append(args[0])

        def __enter__(self):
            self.f = self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def metadata(self):
            return self.f.metadata()

        def keys(self):
            return self.f.keys()

        def get_tensor(self, name):
            read.append(name)
            return self.f.get_tensor(name)

    monkeypatch.setattr(safetensors.torch, "safe_open", Spy)
    foreign = _edited(tmp_path, exported, format="something-else")
    assert_one_error_line(CliRunner().invoke(app, ["eval", str(foreign)]), "no 'rnnlab-checkpoint' marker")
    assert opened == [str(foreign)] and read == []
    Run.open(exported[1])  # an rnnlab file: opened once more, and every tensor read
    assert opened == [str(foreign), str(exported[1])] and "head.bias" in read


def test_without_safetensors_installed_eval_says_how_to_install(exported, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    result = CliRunner().invoke(app, ["eval", str(exported[1])])
    assert_one_error_line(result, "needs safetensors, which is not installed: pip install 'rnnlab[export]'")
