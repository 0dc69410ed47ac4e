"""Source registry: name → source object. Sources are imported lazily, on first use."""

from __future__ import annotations

import importlib

from medforget_data.dataset.sources.base import Source, SourceLoad, SourceOptions
from medforget_data.errors import check_choice

# name -> module defining `SOURCE`
SOURCE_MODULES: dict[str, str] = {
    "openi": "medforget_data.dataset.sources.openi",
    "synthetic": "medforget_data.dataset.sources.synthetic",
    "mimic-cxr": "medforget_data.dataset.sources.mimic",
}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCE_MODULES)
DEFAULT_SOURCE = "openi"


def get_source(name: str) -> Source:
    check_choice("source", name, SOURCE_NAMES)
    return importlib.import_module(SOURCE_MODULES[name]).SOURCE


__all__ = ["SOURCE_NAMES", "DEFAULT_SOURCE", "Source", "SourceLoad", "SourceOptions", "get_source"]
