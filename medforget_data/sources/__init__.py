"""Source registry: name → source object. Sources are imported lazily, on first use."""

from __future__ import annotations

import importlib

from medforget_data.errors import check_choice
from medforget_data.sources.base import Source, SourceLoad, SourceOptions

# name -> module defining `SOURCE`
SOURCE_MODULES: dict[str, str] = {
    "openi": "medforget_data.sources.openi",
    "synthetic": "medforget_data.sources.synthetic",
    "mimic-cxr": "medforget_data.sources.mimic",
}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCE_MODULES)
DEFAULT_SOURCE = "openi"


def get_source(name: str) -> Source:
    check_choice("source", name, SOURCE_NAMES)
    return importlib.import_module(SOURCE_MODULES[name]).SOURCE


__all__ = ["SOURCE_NAMES", "DEFAULT_SOURCE", "Source", "SourceLoad", "SourceOptions", "get_source"]
