"""Small pure statistics for the alert rules (no scipy at run time).

The fresh slice of a cluster is small (tens of items) and per-item costs are heavy-tailed
(reference/alerting.md 3), so the tests here are the ones that hold for that: a rank test for
costs and latencies, exact hypergeometric tails for counts, and Benjamini-Hochberg to control
the false discoveries of the ~150 tests of one run together. `tests/domain/test_stats.py` pins
each against scipy.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple


class ProportionTest(NamedTuple):
    """`z` is signed (positive when the second proportion is larger); `p_value` is two-sided."""

    z: float
    p_value: float


def two_proportion_z_test(
    share_a: float, total_a: int, share_b: float, total_b: int
) -> ProportionTest:
    """Test whether two sample proportions differ, with the pooled standard error.

    Used where no fresh slice exists (evaluation runs, whose items all carry the window end as
    their timestamp) and two whole runs are compared. Consecutive runs share items, which makes
    the samples positively correlated; treating them as independent overstates the variance,
    so the test errs on the quiet side. Degenerate inputs (a proportion of exactly 0 or 1 in
    both samples) have no sampling variance: equal shares give p = 1, different ones p = 0.
    """
    if total_a <= 0 or total_b <= 0:
        raise ValueError("both samples need at least one item")
    pooled = (share_a * total_a + share_b * total_b) / (total_a + total_b)
    variance = pooled * (1.0 - pooled) * (1.0 / total_a + 1.0 / total_b)
    diff = share_b - share_a
    if variance <= 0.0:
        return (
            ProportionTest(0.0, 1.0)
            if diff == 0.0
            else ProportionTest(math.copysign(math.inf, diff), 0.0)
        )
    z = diff / math.sqrt(variance)
    return ProportionTest(z, math.erfc(abs(z) / math.sqrt(2.0)))


def rank_test_greater(sample: Sequence[float], reference: Sequence[float]) -> float:
    """One-sided Mann-Whitney U: p that `sample` is not stochastically larger than `reference`.

    Normal approximation with tie and continuity corrections (scipy's `mannwhitneyu(...,
    alternative="greater", method="asymptotic")`). Ranks make it indifferent to the heavy
    tails of per-item costs: one $2 trace moves it no more than any other large value.
    """
    n1, n2 = len(sample), len(reference)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([*sample, *reference])
    n = n1 + n2
    # A value's mean rank over its ties: positions [left, right) hold it, ranks left+1..right.
    rank_sum = sum((bisect_left(pooled, v) + bisect_right(pooled, v) + 1) / 2.0 for v in sample)
    ties = float(sum(size**3 - size for size in Counter(pooled).values() if size > 1))
    u = rank_sum - n1 * (n1 + 1) / 2.0
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0.0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def count_test(hits: int, draws: int, other_hits: int, other_draws: int) -> tuple[float, float]:
    """Fisher's exact test of `hits/draws` against `other_hits/other_draws`.

    Returns the one-sided p-values `(greater, less)`: the chance of at least (at most) `hits`
    among `draws` if both groups had the same rate. Exact, so right for the small counts of a
    cluster's fresh slice (2 errors in 21 items) as for the large ones of a whole run.
    """
    if draws <= 0 or other_draws <= 0:
        return 1.0, 1.0
    population = draws + other_draws
    successes = hits + other_hits
    low = max(0, draws - (population - successes))
    high = min(draws, successes)
    logs = [_log_hypergeom(x, population, successes, draws) for x in range(low, high + 1)]
    peak = max(logs)
    weights = [math.exp(value - peak) for value in logs]
    total = sum(weights)
    at = hits - low
    greater = sum(weights[at:]) / total
    less = sum(weights[: at + 1]) / total
    return min(1.0, greater), min(1.0, less)


def binomial_tails(hits: float, draws: float, p: float) -> tuple[float, float]:
    """`(P(X >= hits), P(X <= hits))` for X ~ Binomial(`draws`, `p`), through the regularized
    incomplete beta function, so that `hits` and `draws` may be fractional: a quasi-binomial
    test divides both by the dispersion (`dispersion`) and reads the same tails."""
    if draws <= 0 or p <= 0.0 or p >= 1.0:
        return 1.0, 1.0
    hits = min(max(hits, 0.0), draws)
    greater = 1.0 if hits <= 0 else regularized_beta(p, hits, draws - hits + 1.0)
    less = 1.0 if hits >= draws else 1.0 - regularized_beta(p, hits + 1.0, draws - hits)
    return min(1.0, max(greater, 0.0)), min(1.0, max(less, 0.0))


def beta_binomial_tails(hits: int, draws: int, p: float, dispersion: float) -> tuple[float, float]:
    """`(P(X >= hits), P(X <= hits))` for X beta-binomial with mean `draws * p` and variance
    `dispersion` times the binomial one (intra-class correlation `(dispersion - 1) /
    (draws - 1)`): counts whose rate itself varies, as a day's traffic does. At dispersion 1
    it is the binomial; far in the tails it is wider than the binomial, as it should be, but
    not as wide as dividing the counts by the dispersion would make it."""
    if draws <= 0 or p <= 0.0 or p >= 1.0:
        return 1.0, 1.0
    hits = min(max(hits, 0), draws)
    rho = (dispersion - 1.0) / (draws - 1) if draws > 1 else 0.0
    if rho <= 1e-12:
        return binomial_tails(hits, draws, p)
    rho = min(rho, 0.999)
    scale = 1.0 / rho - 1.0
    a, b = p * scale, (1.0 - p) * scale
    base = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) - math.lgamma(draws + a + b)
    logs = [
        _log_choose(draws, k) + base + math.lgamma(k + a) + math.lgamma(draws - k + b)
        for k in range(draws + 1)
    ]
    peak = max(logs)
    weights = [math.exp(v - peak) for v in logs]
    total = sum(weights)
    greater = sum(weights[hits:]) / total
    less = sum(weights[: hits + 1]) / total
    return min(1.0, greater), min(1.0, less)


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), by the continued fraction of Numerical Recipes (6.4), to ~1e-12."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(x, a, b) / a
    return 1.0 - front * _beta_fraction(1.0 - x, b, a) / b


def _beta_fraction(x: float, a: float, b: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-13:
            break
    return h


CHI2_1_MEDIAN = 0.454936423119572
"""The median of a chi-square variable with one degree of freedom."""


def dispersion(residuals: Sequence[float]) -> float:
    """How much wider than binomial the spread of `residuals` (Pearson residuals, which are
    standard normal under the binomial model) is: the median of their squares over the median
    of chi-square(1), at least 1. The median, not the mean, so that a real change on one day
    of the baseline does not pass for noise; 1 when there are fewer than 8 residuals."""
    if len(residuals) < 8:
        return 1.0
    return max(1.0, median([r * r for r in residuals]) / CHI2_1_MEDIAN)


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which of `p_values` are discoveries at false discovery rate `q` (step-up procedure)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    cutoff = -1
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= q * rank / m:
            cutoff = rank
    accepted = [False] * m
    for rank, index in enumerate(order, start=1):
        accepted[index] = rank <= cutoff
    return accepted


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if not ordered:
        raise ValueError("median of nothing")
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_hypergeom(x: int, population: int, successes: int, draws: int) -> float:
    return (
        _log_choose(successes, x)
        + _log_choose(population - successes, draws - x)
        - _log_choose(population, draws)
    )
