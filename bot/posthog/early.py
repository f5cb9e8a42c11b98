"""The queries of early warnings: what is new since each run, and the new items placed and valued.

Between daily runs the hourly summarizer keeps writing summary events and embeddings. Each check
spends:

- one query for every series at once (`SUMMARY_COUNTS`): the summary events of each job since
  the oldest run's window end, with the newest one's time, so that a series with nothing new
  costs nothing more;
- one query per series with new summaries (`early_query`): the run's clusters are rebuilt
  from their members' embeddings exactly as `bot.posthog.embeddings` does for a run's own
  unsampled items (cluster means without the held-out fifth, radii); the held-out items and
  the items summarized since the run's window end are placed, and the new ones come back with
  their own values (cost, latency, tokens, errors: the per-item query of `queries.py`), so no
  second query is needed. No vector leaves PostHog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.models import Level, RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.embeddings import (
    CLUSTER_MODEL,
    DOCUMENT_TYPES,
    EMBEDDING_LAG,
    FRESH,
    ITEM_ID_PROPERTIES,
    NEAREST,
    PROBES,
    RADIUS_QUANTILE,
    SUMMARIES,
    SUMMARY_EMBEDDING_MODEL,
    SUMMARY_EVENTS,
    Probe,
    cluster_model_values,
    read_probe,
)
from bot.posthog.errors import PostHogSchemaError
from bot.posthog.metrics import ItemMetrics
from bot.posthog.queries import CLUSTERS_JSON, ITEM_METRICS, MAX_ROWS
from bot.posthog.schemas import parse_datetime

SUMMARY_COUNTS = """
SELECT toString(properties.$ai_clustering_job_id) AS job_id, event,
    count() AS summaries, max(timestamp) AS newest
FROM events
WHERE event IN {summary_events}
  AND timestamp >= toDateTime({since}) AND timestamp < toDateTime({until})
  AND toString(properties.$ai_clustering_job_id) IN {job_ids}
GROUP BY job_id, event
LIMIT {limit}"""

EARLY_TEMPLATE = (
    "\nWITH\n"
    + CLUSTER_MODEL
    + SUMMARIES.replace("__FROM__", "{since}").replace("__TO__", "{until}")
    + FRESH.replace("__FRESH_FROM__", "{since}")
    + "item_values AS (__ITEM_VALUES__),\n"
    + PROBES
    + """,
placed AS (
"""
    + NEAREST
    + """
)
SELECT p.item_id AS item_id, p.label AS label, p.held_out AS held_out,
    p.item_time AS item_time, p.clusters AS clusters, p.cluster_id AS cluster_id,
    p.distance AS distance, p.second AS second, p.radius AS radius,
    iv.item_id AS valued_id, iv.cost AS cost, iv.latency AS latency, iv.tokens AS tokens,
    iv.errors AS errors, iv.output_tokens AS output_tokens
FROM placed AS p LEFT JOIN item_values AS iv ON iv.item_id = p.item_id
ORDER BY held_out DESC, item_id
LIMIT {limit}"""
)


def early_query(level: Level) -> str:
    """The HogQL of one series' check at `level` (trace or generation)."""
    values = (
        ITEM_METRICS[level]
        .replace("{item_ids}", "(SELECT item_id FROM fresh)")
        .replace("{date_from}", "{since}")
        .replace("{date_to}", "{until}")
        .strip()
    )
    return (
        EARLY_TEMPLATE.replace("__CLUSTERS_JSON__", CLUSTERS_JSON)
        .replace("__RADIUS_QUANTILE__", repr(RADIUS_QUANTILE))
        .replace("__ITEM_ID__", ITEM_ID_PROPERTIES[level])
        .replace("__ITEM_VALUES__", values)
    )


@dataclass(frozen=True, slots=True)
class EarlyProbe:
    """A probe (`bot.posthog.embeddings.Probe`) and, for a new item, its own values (None when
    PostHog has no events of it yet)."""

    probe: Probe
    values: ItemMetrics | None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def summary_counts(
    client: PostHogClient, runs: Sequence[RunSummary], *, since: datetime, until: datetime
) -> dict[tuple[Level, str], tuple[int, datetime | None]]:
    """(summaries, newest summary's time) per series of `runs` since `since`, in one query."""
    if not runs:
        return {}
    levels = {run.level for run in runs if run.level in SUMMARY_EVENTS}
    result = client.query(
        SUMMARY_COUNTS,
        {
            "summary_events": [SUMMARY_EVENTS[level] for level in sorted(levels)],
            "since": _utc(since),
            "until": _utc(until),
            "job_ids": sorted({run.job_id for run in runs}),
            "limit": MAX_ROWS,
        },
        name="early_summary_counts",
    )
    by_event = {event: level for level, event in SUMMARY_EVENTS.items()}
    found: dict[tuple[Level, str], tuple[int, datetime | None]] = {}
    try:
        for row in result.rows():
            level = by_event.get(str(row["event"]))
            if level is not None:
                key = (level, str(row["job_id"]))
                found[key] = (int(str(row["summaries"])), parse_datetime(row.get("newest")))
    except (KeyError, TypeError, ValueError) as error:
        raise PostHogSchemaError("Unreadable summary counts") from error
    return found


def fetch_early_probes(
    client: PostHogClient,
    run: RunSummary,
    *,
    until: datetime,
    model_name: str = SUMMARY_EMBEDDING_MODEL,
) -> list[EarlyProbe]:
    """`run`'s held-out items and the items summarized since its window end (up to `until`),
    each placed, the new ones with their values; one query. Raises `PostHogError`s."""
    if run.level not in DOCUMENT_TYPES or run.window_start is None or run.window_end is None:
        return []
    result = client.query(
        early_query(run.level),
        {
            **cluster_model_values(run, model_name, embedded_to=until + EMBEDDING_LAG),
            "since": _utc(run.window_end),
            "until": _utc(until),
            "limit": MAX_ROWS,
        },
        name=f"{run.level.value}_early_check",
    )
    try:
        return [_early_probe(row) for row in result.rows()]
    except (KeyError, TypeError, ValueError) as error:
        raise PostHogSchemaError(f"Unreadable early check of run {run.run_id}") from error


def _early_probe(row: dict[str, object]) -> EarlyProbe:
    probe = read_probe(row)
    valued = row.get("valued_id")
    has_values = not probe.held_out and valued not in (None, "") and str(valued) == probe.item_id
    return EarlyProbe(probe, ItemMetrics.from_row(row) if has_values else None)
