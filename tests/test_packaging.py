"""The explicit package list in pyproject.toml must name every package directory of the repo."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = {source: package for package, source in tool["package-dir"].items()}
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        relative = init.parent.relative_to(ROOT)
        if relative.parts[0] in mapping and not any(p.startswith(".") for p in relative.parts):
            found.add(".".join([mapping[relative.parts[0]], *relative.parts[1:]]))
    assert found == set(tool["packages"])
