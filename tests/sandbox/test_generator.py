"""The synthetic traffic generator through the local PostHog: determinism, run and event shapes,
metrics against SQL, planted truth, `emit_next_run`. The traffic model itself (sampling, tails,
steps) is tested in test_generator_model.py."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from standins.posthog.server import LocalPostHog
from standins.traffic.generator import (
    Change,
    Plant,
    RunTruth,
    SeriesSpec,
    World,
    emit_next_run,
    generate,
    new_events,
)
from standins.traffic.model import ITEMS_PER_DAY
from standins.traffic.sim import forget_series

NOW = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
TRACES = "Default - traces"
GENERATIONS = "Default - generations"
SERIES = [SeriesSpec(), SeriesSpec(level="generation", job_name=GENERATIONS)]
PLANTED = {
    (TRACES, 2): Change.COST_SPIKE,
    (TRACES, 3): Change.SIZE_SHIFT,
    (TRACES, 5): Change.NEW_CLUSTER,
    (GENERATIONS, 2): Change.ERROR_HEAVY,
    (GENERATIONS, 3): Change.LATENCY_SPIKE,
    (GENERATIONS, 4): Change.VANISHED_CLUSTER,
    (GENERATIONS, 5): Plant(Change.COST_SPIKE, scale=0.5),
}
PROJECT = 3
KEY = "phx_generator"
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")


def make_world(seed: int = 11, **kwargs: Any) -> World:
    options: dict[str, Any] = {"runs": 6, "items_per_run": 300, "planted": PLANTED}
    options.update(kwargs)
    return generate(seed=seed, series=SERIES, now=NOW, **options)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def loaded(world: World) -> Iterator[httpx.Client]:
    with LocalPostHog(project_id=PROJECT, api_key=KEY) as server:
        server.insert_events(world.events)
        server.set_jobs(world.jobs)
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ) as client:
            yield client


def query(client: httpx.Client, text: str, values: dict[str, Any] | None = None) -> list[Any]:
    body = {"query": {"kind": "HogQLQuery", "query": text, "values": values or {}}}
    response = client.post(f"/api/projects/{PROJECT}/query/", json=body)
    assert response.status_code == 200, response.text
    results: list[Any] = response.json()["results"]
    return results


def fetch_run(client: httpx.Client, run: RunTruth) -> dict[str, Any]:
    [row] = query(
        client,
        "SELECT properties.$ai_clusters, properties.$ai_window_start, properties.$ai_window_end, "
        "properties.$ai_total_items_analyzed, properties.$ai_clustering_level, timestamp, "
        "distinct_id FROM events WHERE event IN ('$ai_trace_clusters', '$ai_generation_clusters') "
        "AND properties.$ai_clustering_run_id = {run_id}",
        {"run_id": run.run_id},
    )
    clusters, start, end, total, level, timestamp, distinct_id = row
    return {
        "clusters": json.loads(clusters),
        "start": start,
        "end": end,
        "total": int(total),
        "level": level,
        "timestamp": timestamp,
        "distinct_id": distinct_id,
    }


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_world(world: World) -> None:
    forget_series()  # from nothing, not from the series this process simulated already
    again = make_world()
    assert json.dumps(again.events, default=str) == json.dumps(world.events, default=str)
    assert again.runs == world.runs and again.planted == world.planted
    other = make_world(seed=12)
    assert other.runs[0].run_id != world.runs[0].run_id or other.events != world.events


def test_a_world_does_not_depend_on_the_worlds_made_before_it() -> None:
    """The process keeps each series' traffic and item values for the next world of that series
    (standins.traffic.sim.SeriesMemo): worlds of the same series with other changes, volumes
    (whose streams hold the same draws at other moments), summarizers or latency models change
    nothing."""
    base: dict[str, Any] = {"seed": 21, "series": SERIES, "now": NOW, "runs": 3}
    changed = {(TRACES, 2): Change.COST_SPIKE, (GENERATIONS, 1): Change.NEW_CLUSTER}
    forget_series()
    alone = generate(**base, planted=changed, items_per_run=100)
    forget_series()
    # the same draws under a summarizer (which dates each item), then at other moments
    generate(**base, planted={(TRACES, 2): Change.ERROR_HEAVY}, traces_per_day=ITEMS_PER_DAY,
             events=False)  # fmt: skip
    generate(**base, planted={(TRACES, 2): Change.SIZE_SHIFT}, items_per_day=500.0, events=False)
    generate(**base, items_per_run=100, events=False)
    generate(**base, planted=changed, items_per_run=100, events=False, latency_by_tokens=True)
    generate(**base, planted=changed, items_per_run=60, events=False)
    after = generate(**base, planted=changed, items_per_run=100)
    assert json.dumps(after.events, default=str) == json.dumps(alone.events, default=str)
    assert after.runs == alone.runs and after.planted == alone.planted
    assert after.item_values == alone.item_values and after.items == alone.items


def test_series_do_not_depend_on_each_other(world: World) -> None:
    alone = generate(
        seed=11,
        series=[SERIES[0]],
        now=NOW,
        runs=6,
        planted={k: v for k, v in PLANTED.items() if k[0] == TRACES},
    )
    assert [r.run_id for r in alone.runs] == [r.run_id for r in world.runs_of(TRACES)]
    assert alone.runs_of(TRACES)[-1].metrics == world.runs_of(TRACES)[-1].metrics


# -- run shape --------------------------------------------------------------------------------


def test_runs_and_windows(world: World) -> None:
    traces = world.runs_of(TRACES)
    assert len(traces) == 6 and len(world.runs_of(GENERATIONS)) == 6
    assert [r.index for r in traces] == list(range(6))
    for previous, run in itertools.pairwise(traces):
        assert abs(run.window_end - previous.window_end - timedelta(days=1)) < timedelta(seconds=10)
    newest = traces[-1]
    assert newest.timestamp <= NOW and newest.timestamp > NOW - timedelta(days=1)
    assert (newest.window_end.hour, newest.window_end.minute) == (0, 15)
    assert world.runs_of(GENERATIONS)[-1].window_end.minute == 45
    assert re.fullmatch(rf"1_trace_\d{{8}}_0015\d\d_{newest.series[1]}", newest.run_id)
    assert [r.timestamp for r in world.runs] == sorted(r.timestamp for r in world.runs)


def test_run_event_shape(world: World, loaded: httpx.Client) -> None:
    run = world.runs_of(GENERATIONS)[-1]
    stored = fetch_run(loaded, run)
    assert stored["level"] == "generation" and stored["total"] == run.total_items == 300
    assert stored["start"] == run.window_start.isoformat(timespec="microseconds")
    assert stored["end"].endswith("+00:00") and stored["distinct_id"] == "clustering_generation_1"
    assert stored["timestamp"] == (run.window_end + timedelta(minutes=14)).isoformat(
        timespec="microseconds"
    ).replace("+00:00", "Z")
    clusters = stored["clusters"]
    ids = [c["cluster_id"] for c in clusters]
    assert ids[-1] == -1 and ids[:-1] == sorted(ids[:-1]) == list(range(len(ids) - 1))
    assert sum(c["size"] for c in clusters) == 300
    for cluster in clusters:
        entries = list(cluster["traces"].values())
        assert cluster["size"] == len(entries)
        assert sorted(e["rank"] for e in entries) == list(range(len(entries)))
        by_rank = sorted(entries, key=lambda e: e["rank"])
        distances = [e["distance_to_centroid"] for e in by_rank]
        noise = cluster["cluster_id"] == -1
        assert distances == sorted(distances, reverse=noise)
        assert (cluster["centroid"] == []) == noise
        assert set(cluster) >= {"title", "description", "centroid_x", "centroid_y", "metrics"}
        assert all(line.startswith("- ") for line in cluster["description"].splitlines())
        for item_id, entry in cluster["traces"].items():
            assert entry["generation_id"] == item_id and entry["trace_id"] != item_id
            assert entry["timestamp"] == "" or TS_RE.match(entry["timestamp"])


def test_empty_timestamps_are_rare(world: World, loaded: httpx.Client) -> None:
    entries = [
        entry
        for run in world.runs_of(TRACES)
        for cluster in fetch_run(loaded, run)["clusters"]
        for entry in cluster["traces"].values()
    ]
    empty = sum(1 for e in entries if e["timestamp"] == "") / len(entries)
    assert 0.005 < empty < 0.04
    assert all(e["generation_id"] is None for e in entries)


def test_event_properties(world: World) -> None:
    generations = [e for e in world.events if e["event"] == "$ai_generation"]
    costs = [e["properties"]["$ai_total_cost_usd"] for e in generations]
    as_strings = sum(isinstance(c, str) for c in costs) / len(costs)
    assert 0.002 < as_strings < 0.03
    assert all(isinstance(e["properties"]["$ai_is_error"], bool) for e in generations)
    errors = [e for e in generations if e["properties"]["$ai_is_error"]]
    assert errors and all(e["properties"]["$ai_error"] for e in errors)
    names = {e["event"] for e in world.events}
    assert names >= {
        "$ai_trace",
        "$ai_generation",
        "$ai_span",
        "$ai_embedding",
        "$ai_trace_summary",
        "$ai_generation_summary",
        "$ai_trace_clusters",
        "$ai_generation_clusters",
    }
    assert len({e["uuid"] for e in world.events}) == len(world.events)
    assert {j["name"] for j in world.jobs} == {TRACES, GENERATIONS}


# -- metrics ----------------------------------------------------------------------------------

TRACE_METRICS = """
SELECT properties.$ai_trace_id AS item_id,
    sumIf(toFloat(properties.$ai_total_cost_usd), event IN ('$ai_generation', '$ai_embedding')),
    sumIf(toFloat(properties.$ai_latency), event = '$ai_generation'),
    sumIf(toInt(properties.$ai_input_tokens), event IN ('$ai_generation', '$ai_embedding')),
    sumIf(toInt(properties.$ai_output_tokens), event IN ('$ai_generation', '$ai_embedding')),
    countIf(properties.$ai_is_error = 'true')
FROM events
WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
    AND timestamp >= toDateTime({start}) AND timestamp < toDateTime({end})
    AND properties.$ai_trace_id IN {ids}
GROUP BY item_id
LIMIT 50000
"""
GENERATION_METRICS = """
SELECT toString(uuid) AS item_id, toFloat(properties.$ai_total_cost_usd),
    toFloat(properties.$ai_latency), toInt(properties.$ai_input_tokens),
    toInt(properties.$ai_output_tokens), if(properties.$ai_is_error = 'true', 1, 0)
FROM events
WHERE event = '$ai_generation' AND timestamp >= toDateTime({start})
    AND timestamp < toDateTime({end}) AND uuid IN {ids}
LIMIT 50000
"""


def sql_item_metrics(client: httpx.Client, run: RunTruth) -> dict[str, tuple[Any, ...]]:
    """Per-item metrics with PostHog's own HogQL (data.py: fetch_item_metrics)."""
    stored = fetch_run(client, run)
    ids = [item for c in stored["clusters"] for item in c["traces"]]
    text = TRACE_METRICS if run.series[0] == "trace" else GENERATION_METRICS
    rows = query(client, text, {"start": stored["start"], "end": stored["end"], "ids": ids})
    return {row[0]: tuple(row[1:]) for row in rows}


def sql_cluster_metrics(client: httpx.Client, run: RunTruth) -> dict[int, dict[str, Any]]:
    """PostHog's aggregates.py over per-item metrics fetched with PostHog's own HogQL."""
    stored = fetch_run(client, run)
    per_item = sql_item_metrics(client, run)
    result = {}
    for cluster in stored["clusters"]:
        costs, latencies, tokens = [], [], []
        errors = with_data = 0
        for item_id in cluster["traces"]:
            if item_id not in per_item:
                continue
            cost, latency, tokens_in, tokens_out, error_count = per_item[item_id]
            with_data += 1
            errors += error_count > 0
            if cost is not None and cost > 0:
                costs.append(cost)
            if latency is not None and latency > 0:
                latencies.append(latency)
            if (tokens_in or 0) + (tokens_out or 0) > 0:
                tokens.append((tokens_in or 0) + (tokens_out or 0))
        result[cluster["cluster_id"]] = {
            "avg_cost": sum(costs) / len(costs),
            "avg_latency": sum(latencies) / len(latencies),
            "avg_tokens": sum(tokens) / len(tokens),
            "total_cost": sum(costs),
            "error_rate": errors / with_data,
            "error_count": errors,
            "item_count": with_data,
        }
    return result


@pytest.mark.parametrize(("name", "index"), [(TRACES, 5), (TRACES, 2), (GENERATIONS, 4)])
def test_embedded_metrics_match_sql(
    world: World, loaded: httpx.Client, name: str, index: int
) -> None:
    run = world.runs_of(name)[index]
    from_sql = sql_cluster_metrics(loaded, run)
    embedded = {c["cluster_id"]: c["metrics"] for c in fetch_run(loaded, run)["clusters"]}
    assert set(from_sql) == set(embedded) == set(run.metrics)
    for cluster_id, expected in from_sql.items():
        for key, value in expected.items():
            assert embedded[cluster_id][key] == pytest.approx(value, rel=1e-9), (cluster_id, key)
            assert run.metrics[cluster_id][key] == embedded[cluster_id][key]
        assert embedded[cluster_id]["pass_rate"] is None
        assert embedded[cluster_id]["item_count"] == run.sizes[cluster_id]


@pytest.mark.parametrize(("name", "index"), [(TRACES, 5), (GENERATIONS, 5)])
def test_item_values_are_what_posthog_sql_returns(
    world: World, loaded: httpx.Client, name: str, index: int
) -> None:
    run = world.runs_of(name)[index]
    from_sql = sql_item_metrics(loaded, run)
    assert set(from_sql) == run.item_ids
    for item_id, (cost, latency, tokens_in, tokens_out, errors) in from_sql.items():
        values = world.item_values[item_id]
        assert values["cost"] == pytest.approx(cost, rel=1e-9, abs=1e-15), item_id
        assert values["latency"] == pytest.approx(latency, rel=1e-9), item_id
        assert (values["input_tokens"], values["output_tokens"]) == (tokens_in, tokens_out)
        assert values["tokens"] == tokens_in + tokens_out
        assert values["error_count"] == errors


def test_embedded_metrics_modes() -> None:
    def layouts(w: World) -> list[str]:
        found = []
        for event in w.events:
            if event["event"].endswith("_clusters"):
                clusters = event["properties"]["$ai_clusters"]
                if isinstance(clusters, str):
                    clusters = json.loads(clusters)
                first = clusters[0]
                found.append(
                    "absent"
                    if "metrics" not in first
                    else "null"
                    if first["metrics"] is None
                    else "present"
                )
        return found

    small = {"runs": 4, "items_per_run": 60, "planted": {}}
    assert layouts(make_world(embedded_metrics="null", **small)) == ["null"] * 8
    assert layouts(make_world(embedded_metrics="absent", **small)) == ["absent"] * 8
    mixed = make_world(embedded_metrics="mixed", **small)
    assert layouts(mixed)[:4] == ["absent", "null", "present", "present"]
    assert all(r.metrics for r in mixed.runs)  # truth is always computed
    as_string = make_world(clusters_as_string=True, **small)
    assert all(
        isinstance(e["properties"]["$ai_clusters"], str)
        for e in as_string.events
        if e["event"].endswith("_clusters")
    )


# -- planted changes --------------------------------------------------------------------------


def test_planted_truth_is_reported(world: World) -> None:
    expected = {(job, index, p.kind, p.scale) for (job, index), p in planted_as_plants().items()}
    reported = {(p.job_name, world.run(p.run_id).index, p.kind, p.scale) for p in world.planted}
    assert reported == expected
    for truth in world.planted:
        run, previous = world.run(truth.run_id), world.run(truth.previous_run_id)
        assert run.change is truth.kind and run.scale == truth.scale
        assert world.previous(run) == previous
        assert truth.start is not None and previous.window_end < truth.start < run.window_end
        series = world.runs_of(truth.job_name)
        assert list(truth.clusters) == [r.run_id for r in series]
        assert truth.clusters[run.run_id] == truth.cluster_id == run.cluster_of_topic(truth.topic)
        assert truth.clusters[previous.run_id] == truth.previous_cluster_id
        for r in series:
            holder = truth.clusters[r.run_id]
            others = [t for c, t in r.topic_of_cluster.items() if c != holder]
            assert holder is None or r.topic_of_cluster[holder] == truth.topic
            assert truth.topic not in others


def planted_as_plants() -> dict[tuple[str, int], Plant]:
    return {k: v if isinstance(v, Plant) else Plant(v) for k, v in PLANTED.items()}


def test_trace_query_on_generated_trace(world: World, loaded: httpx.Client) -> None:
    run = world.runs_of(TRACES)[-1]
    trace_id = run.items[0][0]
    stored = fetch_run(loaded, run)
    entry = next(c for c in stored["clusters"] if c["cluster_id"] == 0)["traces"][trace_id]
    created = datetime.fromisoformat(entry["timestamp"]) if entry["timestamp"] else run.window_start
    body = {
        "query": {
            "kind": "TraceQuery",
            "traceId": trace_id,
            "dateRange": {
                "date_from": (created - timedelta(days=1)).isoformat()
                if entry["timestamp"]
                else run.window_start.isoformat(),
                "date_to": run.window_end.isoformat(),
            },
        }
    }
    [trace] = loaded.post(f"/api/projects/{PROJECT}/query/", json=body).json()["results"]
    rows = query(
        loaded, TRACE_METRICS, {"start": stored["start"], "end": stored["end"], "ids": [trace_id]}
    )
    assert trace["totalCost"] == pytest.approx(round(rows[0][1], 4))
    assert trace["events"] and all(e["event"] != "$ai_trace" for e in trace["events"])
    assert trace["traceName"]


# -- emit_next_run ----------------------------------------------------------------------------


def same_bytes(old: World, new: World) -> bool:
    """Every event of `old` is in `new`, serialized identically and in the same order."""
    uuids = {o["uuid"] for o in old.events}
    kept = [e for e in new.events if e["uuid"] in uuids]
    return json.dumps(kept, default=str) == json.dumps(old.events, default=str)


def test_emit_next_run_appends_one_run(world: World) -> None:
    later = NOW + timedelta(days=1)
    bigger = emit_next_run(world, job_name=TRACES, change=Change.COST_SPIKE, now=later)
    old = {e["uuid"]: e for e in world.events}
    new = {e["uuid"]: e for e in bigger.events}
    assert all(new[u] == event for u, event in old.items())
    assert same_bytes(world, bigger)
    assert all(bigger.item_values[i] == v for i, v in world.item_values.items())
    assert bigger.runs[: len(world.runs)] == world.runs
    assert bigger.added_events == new_events(world, bigger)
    assert [e["event"] for e in bigger.added_events][-1] == "$ai_trace_clusters"
    runs = bigger.runs_of(TRACES)
    assert len(runs) == 7 and runs[-1].window_end.date() == later.date()
    assert runs[-1].window_end - runs[-2].window_end < timedelta(days=1, minutes=1)
    assert (
        bigger.planted[-1].kind is Change.COST_SPIKE
        and bigger.planted[-1].run_id == runs[-1].run_id
    )
    same_day = emit_next_run(bigger, job_name=TRACES, now=later + timedelta(hours=5))
    assert same_day.runs_of(TRACES)[-1].window_end == later + timedelta(hours=5) - timedelta(
        minutes=15
    )
    with pytest.raises(ValueError):
        emit_next_run(same_day, job_name=TRACES, now=later + timedelta(hours=5))


def test_emit_next_run_with_a_scaled_change(world: World) -> None:
    later = NOW + timedelta(days=1)
    plant = Plant(Change.SIZE_SHIFT, scale=0.5)
    bigger = emit_next_run(world, job_name=GENERATIONS, change=plant, now=later)
    truth = bigger.planted[-1]
    newest = bigger.runs_of(GENERATIONS)[-1]
    assert (truth.kind, truth.scale, truth.run_id) == (Change.SIZE_SHIFT, 0.5, newest.run_id)
    assert truth.start is not None and truth.start > bigger.runs_of(GENERATIONS)[-2].window_end
    assert same_bytes(world, bigger)
    assert [e["event"] for e in bigger.added_events][-1] == "$ai_generation_clusters"


def test_an_untouched_change_lands_where_no_earlier_change_did(world: World) -> None:
    """The sandbox's "Next clustering run" plants untouched changes: each on a topic of its own
    while one is left (the series' seven topics hold three changes already; four more fit)."""
    for day in range(1, 5):
        plant = Plant(Change.COST_SPIKE, untouched=True)
        world = emit_next_run(world, job_name=TRACES, change=plant, now=NOW + timedelta(days=day))
    topics = [p.topic for p in world.planted if p.job_name == TRACES]
    assert len(topics) == 7 and len(set(topics)) == 7
    plant = Plant(Change.COST_SPIKE, untouched=True)
    full = emit_next_run(world, job_name=TRACES, change=plant, now=NOW + timedelta(days=5))
    assert full.planted[-1].topic in topics  # none left: any live topic


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW, planted={(TRACES, 0): Change.COST_SPIKE})
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW, embedded_metrics="sometimes")
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        Plant(Change.COST_SPIKE, scale=0.0)
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW, change_start=(0.6, 0.4))
    with pytest.raises(TypeError):
        generate(seed=1, series=SERIES, now=NOW, overlap=0.35)  # type: ignore[call-arg]
    assert math.isfinite(make_world(runs=1, planted={}, items_per_run=50).runs[0].total_items)
