"""The code's shape, read from the AST of every module (imports inside functions count: moving an
import into a function hides a dependency, it does not remove it): no import cycle, nothing in the
library imports the CLI or the top-level builders/, eval/, hub_card/ folders, no long function."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.import_scan import PACKAGE_ROOTS, REPO, cycles, import_graph

MAX_FUNCTION_LINES = 80


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
