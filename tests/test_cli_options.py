"""Every option comes from the config field that declares it; help is fast, torch-free and shows the choices."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnlab import __version__
from rnnlab.cli import app
from rnnlab.cli.options import SHORT_CHOICES, Default, takes
from rnnlab.config import DataConfig, ModelConfig, TrainConfig, flag_of
from rnnlab.errors import flag_name

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "train", "eval", "runs", "compare-cells", "gradcheck", "compare-runs", "visualize", "inspect", "predict", "export",
    "playground",
)  # fmt: skip


def _help(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize("cls", [ModelConfig, DataConfig, TrainConfig])
def test_train_offers_every_flag_backed_field_with_its_help_and_choices(cls) -> None:
    text = _help("train")
    for f in dataclasses.fields(cls):
        flag = flag_of(f)
        if flag is None or not flag.cli:
            continue
        assert flag_name(f.name) in text, f.name
        assert " ".join(flag.help.replace("\\[", "[").split()) in text, f.name
        if flag.choices:  # the choices, not `<str>`: in the metavar where short, else by the setting's name
            listed = "|".join(flag.choices)
            assert (flag.metavar or (listed if len(listed) <= SHORT_CHOICES else f.name.upper())) in text, f.name
            assert all(choice in text for choice in flag.choices), f.name  # and each choice named in the help


def test_help_names_no_python_types() -> None:
    for command in COMMANDS:
        text = _help(command)
        for noise in ("<str>", "<bool>", "<list", "{run}", "<path>"):
            assert noise not in text, (command, noise)


def test_help_answers_without_importing_torch() -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rnnlab.cli import app\n"
        f"for args in ([], *[[c] for c in {COMMANDS!r}]):\n"
        "    assert CliRunner().invoke(app, [*args, '--help']).exit_code == 0, args\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_version_and_short_help() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith(f"rnnlab {__version__}, torch ")
    assert CliRunner().invoke(app, ["-h"]).exit_code == 0
    assert "Usage:" in CliRunner().invoke(app, ["train", "-h"]).output


def test_help_keeps_sentences_whole_at_any_width() -> None:
    """The docstrings' line breaks are the source's, not the terminal's: help reflows them."""
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["train", "--help"])
    assert "reading MNIST row by row, the model of the classic TensorFlow" in result.output, result.output
    listing = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--help"]).output
    assert "the prediction after each step." in listing and "Needs no dataset" not in listing  # its first sentence


def test_rnnlab_alone_shows_the_help_and_no_empty_error() -> None:
    result = CliRunner().invoke(app, [])
    assert "Usage:" in result.output and "error" not in result.output, result.output


def test_shell_completion_is_offered() -> None:
    text = _help()
    assert "--install-completion" in text and "--show-completion" in text


def test_a_command_can_set_its_own_default_and_says_so() -> None:
    assert "[default: 1]" in _help("compare-cells").split("--layers")[1].split("--")[0]
    assert "[default: 2]" in _help("train").split("--layers")[1].split("--")[0]


def test_values_are_checked_by_the_field_and_errors_name_the_flag(tmp_path) -> None:
    cases = {
        ("--lr", "nan"): "--lr: must be a finite number",
        ("--lr", "inf"): "--lr: must be a finite number",
        ("--dropout", "-0.1"): "--dropout: must be in [0, 1)",
        ("--hidden", "64,0"): "--hidden",
        ("--final-lr-ratio", "2"): "--final-lr-ratio: must be in [0, 1]",
    }
    for args, expect in cases.items():
        result = CliRunner().invoke(app, ["train", *args, "--out", str(tmp_path / "r")])
        assert result.exit_code == 2, (args, result.output)
        assert expect in result.stderr, (args, result.stderr)
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("how", [{"only": ("epochs", "epoch")}, {"defaults": {"devcie": Default("cpu")}}])
def test_a_name_no_config_declares_fails_at_import(how) -> None:
    """A typo in a command's option list would silently drop the option: it fails where the command is declared."""
    with pytest.raises(TypeError, match=r"takes\(\): (epoch|devcie) is no flag of TrainConfig"):
        takes(TrainConfig, **how)


def _app_commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return group.list_commands(typer.Context(group))


def test_the_help_tests_cover_every_command() -> None:
    assert sorted(COMMANDS) == sorted(_app_commands())


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_help_reads_whole_at_80_columns(command: str) -> None:
    """No line past 80 columns, nothing cut short (…), every option's every name whole on the page, and the help
    beside the names at least 40 columns wide (typer's own layout left `train` a word or two a line)."""
    import re

    import typer.main

    args = [command] if command else []
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in result.output, result.output
    group = typer.main.get_command(app)
    cmd = group.get_command(typer.Context(group), command) if command else group
    for param in cmd.params:
        for name in [*param.opts, *param.secondary_opts]:
            if name.startswith("-"):
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.output), (command, name)
    boxed = [line for line in lines if line.startswith("│ ")]
    starts = {len(line) - len(line[2:].lstrip()) for line in boxed if line[2:].startswith(" ")}  # help columns
    assert all(80 - start >= 40 for start in starts), (command, sorted(starts))


def test_train_help_at_80_columns_is_read_in_one_page_per_panel() -> None:
    text = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["train", "--help"]).output
    assert len(text.splitlines()) < 200, len(text.splitlines())  # 294 in typer's layout
    words = " ".join(text.replace("│", " ").split())  # the panels' borders out of the way
    assert "One of cudnn|unrolled|bptt|triton." in words  # --engine's choices, whole
    assert "--reuse-cpu-memory" in text and "--no-reuse-cpu-memory" in text
    assert "[default: 5; digits: 40]" in text  # a bracketed default is never broken across lines


def test_compare_cells_help_names_every_engine() -> None:
    from rnnlab.cells import ENGINES

    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["compare-cells", "--help"])
    engines = " ".join(result.output.split("--engines", 1)[1].split("--repeats", 1)[0].replace("│", " ").split())
    assert f"of {', '.join(ENGINES)}" in engines, engines
