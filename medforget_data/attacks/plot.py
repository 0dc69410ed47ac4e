"""Leakage curves: reconstruction recovery per context depth, one line per method."""

from __future__ import annotations

from pathlib import Path

from medforget_data.errors import MedForgetError
from medforget_data.scoring.results import Results


def plot_leakage(results_by_method: dict[str, Results], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for method, results in sorted(results_by_method.items()):
        if results.attacks is None:
            raise MedForgetError(f"the results of {method} have no attacks to plot")
        section = results.attacks.reconstruction
        axis.plot(section.depths, [section.recovery[d] for d in section.depths], marker="o", label=method)
    level = next(iter(results_by_method.values())).level
    axis.set_xlabel("hierarchical context added")
    axis.set_ylabel("forget score recovered")
    axis.set_title(f"Reconstruction attack — {level} level")
    axis.set_ylim(0, 1)
    axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
