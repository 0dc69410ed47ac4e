"""Aggregation: means with seeded bootstrap CIs, gaps between splits, utility against a reference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
_MAX_DRAWS = 4_000_000  # indices drawn per block (32 MB)


def mean_ci(
    values: Sequence[float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap 95% interval of the mean, seeded."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # Resample in blocks so a large split never needs a samples × n index matrix at once; the
    # generator's stream is the same drawn in blocks or in one go.
    block = max(1, _MAX_DRAWS // array.size)
    means = np.concatenate(
        [
            array[rng.integers(0, array.size, size=(min(block, samples - start), array.size))].mean(axis=1)
            for start in range(0, samples, block)
        ]
    )
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(array.mean()), float(low), float(high)


def gap(minuend: float, subtrahend: float) -> float:
    """A split gap such as retain − forget (larger means more selective forgetting)."""
    return float(minuend - subtrahend)


def relative(value: float, reference: float) -> float:
    """value / reference; NaN when the reference is 0."""
    return float(value / reference) if reference else float("nan")
