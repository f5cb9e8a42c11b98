"""The statistical tests behind fresh-slice alerts, pinned against scipy and known values."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from bot.domain.stats import (
    benjamini_hochberg,
    beta_binomial_tails,
    binomial_tails,
    count_test,
    dispersion,
    median,
    rank_test_greater,
)


@pytest.fixture(scope="module")
def scipy_stats() -> ModuleType:
    """scipy.stats, imported where it is used: every worker collects this module, and the import
    costs about half a second."""
    from scipy import stats

    return stats


def lognormal(rng: random.Random, n: int, scale: float = 1.0) -> list[float]:
    return [scale * rng.lognormvariate(0.0, 0.8) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shift", [1.0, 1.5, 3.0])
def test_rank_test_matches_scipy_mann_whitney(
    seed: int, shift: float, scipy_stats: ModuleType
) -> None:
    rng = random.Random(seed)
    fresh, base = lognormal(rng, 21, shift), lognormal(rng, 130)
    fresh[:3] = base[:3]  # ties across the samples

    expected = scipy_stats.mannwhitneyu(
        fresh, base, alternative="greater", method="asymptotic"
    ).pvalue

    assert rank_test_greater(fresh, base) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_rank_test_matches_scipy_with_many_ties(seed: int, scipy_stats: ModuleType) -> None:
    # Latencies and token counts repeat: round to one decimal so ties are common.
    rng = random.Random(seed)
    fresh = [round(v, 1) for v in lognormal(rng, 25, 1.4)]
    base = [round(v, 1) for v in lognormal(rng, 140)]
    expected = scipy_stats.mannwhitneyu(
        fresh, base, alternative="greater", method="asymptotic"
    ).pvalue

    assert len(set(fresh + base)) < len(fresh + base) - 20
    assert rank_test_greater(fresh, base) == pytest.approx(expected, rel=1e-9)


def test_rank_test_sees_a_tripled_heavy_tailed_cost_in_a_small_fresh_slice() -> None:
    # reference/alerting.md 3: 21 fresh vs 130 baseline items, x3, far below 1e-4.
    rng = random.Random(7)
    assert rank_test_greater(lognormal(rng, 21, 3.0), lognormal(rng, 130)) < 1e-4


def test_rank_test_is_not_moved_by_one_huge_item() -> None:
    rng = random.Random(3)
    base = lognormal(rng, 130)
    fresh = lognormal(rng, 20)
    with_outlier = [*fresh[:-1], 1e6]

    assert rank_test_greater(with_outlier, base) > 0.01
    assert rank_test_greater([], base) == 1.0


@pytest.mark.parametrize(
    ("hits", "draws", "other_hits", "other_draws"),
    [(10, 21, 26, 1290), (2, 21, 26, 1290), (0, 210, 90, 1290), (34, 210, 90, 1290), (0, 5, 0, 50)],
)
def test_count_test_matches_scipy_fisher_exact(
    hits: int, draws: int, other_hits: int, other_draws: int, scipy_stats: ModuleType
) -> None:
    table = [[hits, draws - hits], [other_hits, other_draws - other_hits]]
    greater, less = count_test(hits, draws, other_hits, other_draws)

    assert greater == pytest.approx(scipy_stats.fisher_exact(table, "greater").pvalue, rel=1e-9)
    assert less == pytest.approx(scipy_stats.fisher_exact(table, "less").pvalue, rel=1e-9)


def test_count_test_on_the_reference_examples() -> None:
    # 10 failures in 21 fresh items against a 2 % baseline: overwhelming; 2 in 21: not.
    assert count_test(10, 21, 26, 1290)[0] < 1e-9
    assert count_test(2, 21, 26, 1290)[0] > 0.01


def test_benjamini_hochberg_matches_scipy(scipy_stats: ModuleType) -> None:
    p_values = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    adjusted = scipy_stats.false_discovery_control(p_values)

    assert benjamini_hochberg(p_values, 0.05) == [bool(a <= 0.05) for a in adjusted]
    assert benjamini_hochberg(p_values, 0.05) == [True, True] + [False] * 6
    assert benjamini_hochberg([], 0.05) == []


def test_median() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize(
    ("hits", "draws", "p"),
    [(0, 20, 0.1), (5, 20, 0.1), (20, 20, 0.3), (34, 124, 0.128), (3, 50, 0.02), (0, 67, 0.14)],
)
def test_binomial_tails_match_scipy_at_whole_counts(
    hits: int, draws: int, p: float, scipy_stats: ModuleType
) -> None:
    greater, less = binomial_tails(hits, draws, p)

    assert greater == pytest.approx(scipy_stats.binom.sf(hits - 1, draws, p), rel=1e-9, abs=1e-15)
    assert less == pytest.approx(scipy_stats.binom.cdf(hits, draws, p), rel=1e-9, abs=1e-15)


def test_binomial_tails_at_fractional_counts_follow_the_incomplete_beta(
    scipy_stats: ModuleType,
) -> None:
    # A quasi-binomial test divides counts by the dispersion: 34 of 124 at phi = 1.6.
    hits, draws, p = 34 / 1.6, 124 / 1.6, 0.128
    greater, less = binomial_tails(hits, draws, p)

    assert greater == pytest.approx(scipy_stats.beta.cdf(p, hits, draws - hits + 1), rel=1e-9)
    assert less == pytest.approx(1 - scipy_stats.beta.cdf(p, hits + 1, draws - hits), rel=1e-9)
    # Wider than binomial: the same excess is less surprising.
    assert greater > binomial_tails(34, 124, p)[0]


@pytest.mark.parametrize(
    ("hits", "draws", "p", "phi"), [(0, 130, 0.081, 1.48), (34, 124, 0.128, 1.6), (5, 40, 0.1, 1.0)]
)
def test_beta_binomial_tails_match_scipy(
    hits: int, draws: int, p: float, phi: float, scipy_stats: ModuleType
) -> None:
    greater, less = beta_binomial_tails(hits, draws, p, phi)

    if phi == 1.0:
        expected = scipy_stats.binom(draws, p)
    else:
        scale = (draws - 1) / (phi - 1) - 1
        expected = scipy_stats.betabinom(draws, p * scale, (1 - p) * scale)
    assert greater == pytest.approx(expected.sf(hits - 1), rel=1e-9)
    assert less == pytest.approx(expected.cdf(hits), rel=1e-9)
    assert expected.var() == pytest.approx(phi * draws * p * (1 - p), rel=1e-9)


def test_dispersion_is_one_for_binomial_residuals_and_wider_when_they_are() -> None:
    rng = random.Random(5)
    normal = [rng.gauss(0.0, 1.0) for _ in range(400)]

    assert dispersion(normal) == pytest.approx(1.0, abs=0.2)
    assert dispersion([2 * r for r in normal]) == pytest.approx(4.0, rel=0.25)
    assert dispersion([0.5 * r for r in normal]) == 1.0  # never narrower than binomial
    assert dispersion(normal[:5]) == 1.0  # too few to tell
    # One day with a real change among many does not pass for noise (median, not mean).
    assert dispersion([*normal[:60], 40.0, -35.0]) < 1.3
