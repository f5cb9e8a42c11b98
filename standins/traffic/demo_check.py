"""Whether the bot, at its default thresholds, alerts on a world's planted changes in its first
cycle: the sandbox picks demo data where it does.

A change reaches a run only through the items newer than the run before, and a cost step on a
cheap topic can stay under the minimum rise in USD; which topic a change lands on, and how the
day's traffic falls, depends on the seed and the date. The check runs the bot's own pure path on
each series' two newest runs (`parse_run` -> `diff_runs` -> `slice_run` -> `detect`), as the
first alert cycle does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect
from bot.domain.models import ClusteringRun
from bot.domain.rules import detect_run_to_run
from bot.domain.slices import slice_run
from bot.domain.thresholds import Thresholds
from bot.posthog.metrics import ItemMetrics
from bot.posthog.schemas import parse_run
from standins.traffic.generator import Change, World

# What a user is told, per planted change (a stopping topic may read as a share that fell).
EXPECTED = {
    Change.COST_SPIKE: {AlertKind.COST_SPIKE},
    Change.ERROR_HEAVY: {AlertKind.ERROR_HEAVY},
    Change.LATENCY_SPIKE: {AlertKind.LATENCY_SPIKE},
    Change.SIZE_SHIFT: {AlertKind.SIZE_SHIFT},
    Change.VANISHED_CLUSTER: {AlertKind.TRAFFIC_STOPPED, AlertKind.SIZE_SHIFT},
    Change.NEW_CLUSTER: {AlertKind.NEW_CLUSTER, AlertKind.SIZE_SHIFT},
}
# At evaluation level a planted error shows as the judge's verdicts: failing generations fail
# their evaluations, so their cluster's pass rate drops and it gathers the run's failures.
EXPECTED_AT_EVALUATION = {
    **EXPECTED,
    Change.ERROR_HEAVY: {AlertKind.PASS_RATE_DROP, AlertKind.FAIL_SHARE_GROWTH},
}


def expected(kind: Change, event: str) -> set[AlertKind]:
    """The alerts that tell a user of a change planted in a run emitted as `event`."""
    at_evaluation = event == "$ai_evaluation_clusters"
    return (EXPECTED_AT_EVALUATION if at_evaluation else EXPECTED)[kind]


def first_cycle_alerts_every_change(world: World) -> bool:
    """True when each change planted in a series' newest run gets its alert in the first
    cycle (which compares each series' newest run with the one before)."""
    newest = {runs[-1].run_id: runs for runs in (world.runs_of(s.job_name) for s in _series(world))}
    for planted in world.planted:
        series = newest.get(planted.run_id)
        if series is None or len(series) < 2:
            continue  # not in a newest run: the first cycle does not look at it
        previous = as_loaded(series[-2].event, world.item_values)
        current = as_loaded(series[-1].event, world.item_values)
        diff = diff_runs(previous, current)
        slices = slice_run(diff)
        thresholds = Thresholds()
        detection = (
            detect(slices, thresholds) if slices.usable else detect_run_to_run(diff, thresholds)
        )
        if not {a.kind for a in detection.alerts} & expected(planted.kind, current_event(series)):
            return False
    return True


def current_event(series: list[Any]) -> str:
    return str(series[-1].event["event"])


def _series(world: World) -> list[Any]:
    return list(world.params.series)


def as_loaded(event: Mapping[str, Any], values: Mapping[str, Mapping[str, Any]]) -> ClusteringRun:
    """The run as the bot loads it: PostHog's row for the run, then its items' own values."""
    props = event["properties"]
    run = parse_run(
        {
            "run_id": props["$ai_clustering_run_id"],
            "event": event["event"],
            "job_id": props.get("$ai_clustering_job_id", ""),
            "job_name": props.get("$ai_clustering_job_name", ""),
            "window_start": props.get("$ai_window_start"),
            "window_end": props.get("$ai_window_end"),
            "total_items": props.get("$ai_total_items_analyzed"),
            "timestamp": event["timestamp"],
            "clusters": props["$ai_clusters"],
            "params": props.get("$ai_clustering_params"),
        }
    )
    wanted = [item.item_id for cluster in run.clusters for item in cluster.items]
    return run.with_item_values(
        {
            item_id: ItemMetrics(
                cost=float(v["cost"]),
                latency=float(v["latency"]),
                tokens=float(v["tokens"]),
                errors=int(v["error_count"]),
                output_tokens=float(v["output_tokens"]),
            )
            for item_id in wanted
            if (v := values.get(item_id)) is not None
        }
    )
