"""The oracle bound on how early an error step can be warned about (bench/early_bound.py)."""

from __future__ import annotations

import random
from dataclasses import replace

from bench.early_bound import (
    HORIZON_HOURS,
    LOOKS,
    TWICE,
    conclusion,
    first_warning,
    markdown,
    measure,
    measure_bot,
)


def test_larger_clusters_and_a_looser_budget_are_warned_earlier() -> None:
    bounds = {(b.share, b.checks_corrected): b for b in measure(trials=300)}
    shares = sorted({share for share, _ in bounds})
    medians = [bounds[share, True].median for share in shares]
    assert medians == sorted(medians, reverse=True) and medians[0] > medians[-1]
    assert all(bounds[share, False].median <= bounds[share, True].median for share in shares)
    assert all(0.0 < b.median < HORIZON_HOURS for b in bounds.values())


def test_no_warning_before_enough_errors_arrive() -> None:
    # Half an hour's lag and whole-hour checks: nothing can be warned within the first half hour,
    # and an impossible budget is never met.
    hours = [first_warning(random.Random(seed), 0.3, 1e-3) for seed in range(50)]
    assert min(hours) > 0.5
    assert first_warning(random.Random(1), 0.3, 0.0) == HORIZON_HOURS


def test_the_section_says_whether_the_target_is_within_reach() -> None:
    bounds = measure(trials=200)
    text = markdown(bounds, 200)
    assert text.startswith("## Early warnings: the bound on the delay")
    assert text.count("| 10% |") == 2 and "within 6 hours" in text
    late = [replace(b, median=b.median + 3.0) for b in bounds]
    assert "within the data's reach at every share" in conclusion(
        [replace(b, median=5.0) for b in bounds]
    )
    assert "out of the data's reach" in conclusion(late)


def test_the_bot_s_own_test_is_later_than_the_oracle_and_later_still_without_the_start() -> None:
    oracle = {b.share: b.median for b in measure(trials=300) if b.checks_corrected}
    delays = measure_bot(trials=300)
    medians = {(d.share, d.looks): d.median for d in delays}
    bots, _, known = LOOKS  # the bot's looks, every hour, the known start
    for share in (0.10, 0.15):  # where the gaps are hours wide, far over 300 trials' noise
        assert oracle[share] < medians[share, known] < medians[share, bots], share
        # the same streams against a baseline twice as large (common random numbers)
        assert medians[share, TWICE] < medians[share, bots], share
    text = markdown(measure(trials=100), 100, delays)
    assert text.count("| 10% |") == 2 + len(LOOKS) + 1  # and the bot's, twice the baseline
    assert "is not knowing when the step began" in text
