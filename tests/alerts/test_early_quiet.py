"""False early warnings on the generator's quiet days (bench/early_quiet.py): the bot's own
tests at each hourly check, by how much the day's budget is divided."""

from __future__ import annotations

from datetime import timedelta

from bench.early_quiet import (
    CHECKS,
    DIVISIONS,
    ITEMS_PER_RUN,
    SUMMARIZED_PER_HOUR,
    markdown,
    measure,
    quiet_days,
)


def test_a_quiet_day_is_the_summarizer_s_next_hours_in_the_run_s_clusters() -> None:
    first, second = quiet_days(3, 2)
    for day in (first, second):
        # the summarizer's 15 an hour, less the items of topics the run has no cluster for
        assert 0.8 * CHECKS * SUMMARIZED_PER_HOUR < len(day.items) <= CHECKS * SUMMARIZED_PER_HOUR
        assert {cluster_id for _, cluster_id, _ in day.items} <= set(day.baseline)
        end = day.window_end + timedelta(hours=CHECKS)
        for readable, _, item in day.items:
            assert item.timestamp is not None and day.window_end <= item.timestamp < end
            assert readable > item.timestamp
        based = {i.item_id for _, items in day.baseline.values() for i in items}
        assert not based & {item.item_id for _, _, item in day.items}  # never the baseline's
        # the run's clusters hold fewer than its 1,500 items; their predecessors' others add some
        assert len(based) > ITEMS_PER_RUN
    gap = second.window_end - first.window_end  # one day, then the next (runs end seconds apart)
    assert abs(gap - timedelta(days=1)) < timedelta(minutes=1)


def test_a_larger_budget_warns_on_more_days_and_the_section_says_which_is_the_bot_s() -> None:
    found = measure(10, range(7, 8))  # ten days of world 7, one of which warns at / 1 and / 3
    counts = [found[division] for division in sorted(DIVISIONS)]  # budget from large to small
    assert counts == sorted(counts, reverse=True)
    assert found[1] > 0  # without any division, quiet days do warn
    text = markdown(found, 10, 1, 0.1)
    assert text.startswith("## Early warnings on quiet days")
    assert "| 6 (the bot) |" in text and "of 10 |" in text
