"""The package's floors: every import inside rnnlab/ runs down the house, never up or sideways.

Read from the source (every import statement, those inside functions and under TYPE_CHECKING too), so a new
upward import fails here the day it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rnnlab"

# bottom first; packages on one floor never import each other
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "lazy", "text", "version"),
    ("reading", "extras"),
    ("cells",),
    ("config",),
    ("data", "model"),
    ("runtime",),
    ("runs",),
    ("train", "look", "lab", "export"),
    ("playground",),  # the page reads a run through look (rnnlab.load, predict, the trace)
    ("cli",),
    ("__main__",),
)
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}


def _home(path: Path) -> str:
    """The package (or top-level module) a file belongs to."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imports_of(path: Path) -> set[str]:
    """The rnnlab packages and top-level modules a file imports, by their name under rnnlab."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = node.module.split(".")
            if names[0] != "rnnlab":
                continue
            if len(names) > 1:
                found.add(names[1])
            else:  # from rnnlab import cells, runs
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("rnnlab."))
    return found


def wrong_imports(files: list[Path]) -> list[str]:
    wrong = []
    for path in files:
        home = _home(path)
        if home == "__init__":  # the package's own front door names its exports lazily, as strings
            continue
        for target in sorted(imports_of(path) - {home}):
            if target not in FLOOR:
                wrong.append(f"{path.relative_to(PACKAGE)} imports rnnlab.{target}, which has no floor in FLOORS")
            elif FLOOR[target] >= FLOOR[home]:
                wrong.append(f"{path.relative_to(PACKAGE)} ({home}) imports {target}, on its floor or above")
    return wrong


def test_every_import_runs_down() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    assert wrong_imports(files) == []


def test_every_package_has_a_floor() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(FLOOR) == set()


@pytest.mark.parametrize(
    ("home", "source", "why"),
    [
        ("look", "from rnnlab.train.loop import fit\n", "look imports train"),
        ("train", "def f():\n    from rnnlab.look import probe\n", "train imports look, inside a function"),
        ("runs", "from rnnlab import train\n", "runs imports train"),
        ("runtime", "import rnnlab.runs.folder\n", "runtime imports runs"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: str, source: str, why: str):
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path)
    planted = tmp_path / home / "planted.py"
    planted.parent.mkdir()
    planted.write_text(source)
    assert len(wrong_imports([planted])) == 1, why


def _lazy_declarations(init: Path) -> tuple[set[str], set[str]]:
    """What a lazy package's ``submodules(...)`` call names (submodules and exports), and what its TYPE_CHECKING
    block imports for the type checker."""
    tree = ast.parse(init.read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "submodules")
    lazy = set(ast.literal_eval(call.args[1]))
    for keyword in call.keywords:
        if keyword.arg == "exports":
            lazy |= set(ast.literal_eval(keyword.value))
    checked: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            checked |= {a.name for n in node.body if isinstance(n, ast.ImportFrom) for a in n.names}
    return lazy, checked


LAZY = sorted(p for p in PACKAGE.rglob("__init__.py") if "submodules(" in p.read_text())


@pytest.mark.parametrize("init", LAZY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_lazy_name_is_declared_for_the_type_checker(init: Path) -> None:
    """A name that loads on first use but is missing under TYPE_CHECKING is an Any to mypy, and a typo in it passes."""
    lazy, checked = _lazy_declarations(init)
    assert lazy == checked


def test_the_lazy_packages_are_found() -> None:
    assert {p.parent.name for p in LAZY} >= {"rnnlab", "data", "look", "runs", "train", "runtime", "model", "lab"}
