"""The 95% intervals of the report's means (question 7): a percentile bootstrap for a group of up
to :data:`BOOTSTRAP_UP_TO` customers, the normal interval for a larger one.

The bootstrap re-draws a group's values :data:`BOOTSTRAP_SAMPLES` times, so its cost grows with
the group's size: at a million customers it is about ten billion random draws for the report's
eight groups. For a group that large the bootstrap distribution of a mean is the normal one
(the central limit theorem), so its percentile interval is the mean give or take 1.96 standard
errors up to the bootstrap's own random error (:func:`normal_mean_ci`); the real data's groups
(hundreds and thousands of customers) keep the bootstrap, and with it the report they had.
A report says which interval each group has (:func:`interval_note`).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_UP_TO = 20_000
"""The largest group whose interval is bootstrapped (2,000 draws of 20,000 values: about 0.5 s)."""
BOOTSTRAP, NORMAL = "bootstrap", "normal"
_BOOTSTRAP_CELLS = 4_000_000  # resampled values held in memory at once


def bootstrap_mean_ci(
    values: np.ndarray,
    rng: np.random.Generator,
    *,
    n_samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (vectorised, in memory-bounded batches)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return (math.nan, math.nan)
    batch = max(1, _BOOTSTRAP_CELLS // values.size)
    means = np.concatenate(
        [
            values[
                rng.integers(0, values.size, size=(min(batch, n_samples - done), values.size))
            ].mean(axis=1)
            for done in range(0, n_samples, batch)
        ]
    )
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return (float(low), float(high))


def normal_mean_ci(values: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """The mean give or take ``z`` standard errors (``z`` = 1.96 at 95%); the standard error is
    the values' standard deviation over the square root of their number."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return (math.nan, math.nan)
    mean = float(values.mean())
    half = NormalDist().inv_cdf(1 - (1 - level) / 2) * float(values.std(ddof=1)) / math.sqrt(
        values.size)
    return (mean - half, mean + half)


def mean_ci(values: np.ndarray, rng: np.random.Generator, *,
            up_to: int | None = None) -> tuple[tuple[float, float], str]:
    """A group's 95% interval of the mean and which it is (:data:`BOOTSTRAP` up to ``up_to``
    values, default :data:`BOOTSTRAP_UP_TO`, else :data:`NORMAL`; ``rng`` is drawn from only by
    the bootstrap)."""
    limit = BOOTSTRAP_UP_TO if up_to is None else up_to
    if np.size(values) <= limit:
        return bootstrap_mean_ci(values, rng), BOOTSTRAP
    return normal_mean_ci(values), NORMAL


def interval_kinds(comparisons: list[dict]) -> dict[str, str]:
    """Which interval each group ("insiders", "rest") has in ``comparisons`` (the report's
    evidence and out-of-time spend): a comparison without ``intervals`` is bootstrapped, as every
    report made before the normal interval was."""
    kinds = {"insiders": BOOTSTRAP, "rest": BOOTSTRAP}
    for comparison in comparisons:
        for group, kind in (comparison.get("intervals") or {}).items():
            if kind == NORMAL:
                kinds[group] = NORMAL
    return kinds


def interval_note(kinds: dict[str, str], sizes: dict[str, int]) -> str:
    """Question 7's note on its intervals when a group has the normal one, for people."""
    names = {"insiders": "the Insiders", "rest": "the other customers"}
    drawn = [g for g in ("insiders", "rest") if kinds.get(g) != NORMAL]
    normal = [g for g in ("insiders", "rest") if kinds.get(g) == NORMAL]
    parts = [
        "*A 95% confidence interval is the range the mean would fall in 95 times out of 100 had "
        "we seen other customers like these."
    ]
    if drawn:
        parts.append(
            f"For {_groups(drawn, names, sizes)} it is found by re-drawing the customers at "
            f"random {BOOTSTRAP_SAMPLES:,} times (bootstrap)."
        )
    parts.append(
        f"For {_groups(normal, names, sizes)}, more than {BOOTSTRAP_UP_TO:,} customers, "
        "re-drawing would give the same range at a much greater cost, so it is the mean give "
        "or take 1.96 standard errors (the spread of the values divided by the square root of "
        "the number of customers).*"
    )
    return " ".join(parts)


def _groups(groups: list[str], names: dict[str, str], sizes: dict[str, int]) -> str:
    return " and ".join(f"{names[g]} ({sizes.get(g, 0):,} customers)" for g in groups)
