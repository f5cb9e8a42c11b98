"""The generator's realistic mode: PostHog's hourly summarizer (the newest 15 traces of each hour
are the only candidates of the runs), traffic volume apart from the run's sample size, settable
misplacement, up to 30 topics, prompt bloat against a price change, and late-day starts."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from standins.traffic.generator import Cause, Change, Plant, SeriesSpec, World, generate
from standins.traffic.sim import forget_series
from standins.traffic.summarizer import (
    SUMMARIZER_CAP,
    Summarizer,
    bucket_of,
    bucket_span,
    summary_moment,
)
from standins.traffic.topics_more import WIDE_CATALOG
from standins.traffic.traffic import Draw

NOW = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
JOB = "Default - traces"
GENERATIONS = "Default - generations"
PLANT_AT = 2
PRICES = {topic.key: topic.prices for topic in WIDE_CATALOG}
TRACES = SeriesSpec()


@cache
def world(
    seed: int,
    traces_per_day: float,
    plant: Plant | None = None,
    spec: SeriesSpec = TRACES,
    **kw: Any,
) -> World:
    options: dict[str, Any] = {"runs": 4, "items_per_run": 1000, "events": False}
    options.update(kw)
    planted = {(spec.job_name, PLANT_AT): plant} if plant else {}
    return generate(
        seed=seed,
        series=[spec],
        now=NOW,
        planted=planted,
        traces_per_day=traces_per_day,
        **options,
    )


def by_bucket(items: list[Any]) -> dict[int, list[Any]]:
    buckets: dict[int, list[Any]] = defaultdict(list)
    for item in items:
        buckets[bucket_of(item.timestamp.timestamp())].append(item)
    return buckets


# -- the hourly cap ---------------------------------------------------------------------------


def test_no_hour_has_more_summarized_traces_than_the_cap() -> None:
    busy = world(1, 2000.0)
    counts = Counter(bucket_of(i.timestamp.timestamp()) for i in busy.summarized.values())
    assert max(counts.values()) == SUMMARIZER_CAP["trace"] == 15
    # at ~83 traces an hour the cap binds in (nearly) every hour
    assert sum(1 for n in counts.values() if n == 15) >= 0.95 * len(counts)


def test_the_summarizer_keeps_the_newest_traces_of_each_hour() -> None:
    everything = world(2, 600.0, summarizer_cap=10_000)  # the same traffic, nothing dropped
    capped = world(2, 600.0)
    assert len(everything.summarized) > 1.5 * len(capped.summarized)
    kept = by_bucket(list(capped.summarized.values()))
    for bucket, items in by_bucket(list(everything.summarized.values())).items():
        newest = sorted(items, key=lambda i: i.timestamp, reverse=True)[:15]
        assert {i.item_id for i in kept.get(bucket, [])} == {i.item_id for i in newest}


def test_generation_level_keeps_twenty_an_hour() -> None:
    spec = SeriesSpec(level="generation", job_name=GENERATIONS)
    generations = world(3, 2000.0, spec=spec)
    counts = Counter(bucket_of(i.timestamp.timestamp()) for i in generations.summarized.values())
    assert max(counts.values()) == 20


def test_summarizer_unit_newest_first_and_written_after_the_hour() -> None:
    start, end = bucket_span(100)
    draws = [_draw(start + k * 60.0) for k in range(60)]
    summarizer = Summarizer(15, lambda low, high: [d for d in draws if low <= d.moment < high])
    kept = summarizer.bucket(100)
    assert [d.moment for d in kept] == [start + k * 60.0 for k in range(59, 44, -1)]
    assert end < summary_moment(100) < end + 3600
    written = datetime.fromtimestamp(summary_moment(100), UTC)
    before = datetime.fromtimestamp(summary_moment(100) - 1, UTC)
    assert summarizer.window(before, written) == []
    assert summarizer.window(written, datetime.fromtimestamp(end + 7200, UTC)) == kept


def test_an_item_enters_the_window_where_its_summary_is_written() -> None:
    w = world(4, 700.0)
    for run in w.runs:
        for item_id in run.item_ids:
            item = w.items[item_id]
            assert item.summarized_at is not None
            assert run.window_start <= item.summarized_at < run.window_end
            assert item.timestamp < item.summarized_at


# -- volume apart from the run's sample ---------------------------------------------------------


def test_volume_changes_what_is_summarized_not_the_run_size() -> None:
    quiet, busy = world(5, 200.0), world(5, 2000.0)
    for q, b in zip(quiet.runs, busy.runs, strict=True):
        assert q.total_items == b.total_items == 1000
        assert b.traffic > 8 * q.traffic
        # quiet: the summarizer keeps nearly everything; busy: 15 of ~83 an hour
        assert q.candidates > 0.95 * q.traffic
        assert b.candidates == 7 * 24 * 15 and b.candidates < 0.25 * b.traffic


def test_unsampled_summarized_items_are_kept() -> None:
    w = world(6, 700.0)
    for run in w.runs:
        unsampled = w.unsampled(run)
        assert len(unsampled) == run.candidates - run.total_items > 0
        assert not {i.item_id for i in unsampled} & run.item_ids
        assert all(run.window_start <= i.summarized_at < run.window_end for i in unsampled)  # type: ignore[operator]


def test_a_surge_shows_only_as_a_share_of_the_capped_hours() -> None:
    plain = world(7, 1500.0)
    surged = world(7, 1500.0, Plant(Change.SIZE_SHIFT), change_start=(0.0, 0.0))
    [truth] = surged.planted
    run = surged.runs[PLANT_AT]
    day = [i for i in surged.summarized.values() if run.window_end > i.timestamp >= truth.start]
    plain_day = [
        i for i in plain.summarized.values() if run.window_end > i.timestamp >= truth.start
    ]
    # as many summaries as without the surge, but more of them are the surging topic's
    assert abs(len(day) - len(plain_day)) <= 15
    share = sum(i.topic == truth.topic for i in day) / len(day)
    plain_share = sum(i.topic == truth.topic for i in plain_day) / len(plain_day)
    assert share > 1.5 * plain_share


# -- kinds of change ----------------------------------------------------------------------------


def _price_ratio(item: Any) -> float:
    price_in, price_out = PRICES[item.topic]
    m = item.metrics
    return float(m.cost / (m.input_tokens * price_in + m.output_tokens * price_out))


def _split(w: World) -> tuple[list[Any], list[Any]]:
    [truth] = w.planted
    assert truth.start is not None
    topic = [i for i in w.summarized.values() if i.topic == truth.topic]
    return [i for i in topic if i.timestamp < truth.start], [
        i for i in topic if i.timestamp >= truth.start
    ]


GEN = SeriesSpec(level="generation", job_name=GENERATIONS)


def test_prompt_bloat_moves_input_tokens_not_price() -> None:
    bloat = Plant(Change.COST_SPIKE, cause=Cause.PROMPT_BLOAT)
    before, after = _split(world(8, 700.0, bloat, spec=GEN))
    tokens = statistics.median(i.metrics.input_tokens for i in after) / statistics.median(
        i.metrics.input_tokens for i in before
    )
    assert 2.5 < tokens < 6.5  # ×4 on lognormal tokens
    assert all(_price_ratio(i) == pytest.approx(1.0, rel=1e-3) for i in before + after)
    assert statistics.median(i.metrics.cost for i in after) > 2 * statistics.median(
        i.metrics.cost for i in before
    )


def test_a_model_switch_moves_price_not_tokens() -> None:
    switch = Plant(Change.COST_SPIKE, cause=Cause.MODEL_SWITCH)
    before, after = _split(world(8, 700.0, switch, spec=GEN))
    tokens = statistics.median(i.metrics.input_tokens for i in after) / statistics.median(
        i.metrics.input_tokens for i in before
    )
    assert 0.6 < tokens < 1.6
    assert all(_price_ratio(i) == pytest.approx(1.0, rel=1e-3) for i in before)
    assert all(_price_ratio(i) == pytest.approx(3.0, rel=1e-3) for i in after)


def test_half_size_prompt_bloat_is_smaller() -> None:
    full = _split(world(9, 700.0, Plant(Change.COST_SPIKE, cause=Cause.PROMPT_BLOAT), spec=GEN))
    half = _split(
        world(9, 700.0, Plant(Change.COST_SPIKE, 0.5, cause=Cause.PROMPT_BLOAT), spec=GEN)
    )
    ratio = statistics.median(i.metrics.input_tokens for i in full[1]) / statistics.median(
        i.metrics.input_tokens for i in half[1]
    )
    assert ratio == pytest.approx(4.0 / 2.5, rel=0.1)


def test_a_late_day_change_touches_only_the_items_after_its_start() -> None:
    plain = world(10, 700.0)
    late = world(10, 700.0, Plant(Change.COST_SPIKE), change_start=(0.8, 0.95))
    [truth] = late.planted
    assert truth.start is not None and truth.start.hour >= 19
    assert late.summarized.keys() == plain.summarized.keys()
    after = 0
    for item_id, item in late.summarized.items():
        same = item.metrics == plain.summarized[item_id].metrics
        if item.topic != truth.topic or item.timestamp < truth.start:
            assert same, item
        else:
            after += 1
            assert item.metrics.cost > 2.9 * plain.summarized[item_id].metrics.cost  # type: ignore[operator]
    assert after > 0


# -- clustering -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.08, 0.15])
def test_misplacement_rate_is_what_was_asked(rate: float) -> None:
    w = world(11, 700.0, misplaced=rate, items_per_run=1500)
    misplaced = placed = 0
    for run in w.runs:
        clustered = {t for c, t in run.topic_of_cluster.items() if c != -1}
        for cluster_id, ids in run.items.items():
            for item in (w.items[i] for i in ids):
                if item.outlier or item.topic not in clustered:
                    continue  # genuine outliers, and topics folded into noise
                placed += 1
                misplaced += run.topic_of_cluster[cluster_id] != item.topic
    assert misplaced / placed == pytest.approx(rate, abs=0.015)


def test_up_to_thirty_topics_from_the_wide_catalog() -> None:
    w = world(12, 700.0, spec=SeriesSpec(topics=30), items_per_run=1500)
    topics = {i.topic for i in w.summarized.values()}
    assert len(topics) == 30
    assert len(w.runs[-1].sizes) > 15
    with pytest.raises(ValueError, match="topics"):
        generate(seed=1, series=[SeriesSpec(topics=len(WIDE_CATALOG))], now=NOW)


def test_without_traces_per_day_nothing_is_summarized() -> None:
    w = generate(seed=13, series=[SeriesSpec()], now=NOW, runs=2, events=False)
    assert w.summarized == {}
    assert all(i.summarized_at is None for i in w.items.values())
    assert all(r.unsampled == () and r.traffic == r.candidates for r in w.runs)
    with pytest.raises(ValueError, match="traces_per_day"):
        generate(seed=1, series=[SeriesSpec()], now=NOW, summarizer_cap=15)


def _draw(moment: float) -> Draw:
    return Draw(
        topic="rag_retrieval",
        moment=moment,
        keep=0.0,
        trace_bits=int(moment),
        gen_bits=0,
        event_seed=0,
        outlier=False,
        error_u=1.0,
        size=1.0,
        gens=((1.0, 1.0, 1.0),),
        span=False,
        embedding=None,
    )


def test_the_same_seed_gives_the_same_summarized_world() -> None:
    options: dict[str, Any] = {"runs": 2, "items_per_run": 500, "traces_per_day": 900.0}
    one = generate(seed=14, series=[SeriesSpec()], now=NOW, **options)
    forget_series()  # from nothing again, not from the series kept for the next world
    two = generate(seed=14, series=[SeriesSpec()], now=NOW, **options)
    assert one.runs == two.runs and one.summarized == two.summarized
    assert [r.unsampled for r in one.runs] == [r.unsampled for r in two.runs]
    assert [e["uuid"] for e in one.events] == [e["uuid"] for e in two.events]
