"""Small pure statistics for the alert rules (no scipy): the two-proportion z-test."""

from __future__ import annotations

import math
from typing import NamedTuple


class ProportionTest(NamedTuple):
    """`z` is signed (positive when the second proportion is larger); `p_value` is two-sided."""

    z: float
    p_value: float


def two_proportion_z_test(
    share_a: float, total_a: int, share_b: float, total_b: int
) -> ProportionTest:
    """Test whether two sample proportions differ, with the pooled standard error.

    `share_*` are fractions in [0, 1] of samples of `total_*` items. Cluster sizes are counts
    in a random sample of the window's items (reference/posthog.md 1.7), so a share change is
    only news when it is large against this sampling noise. Consecutive runs share about a
    third of their items, which makes the two samples positively correlated; treating them as
    independent overstates the variance, so the test errs on the quiet side.

    Degenerate inputs (a proportion of exactly 0 or 1 in both samples) have no sampling
    variance: equal shares give p = 1, different ones p = 0.
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
    # Two-sided tail of the standard normal: P(|Z| >= |z|) = erfc(|z| / sqrt(2)).
    return ProportionTest(z, math.erfc(abs(z) / math.sqrt(2.0)))
