"""Parsing every run payload variant from reference/posthog.md 1.2-1.5."""

import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.models import NOISE_CLUSTER_ID, Level
from bot.posthog.errors import PostHogSchemaError
from bot.posthog.run_ids import run_day
from bot.posthog.schemas import parse_datetime, parse_run, parse_run_summary

RUN_ID = "2_generation_20260614_004503_019cb7f3-a126-7809-bffc-7f13bffe1325"


def cluster(cluster_id: int = 0, *, metrics: object = "absent", **extra: object) -> dict:
    body: dict = {
        "cluster_id": cluster_id,
        "size": 2,
        "title": "SQL generation for dashboards",
        "description": "- Users ask for HogQL queries\n- Model returns SQL",
        "traces": {
            "gen-1": {
                "distance_to_centroid": 0.07,
                "rank": 0,
                "x": 1.2,
                "y": -0.4,
                "timestamp": "2026-06-13T09:12:44+00:00",
                "trace_id": "t-1",
                "generation_id": "gen-1",
            },
            "gen-2": {
                "distance_to_centroid": 0.5,
                "rank": 1,
                "x": 1.0,
                "y": -0.1,
                "timestamp": "",
                "trace_id": "t-2",
                "generation_id": "gen-2",
            },
        },
        "centroid": [0.1, 0.2],
        "centroid_x": 1.1,
        "centroid_y": -0.3,
    }
    if metrics != "absent":
        body["metrics"] = metrics
    body.update(extra)
    return body


def row(clusters: object, **overrides: object) -> dict:
    base = {
        "run_id": RUN_ID,
        "event": "$ai_generation_clusters",
        "job_id": "019cb7f3-a126-7809-bffc-7f13bffe1325",
        "job_name": "Default - generations",
        "window_start": "2026-06-07T00:45:03.102938+00:00",
        "window_end": "2026-06-14T00:45:03.102938+00:00",
        "total_items": 1500,
        "cluster_count": None,
        "timestamp": "2026-06-14T00:59:41.120000Z",
        "clusters": clusters,
    }
    base.update(overrides)
    return base


METRICS = {
    "avg_cost": 0.004,
    "avg_latency": 2.3,
    "avg_tokens": 1830.0,
    "total_cost": 2.44,
    "error_rate": 0.01,
    "error_count": 6,
    "item_count": 605,
    "pass_rate": None,
    "na_rate": None,
    "dominant_evaluation_name": None,
    "dominant_runtime": None,
    "avg_judge_cost": None,
    "sentiment": {"label": "positive"},
}


def test_native_array_with_metrics() -> None:
    run = parse_run(row(json.dumps([cluster(0, metrics=METRICS)])))
    assert run.level is Level.GENERATION and run.total_items == 1500
    assert run.window_end == datetime(2026, 6, 14, 0, 45, 3, 102938, tzinfo=UTC)
    (only,) = run.clusters
    assert only.metrics is not None and only.metrics.avg_cost == 0.004
    assert only.items[0].generation_id == "gen-1" and only.items[1].timestamp is None
    assert only.bullets == ["Users ask for HogQL queries", "Model returns SQL"]


def test_clusters_as_json_string_layout() -> None:
    """Older events store `$ai_clusters` as a JSON string holding the array."""
    as_string = json.dumps(json.dumps([cluster(0), cluster(-1, title="Outliers")]))
    run = parse_run(row(as_string))
    assert [c.cluster_id for c in run.clusters] == [0, NOISE_CLUSTER_ID]


@pytest.mark.parametrize("metrics", [None, "absent"])
def test_metrics_null_or_absent_means_unknown(metrics: object) -> None:
    run = parse_run(row([cluster(0, metrics=metrics)]))
    assert run.clusters[0].metrics is None and run.missing_metrics


def test_legacy_trace_run_without_level_or_job() -> None:
    legacy = row(
        [cluster(0)],
        run_id="2_20250123_001500",
        event="$ai_trace_clusters",
        job_id=None,
        job_name=None,
        total_items=None,
    )
    legacy["total_items"] = 480  # the query coalesces $ai_total_traces_analyzed into this column
    run = parse_run(legacy)
    assert (run.level, run.job_id, run.job_label, run.total_items) == (
        Level.TRACE,
        "",
        "legacy job",
        480,
    )


def test_evaluation_level() -> None:
    run = parse_run(row([cluster(0)], event="$ai_evaluation_clusters"))
    assert run.level is Level.EVALUATION


def test_noise_cluster_rank_order_is_most_anomalous_first() -> None:
    noise = cluster(-1, title="Outliers")
    noise["traces"]["gen-1"]["rank"], noise["traces"]["gen-2"]["rank"] = 1, 0
    run = parse_run(row([cluster(0), noise]))
    outliers = run.cluster(-1)
    assert outliers is not None and outliers.is_noise
    assert [i.item_id for i in outliers.representative(1)] == ["gen-2"]
    assert run.by_size[-1].is_noise


def test_malformed_cluster_is_skipped_with_a_warning_naming_the_run(caplog) -> None:
    broken = [cluster(0), {"cluster_id": "x"}, "nonsense", cluster(1, traces=[1, 2])]
    with caplog.at_level(logging.WARNING):
        run = parse_run(row(broken))
    assert [c.cluster_id for c in run.clusters] == [0]
    warnings = [r for r in caplog.records if r.msg == "posthog.cluster.malformed"]
    assert len(warnings) == 3 and all(r.run_id == RUN_ID for r in warnings)


@pytest.mark.parametrize("clusters", [None, "", "{not json", 42, {"a": 1}])
def test_unreadable_clusters_payload_is_a_schema_error(clusters: object) -> None:
    with pytest.raises(PostHogSchemaError, match=RUN_ID):
        parse_run(row(clusters))


def test_missing_run_id_or_timestamp_is_a_schema_error() -> None:
    with pytest.raises(PostHogSchemaError):
        parse_run_summary(row([], run_id=""))
    with pytest.raises(PostHogSchemaError):
        parse_run_summary(row([], timestamp="yesterday"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-06-14T00:15:02.518293+00:00", datetime(2026, 6, 14, 0, 15, 2, 518293, tzinfo=UTC)),
        (
            "2026-06-14T02:15:02+02:00",
            datetime(2026, 6, 14, 2, 15, 2, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2026-06-14T00:15:02Z", datetime(2026, 6, 14, 0, 15, 2, tzinfo=UTC)),
        ("2026-11-20 13:20:09.807193", datetime(2026, 11, 20, 13, 20, 9, 807193, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_datetime(raw: object, expected: datetime | None) -> None:
    assert parse_datetime(raw) == expected


@pytest.mark.parametrize(
    ("run_id", "day"),
    [
        (RUN_ID, datetime(2026, 6, 14, tzinfo=UTC)),
        ("2_trace_20260614_001502", datetime(2026, 6, 14, tzinfo=UTC)),
        ("2_20250123_001500", datetime(2025, 1, 23, tzinfo=UTC)),
        ("team_123_2025-01-23T00:00:00Z", datetime(2025, 1, 23, tzinfo=UTC)),
        (
            "2_evaluation_019cb7f3-a126-7809-bffc-7f13bffe1325_20260614_064503",
            datetime(2026, 6, 14, tzinfo=UTC),
        ),
        ("2_trace_manual-run", None),
        ("2_trace_20261399_001500", None),  # no such day
    ],
)
def test_run_day(run_id: str, day: datetime | None) -> None:
    assert run_day(run_id) == day
