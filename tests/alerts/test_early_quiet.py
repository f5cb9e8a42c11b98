"""False early warnings on the generator's quiet days (bench/early_quiet.py): the bot's own
tests at each hourly check, by how much the day's budget is divided."""

from __future__ import annotations

import random

from bench.early_quiet import (
    CHECKS,
    DIVISIONS,
    ITEMS_PER_RUN,
    SUMMARIZED_PER_HOUR,
    markdown,
    measure,
    quiet_day,
    series,
)


def test_a_quiet_day_is_the_summarizer_s_hours_of_the_run_s_clusters() -> None:
    world = series(3)
    day = quiet_day(world, random.Random(0))
    tested = sum(share for cluster_id, share in world.shares if cluster_id in world.pools)
    expected = CHECKS * SUMMARIZED_PER_HOUR * tested
    assert 0.8 * expected < len(day) < 1.2 * expected
    assert {cluster_id for _, cluster_id, _ in day} <= set(world.baseline)
    assert all(readable > item.timestamp for readable, _, item in day if item.timestamp)
    pooled = {i.item_id for pool in world.pools.values() for i in pool}
    based = {i.item_id for _, items in world.baseline.values() for i in items}
    assert pooled and not pooled & based  # new items are never the baseline's
    # the run's clusters hold fewer than its 1,500 items; their predecessors' others add some
    assert len(based) > ITEMS_PER_RUN


def test_a_larger_budget_warns_on_more_days_and_the_section_says_which_is_the_bot_s() -> None:
    found = measure(10, range(1, 2))
    counts = [found[division] for division in sorted(DIVISIONS)]  # budget from large to small
    assert counts == sorted(counts, reverse=True)
    assert found[1] > 0  # without any division, quiet days do warn
    text = markdown(found, 10, 1, 0.1)
    assert text.startswith("## Early warnings on quiet days")
    assert "| 6 (the bot) |" in text and "of 10 |" in text
