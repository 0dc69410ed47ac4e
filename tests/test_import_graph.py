"""The code's shape, read from the AST of every module (imports inside functions count: moving an
import into a function hides a dependency, it does not remove it): no import cycle, nothing in the
library imports the CLI or the top-level builders/, eval/, hub_card/ folders, no long function."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# where each importable name's files live (pyproject maps the top-level folders under medforget_data)
PACKAGE_ROOTS = {
    "medforget_data": REPO / "medforget_data",
    "medforget_data.builders": REPO / "builders",
    "medforget_data.eval": REPO / "eval",
    "medforget_data.hub_card": REPO / "hub_card",
}
MAX_FUNCTION_LINES = 80


def modules(roots: dict[str, Path]) -> dict[str, Path]:
    """Module name → file, for every .py file under the roots."""
    found = {}
    for prefix, root in roots.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The known modules `module` imports anywhere in its file (relative imports resolved)."""
    targets: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports that module; `from module import name`, the module
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        for name in names:
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in known and name != module:
                targets.add(name)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def import_graph(roots: dict[str, Path]) -> dict[str, set[str]]:
    known = modules(roots)
    return {name: imported(name, path, known) for name, path in known.items()}


def test_the_scan_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from . import c\n")
    (package / "c.py").write_text("import os\n\ndef f():\n    from .a import thing\n")
    (package / "d.py").write_text("from pkg import a\n")
    (package / "sub" / "__init__.py").write_text("from .. import d\n")
    (package / "sub" / "e.py").write_text("def g():\n    from ..sub import f\n    import pkg.d.name\n")
    (package / "sub" / "f.py").write_text("")
    graph = import_graph({"pkg": package})
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.d"] == {"pkg.a"} and graph["pkg.sub"] == {"pkg.d"}
    assert graph["pkg.sub.e"] == {"pkg.sub.f", "pkg.d"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph(PACKAGE_ROOTS)
    assert len(graph) > 100 and "medforget_data.pipeline.runner" in graph
    assert cycles(graph) == []


def under(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


CLI = "medforget_data.cli"
OUTSIDE_THE_LIBRARY = ("medforget_data.builders", "medforget_data.eval", "medforget_data.hub_card")


def test_nothing_but_the_cli_imports_the_cli() -> None:
    graph = import_graph(PACKAGE_ROOTS)
    offenders = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not under(module, CLI)
        for target in targets
        if under(target, CLI)
    ]
    assert offenders == []


def test_the_library_never_imports_builders_eval_or_hub_card() -> None:
    # The loader used to import builders/ to build on first use, and the package's __init__ eval/:
    # a circle hidden from the import graph. Reading a data file of those packages is fine.
    graph = import_graph(PACKAGE_ROOTS)
    assert "medforget_data.builders.hub_folder" in graph and "medforget_data.dataset.load" in graph
    offenders = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not under(module, CLI, *OUTSIDE_THE_LIBRARY)
        for target in targets
        if under(target, *OUTSIDE_THE_LIBRARY)
    ]
    assert offenders == []


def test_no_function_longer_than_80_lines() -> None:
    long = []
    for path in sorted((REPO / "medforget_data").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []
