"""The generator's model of PostHog's data, without ClickHouse: uniform samples of sliding
windows, heavy-tailed costs, clustering (noise, misplaced items, folding, reshuffled ids), planted
steps that change only later traffic, and the pure path (`events=False`, `item_values`)."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from standins.traffic.generator import Change, Plant, SeriesSpec, World, generate
from standins.traffic.topics import CATALOG

NOW = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
TRACES = "Default - traces"
GENERATIONS = "Default - generations"
TRACE_SPEC = SeriesSpec()
GENERATION_SPEC = SeriesSpec(level="generation", job_name=GENERATIONS)
PLANT_AT = 2  # run index of planted steps below
STEP_KINDS = [c for c in Change if c is not Change.NONE]
TOPICS = {topic.key: topic for topic in CATALOG}


@cache
def pure(seed: int, spec: SeriesSpec = TRACE_SPEC, plant: Plant | None = None, **kw: Any) -> World:
    """9 (or `runs`) daily runs of 1,500 items, no per-item events."""
    options: dict[str, Any] = {"runs": 9, "items_per_run": 1500, "events": False}
    options.update(kw)
    planted = {(spec.job_name, PLANT_AT): plant} if plant else {}
    return generate(seed=seed, series=[spec], now=NOW, planted=planted, **options)


def fresh_share(world: World) -> list[float]:
    shares = []
    for previous, run in itertools.pairwise(world.runs):
        fresh = [i for i in run.item_ids if world.items[i].timestamp >= previous.window_end]
        shares.append(len(fresh) / run.total_items)
    return shares


# -- sampling ---------------------------------------------------------------------------------


def test_about_a_seventh_of_each_run_is_newer_than_the_previous_window() -> None:
    shares = [s for seed in range(3) for s in fresh_share(pure(seed))]
    assert statistics.mean(shares) == pytest.approx(1 / 7, abs=0.012)
    assert all(0.09 < s < 0.2 for s in shares)


def test_each_run_samples_its_whole_window_uniformly() -> None:
    world = pure(1)
    for run in world.runs:
        stamps = [world.items[i].timestamp for i in run.item_ids]
        assert run.window_start <= min(stamps) and max(stamps) < run.window_end
        days = Counter(int((s - run.window_start) / timedelta(days=1)) for s in stamps)
        assert sorted(days) == list(range(7))
        # 7 equal days of ~214 items each, Poisson day-to-day wobble included
        assert all(abs(n - run.total_items / 7) < 60 for n in days.values()), days
        assert 2000 < run.candidates < 3000 and run.total_items == 1500


def test_consecutive_runs_share_items_only_by_chance() -> None:
    world = pure(2)
    for previous, run in itertools.pairwise(world.runs):
        # both runs draw 1,500 of ~2,450 candidates; six days of seven are common
        expected = 6 / 7 * previous.total_items / previous.candidates * run.total_items
        shared = len(run.item_ids & previous.item_ids)
        assert abs(shared - expected) < 0.08 * expected, (shared, expected)


def test_a_run_takes_the_whole_window_when_it_holds_fewer_items() -> None:
    world = pure(3, runs=2, items_per_run=5000, items_per_day=100)
    assert all(r.total_items == r.candidates < 1000 for r in world.runs)


def test_shares_of_stable_topics_wobble_a_little() -> None:
    changes = []
    world = pure(4)
    for previous, run in itertools.pairwise(world.runs):
        for cluster_id, topic in run.topic_of_cluster.items():
            before = previous.cluster_of_topic(topic)
            if cluster_id != -1 and before is not None:
                changes.append(abs(run.share(cluster_id) / previous.share(before) - 1))
    assert len(changes) >= 40
    assert 0.01 < statistics.median(changes) < 0.12
    assert max(changes) > 0.05


# -- item values ------------------------------------------------------------------------------


def test_costs_are_heavy_tailed() -> None:
    world = pure(5, GENERATION_SPEC)
    run = world.runs[-1]
    by_topic: dict[str, list[float]] = {}
    for item_id in run.item_ids:
        item = world.items[item_id]
        by_topic.setdefault(item.topic, []).append(float(world.item_values[item_id]["cost"]))
    for topic, costs in by_topic.items():
        logs = [math.log(c) for c in costs]
        assert 0.6 < statistics.stdev(logs) < 1.0, topic  # σ ≈ 0.8 on tokens
        costs.sort()
        assert costs[int(0.95 * len(costs))] / statistics.median(costs) > 2.5, topic
        assert statistics.mean(costs) > 1.15 * statistics.median(costs), topic


def test_error_rates_and_latencies() -> None:
    world = pure(6)
    values = [world.item_values[i] for run in world.runs for i in run.item_ids]
    failing = sum(1 for v in values if v["error_count"] > 0) / len(values)
    assert 0.01 < failing < 0.035
    logs = [math.log(float(v["latency"])) for v in values]
    assert statistics.stdev(logs) > 0.4


def test_latency_by_tokens_follows_the_answers_length_and_changes_nothing_else() -> None:
    plain, streamed = pure(6, runs=3), pure(6, runs=3, latency_by_tokens=True)

    assert [(r.run_id, r.item_ids, r.sizes) for r in streamed.runs] == [
        (r.run_id, r.item_ids, r.sizes) for r in plain.runs
    ]
    for item_id, values in streamed.item_values.items():
        assert {k: v for k, v in values.items() if k != "latency"} == {
            k: v for k, v in plain.item_values[item_id].items() if k != "latency"
        }

    def correlation(world: World) -> float:
        """Of log latency with log output tokens, within each topic, the median over topics."""
        by_topic: dict[str, list[tuple[float, float]]] = {}
        for item_id, v in world.item_values.items():
            if v["output_tokens"] > 0:
                pair = (math.log(float(v["output_tokens"])), math.log(float(v["latency"])))
                by_topic.setdefault(world.items[item_id].topic, []).append(pair)
        return statistics.median(
            statistics.correlation(*zip(*pairs, strict=True)) for pairs in by_topic.values()
        )

    assert correlation(streamed) > 0.8  # longer answers take longer (0.91 here)
    assert correlation(plain) < 0.4  # only through the number of generations (0.24)


# -- clustering -------------------------------------------------------------------------------


def test_noise_misplaced_items_and_folding() -> None:
    world = pure(7, plant=Plant(Change.NEW_CLUSTER, scale=0.5))
    for run in world.runs:
        minimum = max(5, math.ceil(0.02 * run.total_items))
        assert all(size >= minimum for c, size in run.sizes.items() if c != -1)
        assert 0.06 < run.share(-1) < 0.16
        misplaced = [
            i
            for c, ids in run.items.items()
            if c != -1
            for i in ids
            if world.items[i].topic != run.topic_of_cluster[c]
        ]
        assert 0.004 < len(misplaced) / run.total_items < 0.03
        assert sum(run.sizes.values()) == run.total_items
    [truth] = world.planted
    first = world.run(truth.run_id)
    small = [i for i in first.item_ids if world.items[i].topic == truth.topic]
    # the new topic exists in its first run, below the minimum cluster size: it is noise there
    assert 0 < len(small) < 30 and set(small) <= set(first.items[-1]) | misplaced_ids(first, world)
    assert truth.cluster_id is None and truth.clusters[first.run_id] is None
    assert truth.clusters[world.runs[-1].run_id] is not None


def misplaced_ids(run: Any, world: World) -> set[str]:
    return {
        i
        for c, ids in run.items.items()
        if c != -1
        for i in ids
        if world.items[i].topic != run.topic_of_cluster[c]
    }


def test_cluster_ids_reshuffle_and_titles_change() -> None:
    world = pure(8)
    moved = renamed = compared = 0
    for previous, run in itertools.pairwise(world.runs):
        for cluster_id, topic in run.topic_of_cluster.items():
            before = previous.cluster_of_topic(topic)
            if cluster_id == -1 or before is None:
                continue
            compared += 1
            moved += before != cluster_id
            renamed += run.titles[cluster_id] != previous.titles[before]
    assert compared >= 40 and renamed == compared and moved > compared / 2


# -- planted steps ----------------------------------------------------------------------------


def with_and_without(kind: Change, scale: float = 1.0, seed: int = 9) -> tuple[World, World]:
    return pure(seed, plant=Plant(kind, scale)), pure(seed)


@pytest.mark.parametrize("kind", STEP_KINDS)
def test_a_step_changes_nothing_before_its_start(kind: Change) -> None:
    changed, plain = with_and_without(kind)
    [truth] = changed.planted
    assert truth.start is not None
    before = [r for r in changed.runs if r.window_end <= truth.start]
    assert len(before) == PLANT_AT and before == plain.runs[:PLANT_AT]
    common = set(changed.items) & set(plain.items)
    older = [i for i in common if changed.items[i].timestamp < truth.start]
    assert len(older) > 2000
    assert all(changed.item_values[i] == plain.item_values[i] for i in older)
    other = [i for i in common if changed.items[i].topic != truth.topic]
    assert all(changed.item_values[i] == plain.item_values[i] for i in other)


def after_start(world: World, topic: str, start: datetime) -> list[str]:
    return [i for i, item in world.items.items() if item.topic == topic and item.timestamp >= start]


@pytest.mark.parametrize(("scale", "factor"), [(1.0, 3.0), (0.5, 2.0)])
def test_cost_step_multiplies_later_costs(scale: float, factor: float) -> None:
    changed, plain = with_and_without(Change.COST_SPIKE, scale)
    [truth] = changed.planted
    assert truth.start is not None
    later = [i for i in after_start(changed, truth.topic, truth.start) if i in plain.items]
    assert len(later) > 100
    for item_id in later:
        cost = changed.item_values[item_id]["cost"]
        assert cost == pytest.approx(factor * plain.item_values[item_id]["cost"], rel=1e-5)


@pytest.mark.parametrize(("scale", "factor"), [(1.0, 2.0), (0.5, 1.5)])
@pytest.mark.parametrize("by_tokens", [False, True], ids=["latency", "latency by tokens"])
def test_latency_step_multiplies_later_latencies(
    scale: float, factor: float, by_tokens: bool
) -> None:
    kind = Plant(Change.LATENCY_SPIKE, scale)
    changed = pure(9, plant=kind, latency_by_tokens=by_tokens)
    plain = pure(9, latency_by_tokens=by_tokens)
    [truth] = changed.planted
    assert truth.start is not None
    later = [i for i in after_start(changed, truth.topic, truth.start) if i in plain.items]
    assert len(later) > 100
    for item_id in later:
        latency = changed.item_values[item_id]["latency"]
        assert latency == pytest.approx(factor * plain.item_values[item_id]["latency"], abs=0.006)


@pytest.mark.parametrize(("scale", "low", "high"), [(1.0, 0.36, 0.55), (0.5, 0.16, 0.32)])
def test_error_step_raises_the_later_error_rate(scale: float, low: float, high: float) -> None:
    changed, plain = with_and_without(Change.ERROR_HEAVY, scale)
    [truth] = changed.planted
    assert truth.start is not None
    later = after_start(changed, truth.topic, truth.start)
    failing = [i for i in later if changed.item_values[i]["error_count"] > 0]
    assert len(later) > 100 and low < len(failing) / len(later) < high
    failed_before = [
        i for i in later if i in plain.item_values and plain.item_values[i]["error_count"] > 0
    ]
    assert set(failed_before) <= set(failing)


def topic_count_in_last_run(world: World, topic: str, start: datetime) -> int:
    run = world.runs[-1]
    return sum(
        1
        for i in run.item_ids
        if world.items[i].topic == topic and world.items[i].timestamp >= start
    )


@pytest.mark.parametrize(
    ("kind", "scale", "low", "high"),
    [
        (Change.SIZE_SHIFT, 1.0, 2.0, 3.1),
        (Change.SIZE_SHIFT, 0.5, 1.4, 2.1),
        (Change.VANISHED_CLUSTER, 1.0, 0.0, 0.0),
        (Change.VANISHED_CLUSTER, 0.5, 0.35, 0.65),
    ],
)
def test_traffic_steps_scale_later_volume(
    kind: Change, scale: float, low: float, high: float
) -> None:
    changed, plain = with_and_without(kind, scale)
    [truth] = changed.planted
    assert truth.start is not None
    expected = topic_count_in_last_run(plain, truth.topic, truth.start)
    assert expected > 80
    ratio = topic_count_in_last_run(changed, truth.topic, truth.start) / expected
    assert low <= ratio <= high


@pytest.mark.parametrize(("scale", "share"), [(1.0, 0.08), (0.5, 0.04)])
def test_new_topic_starts_at_its_moment_with_its_share(scale: float, share: float) -> None:
    changed, plain = with_and_without(Change.NEW_CLUSTER, scale)
    [truth] = changed.planted
    assert truth.start is not None and truth.previous_cluster_id is None
    stamps = [item.timestamp for item in changed.items.values() if item.topic == truth.topic]
    assert min(stamps) >= truth.start
    assert all(item.topic != truth.topic for item in plain.items.values())
    run = changed.runs[-1]
    later = [i for i in run.item_ids if changed.items[i].timestamp >= truth.start]
    new = [i for i in later if changed.items[i].topic == truth.topic]
    assert len(new) / len(later) == pytest.approx(share, abs=0.25 * share)


def test_step_starts_in_the_first_half_unless_told_otherwise() -> None:
    for seed, kind in zip(range(10, 16), itertools.cycle(STEP_KINDS), strict=False):
        world = pure(seed, plant=Plant(kind), runs=4)
        [truth] = world.planted
        run, previous = world.run(truth.run_id), world.run(truth.previous_run_id)
        assert truth.start is not None
        middle = previous.window_end + (run.window_end - previous.window_end) / 2
        assert previous.window_end <= truth.start <= middle
        late = pure(seed, plant=Plant(kind), runs=4, change_start=(0.9, 1.0))
        [late_truth] = late.planted
        assert late_truth.start is not None
        assert run.window_end - (run.window_end - previous.window_end) / 10 <= late_truth.start


def test_changed_topic_is_chosen_at_random() -> None:
    """Neither by price nor by size: over seeds, the chosen topic's rank by price and by
    traffic among the series' topics takes many values."""
    price_ranks, size_ranks = set(), set()
    for seed in range(20, 32):
        world = pure(seed, plant=Plant(Change.COST_SPIKE), runs=3, items_per_run=300)
        [truth] = world.planted
        topics = Counter(world.items[i].topic for i in world.runs[1].item_ids)
        by_price = sorted(topics, key=lambda t: TOPICS[t].expected_cost)
        price_ranks.add(by_price.index(truth.topic))
        size_ranks.add(sorted(topics, key=topics.__getitem__).index(truth.topic))
    assert len(price_ranks) >= 4 and len(size_ranks) >= 4


# -- the pure path ----------------------------------------------------------------------------


def test_pure_path_equals_the_events() -> None:
    for spec in (TRACE_SPEC, GENERATION_SPEC):
        full = generate(
            seed=12, series=[spec], now=NOW, runs=3, items_per_run=200, planted={}, events=True
        )
        bare = generate(
            seed=12, series=[spec], now=NOW, runs=3, items_per_run=200, planted={}, events=False
        )
        assert bare.runs == full.runs and bare.item_values == full.item_values
        assert [e["event"] for e in bare.events] == [f"$ai_{spec.level}_clusters"] * 3
        assert json.dumps([r.event for r in bare.runs], default=str) == json.dumps(
            [e for e in full.events if e["event"].endswith("_clusters")], default=str
        )
        sums = event_sums(full, spec.level)
        assert set(sums) == set(full.item_values)
        assert all(sums[i] == full.item_values[i] for i in sums)


def event_sums(world: World, level: str) -> dict[str, dict[str, float | int]]:
    """Per-item metrics summed from the generator's own events, as PostHog's query does."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for event in world.events:
        if event["event"] in ("$ai_generation", "$ai_embedding", "$ai_span"):
            by_trace.setdefault(event["properties"]["$ai_trace_id"], []).append(event)
    sums = {}
    for item_id, item in world.items.items():
        events = by_trace[item.trace_id]
        if level == "generation":
            events = [e for e in events if e["uuid"] == item_id]
        costed = [e["properties"] for e in events if e["event"] != "$ai_span"]
        tokens_in = sum(int(p["$ai_input_tokens"]) for p in costed)
        tokens_out = sum(int(p.get("$ai_output_tokens", 0)) for p in costed)
        sums[item_id] = {
            "cost": sum(float(p["$ai_total_cost_usd"]) for p in costed),
            "latency": sum(
                float(e["properties"]["$ai_latency"])
                for e in events
                if e["event"] == "$ai_generation"
            ),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "tokens": tokens_in + tokens_out,
            "error_count": sum(1 for e in events if e["properties"]["$ai_is_error"] is True),
        }
    return sums


def test_run_event_matches_the_truth() -> None:
    world = pure(13)
    for run in world.runs:
        props = run.properties
        clusters = {c["cluster_id"]: c for c in props["$ai_clusters"]}
        assert props["$ai_clustering_run_id"] == run.run_id
        assert props["$ai_total_items_analyzed"] == run.total_items
        assert {c: len(v["traces"]) for c, v in clusters.items()} == run.sizes
        assert {c: v["metrics"] for c, v in clusters.items()} == run.metrics
        for cluster in clusters.values():
            ids = list(cluster["traces"])
            cost = [world.item_values[i]["cost"] for i in ids]
            assert cluster["metrics"]["total_cost"] == pytest.approx(sum(cost), rel=1e-9)


# -- evaluation level -------------------------------------------------------------------------


def test_evaluation_runs_have_posthogs_shapes() -> None:
    spec = SeriesSpec(level="evaluation", job_name="Default - evaluations")
    world = generate(seed=14, series=[spec], now=NOW, runs=2, items_per_run=300, planted={})
    by_uuid = {e["uuid"]: e for e in world.events}
    unjoined = 0
    for run in world.runs:
        assert run.event["event"] == "$ai_evaluation_clusters"
        assert (run.window_end.hour, run.window_end.minute) == (6, 0)
        for cluster in run.properties["$ai_clusters"]:
            verdicts = []
            for key, entry in cluster["traces"].items():
                event = by_uuid[key]
                assert event["event"] == "$ai_evaluation" and entry["generation_id"] == key
                assert entry["timestamp"] == run.window_end.isoformat(timespec="microseconds")
                target = by_uuid[event["properties"]["$ai_target_event_id"]]
                assert target["event"] == "$ai_generation"
                joined = event["properties"].get("$ai_trace_id")
                assert entry["trace_id"] == (joined or key)
                assert joined is None or joined == target["properties"]["$ai_trace_id"]
                unjoined += joined is None
                verdicts.append(event["properties"]["$ai_evaluation_result"])
            judged = [v for v in verdicts if v is not None]
            assert cluster["metrics"]["pass_rate"] == pytest.approx(sum(judged) / len(judged))
            assert cluster["metrics"]["na_rate"] == pytest.approx(1 - len(judged) / len(verdicts))
    items = sum(r.total_items for r in world.runs)
    assert 0.01 < unjoined / items < 0.1
