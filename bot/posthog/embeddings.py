"""Nearest-cluster assignment of a run's unsampled items, computed inside PostHog in ONE query.

A run samples at most 1,500 of its window's summarized items; the others keep their summary
event and their summary embedding (reference/posthog.md 4b). For one run, the query:

1. reads the run's clusters and their item ids from the run's own event (no id list is sent);
2. reads the job's embeddings of the window from `document_embeddings` (the `model_name`
   comparison that PostHog's lazy table needs is in that SELECT's WHERE);
3. holds out every `HOLDOUT_EVERY`-th sampled item (by `cityHash64` of its id) and sums the
   embeddings of the others per cluster (noise excluded): cosine distance ignores length, so a
   sum points where the mean does; a cluster's radius is the `RADIUS_QUANTILE` quantile of its
   own members' distances to it;
4. for the held-out items and for the summarized items of the window that the run did not
   sample and whose trace started at or after `fresh_from`, returns the nearest cluster, the
   distance to it and to the second nearest, and that cluster's radius.

No vector leaves PostHog: each answer row is a few numbers. `bot.services.assignment` decides
which items are assigned (margin and radius) and measures the held-out agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.models import Level, RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogSchemaError
from bot.posthog.queries import CLUSTERS_JSON, MAX_ROWS
from bot.posthog.schemas import parse_datetime

# PostHog embeds summaries with text-embedding-3-large (ee/hogai/llm_traces_summaries/tools/
# embed_summaries.py); `document_embeddings` refuses a query that does not name the model.
SUMMARY_EMBEDDING_MODEL = "text-embedding-3-large-3072"
PRODUCT = "llm-analytics"
DOCUMENT_TYPES = {
    Level.TRACE: "llm-trace-summary-detailed",
    Level.GENERATION: "llm-generation-summary-detailed",
}
SUMMARY_EVENTS = {Level.TRACE: "$ai_trace_summary", Level.GENERATION: "$ai_generation_summary"}
ITEM_ID_PROPERTIES = {Level.TRACE: "$ai_trace_id", Level.GENERATION: "$ai_generation_id"}
HOLDOUT_EVERY = 5
RADIUS_QUANTILE = 0.9
# Embeddings are asked for a few seconds after their summary; allow for a slow pipeline.
EMBEDDING_LAG = timedelta(hours=1)
RUN_EVENT_SLACK = timedelta(minutes=1)

CLUSTER_MODEL = """members AS (
    SELECT JSONExtractInt(cluster_json, 'cluster_id') AS cluster_id,
        arrayJoin(JSONExtractKeys(cluster_json, 'traces')) AS item_id
    FROM (
        SELECT arrayJoin(JSONExtractArrayRaw(__CLUSTERS_JSON__)) AS cluster_json
        FROM events
        WHERE event = {run_event}
          AND timestamp >= toDateTime({run_from}) AND timestamp <= toDateTime({run_to})
          AND toString(properties.$ai_clustering_run_id) = {run_id})
),
vectors AS (
    SELECT splitByString('::', document_id)[1] AS item_id, any(embedding) AS embedding
    FROM document_embeddings
    WHERE model_name = {model_name}
      AND product = {product}
      AND document_type = {document_type}
      AND timestamp >= toDateTime({window_from}) AND timestamp < toDateTime({embedded_to})
      AND endsWith(document_id, {job_suffix})
    GROUP BY item_id
),
training AS (
    SELECT m.cluster_id AS cluster_id, v.embedding AS embedding
    FROM members AS m JOIN vectors AS v ON v.item_id = m.item_id
    WHERE m.cluster_id >= 0 AND cityHash64(m.item_id) % {holdout_every} != 0
),
centres AS (
    SELECT cluster_id, sumForEach(embedding) AS centre
    FROM training
    GROUP BY cluster_id
),
radii AS (
    SELECT t.cluster_id AS cluster_id,
        quantile(__RADIUS_QUANTILE__)(cosineDistance(t.embedding, c.centre)) AS radius
    FROM training AS t JOIN centres AS c ON c.cluster_id = t.cluster_id
    GROUP BY t.cluster_id
),
model AS (
    SELECT groupArray(c.cluster_id) AS ids, groupArray(c.centre) AS centres,
        groupArray(r.radius) AS radii
    FROM centres AS c JOIN radii AS r ON r.cluster_id = c.cluster_id
),
"""
"""The CTEs that rebuild a run's clusters in the embedding space: its members' vectors,
each cluster's mean without the held-out fifth (`centres`), its radius, all in one row
(`model`). Shared by the assignment of a run's unsampled items and the early warnings
(`bot.posthog.early`), which place new items the same way."""

SUMMARIES = """summaries AS (
    SELECT toString(properties.__ITEM_ID__) AS item_id,
        min(parseDateTimeBestEffort(toString(properties.trace_timestamp))) AS item_time
    FROM events
    WHERE event = {summary_event}
      AND timestamp >= toDateTime(__FROM__) AND timestamp < toDateTime(__TO__)
      AND toString(properties.$ai_clustering_job_id) = {job_id}
    GROUP BY item_id
),
"""
"""The job's summarized items between `__FROM__` and `__TO__`, each with its trace's time."""

HELD_OUT = """SELECT m.item_id AS item_id, m.cluster_id AS label, 1 AS held_out, NULL AS item_time,
        v.embedding AS embedding
    FROM members AS m JOIN vectors AS v ON v.item_id = m.item_id
    WHERE cityHash64(m.item_id) % {holdout_every} = 0"""
"""The held-out fifth of the run's sampled items, as probes: placed like the new ones, they
measure how often placing agrees with the clustering."""

FRESH = """fresh AS (
    SELECT item_id, item_time FROM summaries
    WHERE item_time >= toDateTime(__FRESH_FROM__) AND item_id NOT IN (SELECT item_id FROM members)
),
"""
"""The summarized items since `__FRESH_FROM__` that the run did not sample."""

PROBES = (
    "probes AS (\n    "
    + HELD_OUT
    + """
    UNION ALL
    SELECT f.item_id AS item_id, -2 AS label, 0 AS held_out, f.item_time AS item_time,
        v.embedding AS embedding
    FROM fresh AS f JOIN vectors AS v ON v.item_id = f.item_id
)"""
)
"""What is placed: the held-out probes (`label` their cluster) and each of `fresh` (`label`
-2), with their embeddings."""

NEAREST = """SELECT item_id, label, held_out, item_time, length(ids) AS clusters,
    ids[indexOf(distances, arrayMin(distances))] AS cluster_id,
    arrayMin(distances) AS distance,
    if(length(distances) > 1, arraySort(distances)[2], NULL) AS second,
    radii[indexOf(distances, arrayMin(distances))] AS radius
FROM (
    SELECT p.item_id AS item_id, p.label AS label, p.held_out AS held_out,
        p.item_time AS item_time, mdl.ids AS ids, mdl.radii AS radii,
        arrayMap(centre -> cosineDistance(p.embedding, centre), mdl.centres) AS distances
    FROM probes AS p CROSS JOIN model AS mdl
)"""
"""Each of `probes` with its nearest cluster centre of `model`, that distance, the second
nearest and the cluster's radius."""

ASSIGNMENT_TEMPLATE = (
    "\nWITH\n"
    + CLUSTER_MODEL
    + SUMMARIES.replace("__FROM__", "{window_from}").replace("__TO__", "{window_to}")
    + FRESH.replace("__FRESH_FROM__", "{fresh_from}")
    + PROBES
    + "\n"
    + NEAREST
    + """
ORDER BY held_out DESC, item_id
LIMIT {limit}"""
)


def assignment_query(level: Level) -> str:
    """The HogQL of one run's assignment at `level` (trace or generation)."""
    return (
        ASSIGNMENT_TEMPLATE.replace("__CLUSTERS_JSON__", CLUSTERS_JSON)
        .replace("__RADIUS_QUANTILE__", repr(RADIUS_QUANTILE))
        .replace("__ITEM_ID__", ITEM_ID_PROPERTIES[level])
    )


@dataclass(frozen=True, slots=True)
class Probe:
    """One item the query placed: a held-out sampled item (`label` is its cluster in the run)
    or an unsampled fresh one (`label` None). `cluster_id` is the nearest cluster, None when
    the run has no cluster to compare with; distances are cosine distances."""

    item_id: str
    label: int | None
    held_out: bool
    item_time: datetime | None
    cluster_id: int | None
    distance: float | None
    second: float | None
    radius: float | None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def read_probe(row: dict[str, object]) -> Probe:
    held_out = bool(int(str(row["held_out"])))
    known = int(str(row["clusters"])) > 0
    return Probe(
        item_id=str(row["item_id"]),
        label=int(str(row["label"])) if held_out else None,
        held_out=held_out,
        item_time=parse_datetime(row.get("item_time")),
        cluster_id=int(str(row["cluster_id"])) if known else None,
        distance=_number(row["distance"]) if known else None,
        second=_number(row["second"]) if known else None,
        radius=_number(row["radius"]) if known else None,
    )


def cluster_model_values(
    run: RunSummary, model_name: str, *, embedded_to: datetime
) -> dict[str, object]:
    """The values `CLUSTER_MODEL` and the summaries it reads take for `run` (a run with its
    window): its event, its members, and its job's embeddings up to `embedded_to`."""
    assert run.window_start is not None
    return {
        "run_event": run.level.event,
        "run_id": run.run_id,
        "run_from": _utc(run.timestamp - RUN_EVENT_SLACK),
        "run_to": _utc(run.timestamp + RUN_EVENT_SLACK),
        "model_name": model_name,
        "product": PRODUCT,
        "document_type": DOCUMENT_TYPES[run.level],
        "job_suffix": f"::{run.job_id}",
        "job_id": run.job_id,
        "summary_event": SUMMARY_EVENTS[run.level],
        "window_from": _utc(run.window_start),
        "embedded_to": _utc(embedded_to),
        "holdout_every": HOLDOUT_EVERY,
    }


def fetch_probes(
    client: PostHogClient,
    run: RunSummary,
    *,
    fresh_from: datetime,
    model_name: str = SUMMARY_EMBEDDING_MODEL,
) -> list[Probe]:
    """Held-out and unsampled fresh items of `run`, each with its nearest cluster, in one query
    from the query budget. Raises the client's `PostHogError`s (see `bot.posthog.errors`)."""
    if run.level not in DOCUMENT_TYPES or run.window_start is None or run.window_end is None:
        return []
    result = client.query(
        assignment_query(run.level),
        {
            **cluster_model_values(run, model_name, embedded_to=run.window_end + EMBEDDING_LAG),
            "window_to": _utc(run.window_end),
            "fresh_from": _utc(fresh_from),
            "limit": MAX_ROWS,
        },
        name=f"{run.level.value}_assignment",
    )
    try:
        return [read_probe(row) for row in result.rows()]
    except (KeyError, TypeError, ValueError) as error:
        raise PostHogSchemaError(f"Unreadable assignment of run {run.run_id}") from error


# A cheap read of both sources, for `clusters-bot doctor`.
EMBEDDINGS_PROBE = """
SELECT e.n AS embeddings, s.n AS summaries
FROM (
    SELECT count() AS n FROM document_embeddings
    WHERE model_name = {model_name} AND product = {product}
      AND timestamp >= toDateTime({since})) AS e
CROSS JOIN (
    SELECT count() AS n FROM events
    WHERE event IN {summary_events} AND timestamp >= toDateTime({since})) AS s
LIMIT 1"""


def count_recent(
    client: PostHogClient, since: datetime, *, model_name: str = SUMMARY_EMBEDDING_MODEL
) -> tuple[int, int]:
    """(summary embeddings, summary events) since `since`, in one query."""
    result = client.query(
        EMBEDDINGS_PROBE,
        {
            "model_name": model_name,
            "product": PRODUCT,
            "since": _utc(since),
            "summary_events": list(SUMMARY_EVENTS.values()),
        },
        name="embeddings_probe",
    )
    rows = result.rows()
    if not rows:
        return 0, 0
    return int(str(rows[0]["embeddings"])), int(str(rows[0]["summaries"]))
