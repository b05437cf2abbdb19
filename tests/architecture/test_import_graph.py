"""The package's import graph (issue 10, constraints): every part imports on its own in a fresh
interpreter, and no two parts of ``miaudit`` import each other, directly or through others.

The graph is read from the source (``benchmarks/code_shape.py``): every import statement
counts, those inside functions and ``if TYPE_CHECKING:`` blocks too, because a lazy import
hides a cycle rather than removing it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "miaudit"


def _code_shape():
    spec = importlib.util.spec_from_file_location(
        "code_shape", ROOT / "benchmarks" / "code_shape.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parts() -> list[str]:
    """Every subpackage and top-level module of miaudit, as an importable name."""
    names = []
    for path in sorted(SRC.iterdir()):
        if path.is_dir() and (path / "__init__.py").exists():
            names.append(f"miaudit.{path.name}")
        elif path.suffix == ".py" and path.stem != "__init__":
            names.append(f"miaudit.{path.stem}")
    return names


@pytest.mark.parametrize("name", _parts())
def test_part_imports_in_a_fresh_interpreter(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_import_cycle_between_parts() -> None:
    shape = _code_shape()
    edges = shape.part_graph()
    groups = shape.cycles(edges)
    detail = [
        f"{a} -> {b}: {how[0]}"
        for group in groups
        for (a, b), how in sorted(edges.items())
        if a in group and b in group
    ]
    assert groups == [], "import cycles between parts of miaudit:\n" + "\n".join(detail)


def test_cycle_finder_finds_a_planted_cycle(tmp_path: Path) -> None:
    """The check can fail: a tree whose parts a and b import each other (b lazily, inside a
    function, as a cycle is usually hidden) is reported, and the acyclic part c is not."""
    pkg = tmp_path / "miaudit"
    for part in ("a", "b", "c"):
        (pkg / part).mkdir(parents=True)
        (pkg / part / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from miaudit.b import y\n")
    (pkg / "b" / "y.py").write_text("def f():\n    from miaudit.a.x import g\n")
    (pkg / "c" / "z.py").write_text("import miaudit.a.x\n")
    shape = _code_shape()
    assert shape.cycles(shape.part_graph(pkg)) == [["a", "b"]]


def test_no_import_cycle_between_modules() -> None:
    """Finer than parts: no two modules import each other (e.g. reference._engine and
    reference._batched did, through private names; a package's __init__ importing its
    submodules is not counted, see ``code_shape.module_graph``)."""
    shape = _code_shape()
    groups = shape.cycles(shape.module_graph())
    assert groups == [], f"import cycles between modules: {groups}"
