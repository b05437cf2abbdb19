"""The shape of the source tree (issue 10): longest functions, largest modules, import cycles.

    python benchmarks/code_shape.py            # the table BENCHMARKS.md quotes
    python benchmarks/code_shape.py --cycles   # every import edge that closes a cycle
    python benchmarks/code_shape.py --modules  # cycles between single modules as well

A function's length counts its lines from ``def`` (decorators excluded) to its last line,
docstring included. Import edges are every ``import`` / ``from ... import`` anywhere in a
module (inside functions and ``if TYPE_CHECKING:`` blocks too: a lazy import hides a cycle,
it does not remove it), between the top-level parts of ``miaudit`` (subpackages such as
``pipeline`` and single modules such as ``outputs``). ``--modules`` also finds the cycles
between modules (inside a part too, e.g. ``reference._engine <-> reference._batched``);
there ``from package import submodule`` is an edge to the submodule only (importing a
submodule runs its package's ``__init__`` first, which is not a cycle of its own).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "miaudit"


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(module: str, path: Path) -> set[str]:
    """Every miaudit module ``module`` imports, anywhere in its file."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("miaudit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.startswith("miaudit"):
                found.add(base)
                found |= {f"{base}.{a.name}" for a in node.names}
    return found


def part(module: str) -> str:
    """The top-level part of the package a module belongs to ("miaudit.pipeline.api" ->
    "pipeline"); the package's own __init__ is "miaudit"."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "miaudit"


def part_graph(src: Path = SRC) -> dict[tuple[str, str], list[str]]:
    """(from part, to part) -> the module-level imports that make the edge."""
    mods = modules(src)
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in mods.items():
        for target in imported(name, path):
            if target not in mods:  # "from miaudit.x import name" of a non-module name
                continue
            a, b = part(name), part(target)
            if a != b and a != "miaudit" and b != "miaudit":
                edges.setdefault((a, b), []).append(f"{name} -> {target}")
    return edges


def module_graph(src: Path = SRC) -> dict[tuple[str, str], list[str]]:
    """(from module, to module) -> the import that makes the edge, for every module."""
    mods = modules(src)
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            found: set[str] = set()
            if isinstance(node, ast.Import):
                found = {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                subs = {f"{base}.{a.name}" for a in node.names}
                found = subs & mods.keys() or {base}
                if subs - mods.keys():  # names of the package itself, not submodules
                    found.add(base)
            for target in found & mods.keys() - {name}:
                edges.setdefault((name, target), []).append(f"{name} -> {target}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan; nodes are parts or
    modules), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def functions(src: Path = SRC) -> list[tuple[int, str]]:
    """(length in lines, "module:qualname") of every function and method."""
    out = []
    for name, path in modules(src).items():
        tree = ast.parse(path.read_text())

        def walk(node: ast.AST, prefix: str, module: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    qual = f"{prefix}{child.name}"
                    out.append((child.end_lineno - child.lineno + 1, f"{module}:{qual}"))
                    walk(child, f"{qual}.", module)
                elif isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.", module)

        walk(tree, "", name)
    return sorted(out, reverse=True)


def module_sizes(src: Path = SRC) -> list[tuple[int, str]]:
    return sorted(
        ((len(p.read_text().splitlines()), n) for n, p in modules(src).items()), reverse=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", action="store_true", help="list the edges of each cycle")
    parser.add_argument(
        "--modules", action="store_true", help="also list the cycles between single modules"
    )
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    print("longest functions (lines):")
    for n, name in functions()[: args.top]:
        print(f"  {n:5d}  {name}")
    print("largest modules (lines):")
    for n, name in module_sizes()[: args.top]:
        print(f"  {n:5d}  {name}")
    edges = part_graph()
    groups = cycles(edges)
    print(f"import cycles between parts of miaudit: {len(groups)}")
    for g in groups:
        print("  " + " <-> ".join(g))
        if args.cycles:
            for (a, b), how in sorted(edges.items()):
                if a in g and b in g:
                    print(f"      {a} -> {b}: {', '.join(how[:3])}")
    if args.modules:
        module_edges = module_graph()
        groups = cycles(module_edges)
        print(f"import cycles between modules of miaudit: {len(groups)}")
        for g in groups:
            print("  " + " <-> ".join(g))
            for (a, b), _ in sorted(module_edges.items()):
                if a in g and b in g:
                    print(f"      {a} -> {b}")


if __name__ == "__main__":
    main()
