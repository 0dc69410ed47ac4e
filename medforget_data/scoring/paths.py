"""Where the `evaluate` metric module lives, for `evaluate.load(metric_path())`."""

from __future__ import annotations

from importlib.resources import files


def metric_path() -> str:
    # pyproject maps the repo's eval/ folder to the installed package medforget_data.eval, so this
    # resolves in a checkout (editable install) and in an installed wheel alike.
    return str(files("medforget_data.eval").joinpath("medforget_metric"))
