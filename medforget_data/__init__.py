"""MedForget: a hierarchy-aware multimodal unlearning benchmark for medical AI.

`load_dataset("medforget", level=...)` returns a level's splits; `evaluate.load("medforget_metric")`
loads the MedForget metric (registered in evaluate's module cache, see scoring/evaluate_hook.py), and
`metric_path()` is the path `evaluate.load` also takes for it.
"""

from __future__ import annotations

from medforget_data.scoring.evaluate_hook import install_hook as _install_hook

__version__ = "0.1.0"

# Normally done at interpreter start by medforget-evaluate.pth; again here for `python -S` and co.
_install_hook()


def load_dataset(name_or_path: str = "medforget", level: str = "institution", **kwargs):
    from medforget_data.dataset.load import load_dataset as _load

    return _load(name_or_path, level=level, **kwargs)


def metric_path() -> str:
    from medforget_data.scoring.paths import metric_path as _metric_path

    return _metric_path()


__all__ = ["__version__", "load_dataset", "metric_path"]
