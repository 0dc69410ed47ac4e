"""`evaluate.load("medforget_metric")` registration, under its historical name; the library owns it
(see medforget_data/scoring/evaluate_hook.py: importing medforget_data installs the hook, and the
library never imports eval/)."""

from medforget_data.scoring.evaluate_hook import (
    CACHED_NAME,
    METRIC_NAME,
    install_hook,
    register_metric,
)

__all__ = ["CACHED_NAME", "METRIC_NAME", "install_hook", "register_metric"]
