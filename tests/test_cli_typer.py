"""The typer releases rnnlab is tested against: pyproject's bound and cli/typer_adapt.py say the same, and the
installed typer lies inside it. A new typer release is let in by raising both, after the suite passes on it."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

from rnnlab.cli.typer_adapt import TESTED

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_pyproject_bounds_typer_as_the_adaptations_were_tested() -> None:
    (typer_dep,) = re.findall(r'"(typer\b[^"]*)"', PYPROJECT.read_text())  # tomllib is Python >= 3.11
    assert typer_dep.replace(" ", "") == f"typer>={TESTED[0]},<{TESTED[1]}"


def test_the_installed_typer_is_inside_the_tested_bounds() -> None:
    installed = _release(version("typer"))
    assert _release(TESTED[0]) <= installed < _release(TESTED[1])
