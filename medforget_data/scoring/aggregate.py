"""Aggregation: means with seeded bootstrap CIs, gaps between splits, utility against a reference."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
_MAX_DRAWS = 4_000_000  # indices drawn per block (32 MB)


def _bootstrap_means(array: np.ndarray, rng: np.random.Generator, samples: int) -> np.ndarray:
    # Resample in blocks so a large split never needs a samples × n index matrix at once; the
    # generator's stream is the same drawn in blocks or in one go.
    block = max(1, _MAX_DRAWS // array.size)
    return np.concatenate(
        [
            array[rng.integers(0, array.size, size=(min(block, samples - start), array.size))].mean(axis=1)
            for start in range(0, samples, block)
        ]
    )


def _interval(means: np.ndarray) -> tuple[float, float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def mean_ci(
    values: Sequence[float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap 95% interval of the mean, seeded."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = _interval(_bootstrap_means(array, np.random.default_rng(seed), samples))
    return float(array.mean()), low, high


def mean_gap_ci(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float, float]:
    """(gap, low, high) for the mean over pairs (one per task) of mean(minuend) − mean(subtrahend).

    Percentile bootstrap 95% interval, seeded: both sides are resampled independently in every draw
    (they are different items, e.g. retain and forget), and the task gaps are averaged per draw.
    Pairs with an empty side are left out, as the point estimate leaves them out.
    """
    arrays = [
        (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
        for a, b in pairs
        if len(a) and len(b)
    ]
    if not arrays:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = np.zeros(samples)
    for minuend, subtrahend in arrays:
        draws += _bootstrap_means(minuend, rng, samples) - _bootstrap_means(subtrahend, rng, samples)
    point = sum(gap(float(a.mean()), float(b.mean())) for a, b in arrays) / len(arrays)
    low, high = _interval(draws / len(arrays))
    return point, low, high


def finite_mean(values: Iterable[float | None], empty: float | None = math.nan) -> float | None:
    """Mean of the values that are numbers (None and NaN left out: unscored, or undefined), `empty`
    when there are none."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else empty


def gap(minuend: float, subtrahend: float) -> float:
    """A split gap such as retain − forget (larger means more selective forgetting)."""
    return float(minuend - subtrahend)


def relative(value: float, reference: float) -> float:
    """value / reference; NaN when the reference is 0."""
    return float(value / reference) if reference else float("nan")
