"""Forget quality against the retrain oracle (TOFU style).

The per-item forget statistic is the mean answer-token log-likelihood of each forget item (the
LOSS statistic of `mia.py`); forget quality is the two-sample Kolmogorov–Smirnov p-value between
the unlearned model's and the oracle's statistics: near 1 means indistinguishable from retraining.
The plain distance is the mean absolute difference of per-item forget scores from the oracle's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scipy.stats import ks_2samp


def ks_forget_quality(unlearned: Sequence[float], oracle: Sequence[float]) -> float:
    return float(ks_2samp(unlearned, oracle).pvalue)


def score_distance(unlearned: Mapping[str, float | None], oracle: Mapping[str, float | None]) -> float:
    """Mean |score − oracle score| over the items both scored."""
    shared = [k for k, v in unlearned.items() if v is not None and oracle.get(k) is not None]
    if not shared:
        return float("nan")
    return sum(abs(unlearned[k] - oracle[k]) for k in shared) / len(shared)
