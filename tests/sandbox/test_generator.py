"""The synthetic traffic generator: determinism, run shape, metrics against SQL, planted changes."""

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

from sandbox.generator import (
    Change,
    RunTruth,
    SeriesSpec,
    World,
    emit_next_run,
    generate,
    new_events,
)
from sandbox.posthog_server import LocalPostHog

NOW = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
TRACES = "Default - traces"
GENERATIONS = "Default - generations"
SERIES = [SeriesSpec(), SeriesSpec(level="generation", job_name=GENERATIONS)]
PLANTED = {
    (TRACES, 2): Change.COST_SPIKE,
    (TRACES, 3): Change.SIZE_SHIFT,
    (TRACES, 5): Change.NEW_CLUSTER,
    (GENERATIONS, 2): Change.ERROR_HEAVY,
    (GENERATIONS, 4): Change.VANISHED_CLUSTER,
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
    again = make_world()
    assert json.dumps(again.events, default=str) == json.dumps(world.events, default=str)
    assert again.runs == world.runs and again.planted == world.planted
    other = make_world(seed=12)
    assert other.runs[0].run_id != world.runs[0].run_id or other.events != world.events


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


def test_overlap_between_consecutive_runs(world: World) -> None:
    for name in (TRACES, GENERATIONS):
        runs = world.runs_of(name)
        for previous, run in itertools.pairwise(runs):
            shared = len(run.item_ids & previous.item_ids) / run.total_items
            assert 0.25 <= shared <= 0.45, (name, run.index, shared)


def test_overlap_parameter() -> None:
    w = generate(seed=2, series=[SeriesSpec()], now=NOW, runs=2, items_per_run=200, overlap=0.6)
    first, second = w.runs
    assert len(first.item_ids & second.item_ids) / 200 == pytest.approx(0.6, abs=0.05)


def test_titles_paraphrase_and_ids_shuffle(world: World) -> None:
    runs = world.runs_of(TRACES)
    shuffled = False
    for previous, run in itertools.pairwise(runs):
        for cluster_id, topic in run.topic_of_cluster.items():
            before = previous.cluster_of_topic(topic)
            if cluster_id == -1 or before is None:
                continue
            assert run.titles[cluster_id] != previous.titles[before]
            shuffled |= before != cluster_id
        # carried-over items stay with their topic
        for cluster_id, items in run.items.items():
            topic = run.topic_of_cluster[cluster_id]
            before = previous.cluster_of_topic(topic)
            if cluster_id == -1 or before is None:
                continue
            carried = set(items) & previous.item_ids
            assert carried <= set(previous.items[before]) | set(previous.items.get(-1, ()))
    assert shuffled
    noise_share = [r.share(-1) for r in runs]
    assert all(0.03 < share < 0.15 for share in noise_share)


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


def sql_cluster_metrics(client: httpx.Client, run: RunTruth) -> dict[int, dict[str, Any]]:
    """PostHog's aggregates.py over per-item metrics fetched with PostHog's own HogQL."""
    stored = fetch_run(client, run)
    ids = [item for c in stored["clusters"] for item in c["traces"]]
    text = TRACE_METRICS if run.series[0] == "trace" else GENERATION_METRICS
    rows = query(client, text, {"start": stored["start"], "end": stored["end"], "ids": ids})
    per_item = {row[0]: row[1:] for row in rows}
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


def pair(world: World, kind: Change) -> tuple[Any, RunTruth, RunTruth]:
    [truth] = [p for p in world.planted if p.kind is kind]
    return truth, world.run(truth.run_id), world.run(truth.previous_run_id)


def test_planted_truth_is_reported(world: World) -> None:
    assert {p.kind for p in world.planted} == set(PLANTED.values())
    for truth in world.planted:
        run = world.run(truth.run_id)
        assert run.change is truth.kind
        assert world.previous(run) == world.run(truth.previous_run_id)
        if truth.cluster_id is not None:
            assert run.topic_of_cluster[truth.cluster_id] == truth.topic


@pytest.mark.parametrize("seed", [11, 3, 4])
def test_planted_changes_are_visible(seed: int) -> None:
    w = make_world(seed=seed)
    truth, run, prev = pair(w, Change.COST_SPIKE)
    ratio = (
        run.metrics[truth.cluster_id]["avg_cost"]
        / prev.metrics[truth.previous_cluster_id]["avg_cost"]
    )
    assert ratio >= 1.5
    truth, run, prev = pair(w, Change.ERROR_HEAVY)
    before = prev.metrics[truth.previous_cluster_id]["error_rate"]
    assert before < 0.1 and run.metrics[truth.cluster_id]["error_rate"] - before >= 0.15
    truth, run, prev = pair(w, Change.SIZE_SHIFT)
    assert run.share(truth.cluster_id) - prev.share(truth.previous_cluster_id) >= 0.08
    truth, run, prev = pair(w, Change.NEW_CLUSTER)
    assert truth.previous_cluster_id is None and truth.topic not in prev.topic_of_cluster.values()
    assert 0.07 <= run.share(truth.cluster_id) <= 0.2
    assert not (set(run.items[truth.cluster_id]) & prev.item_ids)
    truth, run, prev = pair(w, Change.VANISHED_CLUSTER)
    assert truth.cluster_id is None and truth.topic not in run.topic_of_cluster.values()
    assert prev.share(truth.previous_cluster_id) >= 0.08
    assert not (set(prev.items[truth.previous_cluster_id]) & run.item_ids)


def test_unplanted_clusters_stay_stable(world: World) -> None:
    for truth in world.planted:
        run, prev = world.run(truth.run_id), world.run(truth.previous_run_id)
        for cluster_id, topic in run.topic_of_cluster.items():
            before = prev.cluster_of_topic(topic)
            if topic == truth.topic or cluster_id == -1 or before is None:
                continue
            ratio = run.metrics[cluster_id]["avg_cost"] / prev.metrics[before]["avg_cost"]
            assert 0.6 < ratio < 1.6, (truth.kind, topic, ratio)
            assert (
                abs(run.metrics[cluster_id]["error_rate"] - prev.metrics[before]["error_rate"])
                < 0.12
            )


def test_planted_numbers_visible_through_the_server(world: World, loaded: httpx.Client) -> None:
    truth, run, prev = pair(world, Change.COST_SPIKE)
    now_cost = next(
        c for c in fetch_run(loaded, run)["clusters"] if c["cluster_id"] == truth.cluster_id
    )
    then_cost = next(
        c
        for c in fetch_run(loaded, prev)["clusters"]
        if c["cluster_id"] == truth.previous_cluster_id
    )
    assert now_cost["metrics"]["avg_cost"] >= 1.5 * then_cost["metrics"]["avg_cost"]


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


def test_emit_next_run_appends_one_run(world: World) -> None:
    later = NOW + timedelta(days=1)
    bigger = emit_next_run(world, job_name=TRACES, change=Change.COST_SPIKE, now=later)
    old = {e["uuid"]: e for e in world.events}
    new = {e["uuid"]: e for e in bigger.events}
    assert all(new[u] == event for u, event in old.items())
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


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW, planted={(TRACES, 0): Change.COST_SPIKE})
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW, embedded_metrics="sometimes")
    with pytest.raises(ValueError):
        generate(seed=1, series=SERIES, now=NOW.replace(tzinfo=None))
    assert math.isfinite(make_world(runs=1, planted={}, items_per_run=50).runs[0].total_items)
