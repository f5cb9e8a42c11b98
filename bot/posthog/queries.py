"""Every HogQL query the bot sends. Values only ever arrive through `{placeholders}`.

Each query has an explicit LIMIT: PostHog silently cuts at 100 rows without one. Properties are
wrapped in `toString(...)`, which stays correct when a team has typed property definitions
(reference/posthog.md 3.8, 4).
"""

from __future__ import annotations

from bot.domain.models import Level

MAX_ROWS = 50_000
ID_CHUNK = 1500  # inlined ids per query (about 60 KB of query text)

# `$ai_clusters` is a native array in current events and a JSON string in some older ones.
CLUSTERS_JSON = (
    "if(JSONType(properties, '$ai_clusters') = 'String', "
    "JSONExtractString(properties, '$ai_clusters'), JSONExtractRaw(properties, '$ai_clusters'))"
)

RUN_COLUMNS = """
    toString(properties.$ai_clustering_run_id) AS run_id,
    event,
    coalesce(toString(properties.$ai_clustering_job_id), '') AS job_id,
    coalesce(toString(properties.$ai_clustering_job_name), '') AS job_name,
    toString(properties.$ai_window_start) AS window_start,
    toString(properties.$ai_window_end) AS window_end,
    coalesce(toInt(properties.$ai_total_items_analyzed),
             toInt(properties.$ai_total_traces_analyzed), 0) AS total_items,
    timestamp"""
# The run list does not parse `$ai_clusters` (hundreds of KB a run; PostHog gives personal keys
# 10 seconds a query): a run's cluster count comes from the stored run once it is loaded.

LIST_RUNS = f"""
SELECT {RUN_COLUMNS}
FROM events
WHERE event IN {{events}} AND timestamp >= toDateTime({{since}})
ORDER BY timestamp DESC
LIMIT {{limit}}"""

# `$ai_clustering_params` as JSON text whichever way the event stored it (as the clusters).
PARAMS_JSON = (
    "if(JSONType(properties, '$ai_clustering_params') = 'String', "
    "JSONExtractString(properties, '$ai_clustering_params'), "
    "JSONExtractRaw(properties, '$ai_clustering_params'))"
)

GET_RUN = f"""
SELECT {RUN_COLUMNS},
    {CLUSTERS_JSON} AS clusters,
    {PARAMS_JSON} AS params
FROM events
WHERE event IN {{events}}
  AND timestamp >= toDateTime({{date_from}}) AND timestamp < toDateTime({{date_to}})
  AND toString(properties.$ai_clustering_run_id) = {{run_id}}
ORDER BY timestamp DESC
LIMIT 1"""

# Several runs in one query, found by id within the span of their event timestamps. What bounds
# a batch is the answer's size: `$ai_clusters` takes about 250 bytes an item, so a 1,500-item run
# is 0.4 MB and a batch of RUN_ITEMS_PER_QUERY items (by the runs' `total_items`) about 4 MB.
RUN_ITEMS_PER_QUERY = 15_000
GET_RUNS = f"""
SELECT {RUN_COLUMNS},
    {CLUSTERS_JSON} AS clusters,
    {PARAMS_JSON} AS params
FROM events
WHERE event IN {{events}}
  AND timestamp >= toDateTime({{date_from}}) AND timestamp <= toDateTime({{date_to}})
  AND toString(properties.$ai_clustering_run_id) IN {{run_ids}}
ORDER BY timestamp DESC
LIMIT {{limit}}"""

PREVIOUS_RUN = f"""
SELECT {RUN_COLUMNS},
    {CLUSTERS_JSON} AS clusters,
    {PARAMS_JSON} AS params
FROM events
WHERE event = {{event}}
  AND coalesce(toString(properties.$ai_clustering_job_id), '') = {{job_id}}
  AND timestamp < toDateTime({{before}}) AND timestamp >= toDateTime({{since}})
  AND toString(properties.$ai_clustering_run_id) != {{run_id}}
ORDER BY timestamp DESC
LIMIT 1"""

# Per-item aggregates with PostHog's own semantics (trace_clustering/data.py fetch_item_metrics):
# cost and tokens over generations and embeddings, latency summed over generations, errors
# over generations, embeddings and spans.
# The own values of one item, as PostHog's `trace_clustering/data.py` reads them: a trace's
# cost and tokens over its generations and embeddings, latency over its generations, errors over
# all its events; a generation item is one `$ai_generation` event. Beyond data.py, the output
# tokens of its generations (writing the output is what takes a generation its time: the
# latency test's part). Shared by the values of a run's sampled items (`ITEM_METRICS`) and of
# items no run sampled (`item_values.py`).
TRACE_VALUE_COLUMNS = """sumIf(toFloat(properties.$ai_total_cost_usd),
          event IN ('$ai_generation', '$ai_embedding')) AS cost,
    sumIf(toFloat(properties.$ai_latency), event = '$ai_generation') AS latency,
    sumIf(coalesce(toInt(properties.$ai_input_tokens), 0)
          + coalesce(toInt(properties.$ai_output_tokens), 0),
          event IN ('$ai_generation', '$ai_embedding')) AS tokens,
    sumIf(coalesce(toInt(properties.$ai_output_tokens), 0), event = '$ai_generation')
        AS output_tokens,
    countIf(toString(properties.$ai_is_error) = 'true') AS errors"""
TRACE_VALUE_EVENTS = """FROM events
WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span')
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(properties.$ai_trace_id) IN {item_ids}"""
GENERATION_VALUE_COLUMNS = """toFloat(properties.$ai_total_cost_usd) AS cost,
    toFloat(properties.$ai_latency) AS latency,
    coalesce(toInt(properties.$ai_input_tokens), 0)
        + coalesce(toInt(properties.$ai_output_tokens), 0) AS tokens,
    coalesce(toInt(properties.$ai_output_tokens), 0) AS output_tokens,
    if(toString(properties.$ai_is_error) = 'true', 1, 0) AS errors"""
GENERATION_VALUE_EVENTS = """FROM events
WHERE event = '$ai_generation'
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(uuid) IN {item_ids}"""

TRACE_ITEM_METRICS = (
    "\nSELECT toString(properties.$ai_trace_id) AS item_id,\n    "
    + TRACE_VALUE_COLUMNS
    + "\n"
    + TRACE_VALUE_EVENTS
    + "\nGROUP BY item_id\nLIMIT {limit}"
)

GENERATION_ITEM_METRICS = (
    "\nSELECT toString(uuid) AS item_id,\n    "
    + GENERATION_VALUE_COLUMNS
    + "\n"
    + GENERATION_VALUE_EVENTS
    + "\nLIMIT {limit}"
)

ITEM_METRICS = {Level.TRACE: TRACE_ITEM_METRICS, Level.GENERATION: GENERATION_ITEM_METRICS}

# The item ids of some runs of one level, which PostHog reads from the runs' own events: one
# per-item query then serves every run that shares a window (runs of one level and day do), with
# no id list in its text (ClickHouse's 256 KiB `max_query_size` holds about 6,000 inlined ids).
RUN_ITEM_IDS = f"""(
    SELECT arrayJoin(JSONExtractKeys(cluster_json, 'traces'))
    FROM (
        SELECT arrayJoin(JSONExtractArrayRaw({CLUSTERS_JSON})) AS cluster_json
        FROM events
        WHERE event = {{event}}
          AND timestamp >= toDateTime({{runs_from}}) AND timestamp <= toDateTime({{runs_to}})
          AND toString(properties.$ai_clustering_run_id) IN {{run_ids}}))"""
# Distinct items (so rows) one such query may answer for: under PostHog's 50,000-row cap, which
# cuts an explicitly LIMITed answer silently.
ITEMS_PER_QUERY = 40_000
RUN_ITEM_METRICS = {
    level: template.replace("{item_ids}", RUN_ITEM_IDS) for level, template in ITEM_METRICS.items()
}

# One row per item: what a drilldown line shows (summary title, model, first error).
TRACE_DETAILS = """
SELECT toString(properties.$ai_trace_id) AS item_id,
    anyIf(toString(properties.$ai_summary_title), event = '$ai_trace_summary') AS summary_title,
    anyIf(toString(properties.$ai_model), event = '$ai_generation') AS model,
    anyIf(toString(properties.$ai_error), toString(properties.$ai_is_error) = 'true') AS error
FROM events
WHERE event IN ('$ai_generation', '$ai_trace_summary', '$ai_span', '$ai_embedding')
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(properties.$ai_trace_id) IN {item_ids}
GROUP BY item_id
LIMIT {limit}"""

# Generation items are `$ai_generation` uuids; their summaries name them in $ai_generation_id.
GENERATION_DETAILS = """
SELECT if(event = '$ai_generation', toString(uuid), toString(properties.$ai_generation_id))
        AS item_id,
    anyIf(toString(properties.$ai_summary_title), event = '$ai_generation_summary')
        AS summary_title,
    anyIf(toString(properties.$ai_model), event = '$ai_generation') AS model,
    anyIf(toString(properties.$ai_error), toString(properties.$ai_is_error) = 'true') AS error
FROM events
WHERE event IN ('$ai_generation', '$ai_generation_summary')
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND if(event = '$ai_generation', toString(uuid), toString(properties.$ai_generation_id))
      IN {item_ids}
GROUP BY item_id
LIMIT {limit}"""

ITEM_DETAILS = {Level.TRACE: TRACE_DETAILS, Level.GENERATION: GENERATION_DETAILS}

# Evaluation items are `$ai_evaluation` event uuids (their `trace_id` may fall back to that
# uuid): the evaluation names its trace and the generation it judged, as PostHog's UI reads them.
EVALUATION_TARGETS = """
SELECT toString(uuid) AS item_id,
    toString(properties.$ai_trace_id) AS trace_id,
    toString(properties.$ai_target_event_id) AS target_id,
    toString(properties.$ai_evaluation_name) AS evaluation_name,
    toString(properties.$ai_evaluation_result) AS result,
    timestamp
FROM events
WHERE event = '$ai_evaluation'
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(uuid) IN {item_ids}
LIMIT {limit}"""

# What each item's events have in common with the others (bot/domain/causes.py): the model and
# provider of its costliest generation, tokens, generations, the first generation error (status
# and message), its trace name, user and session. One query for all alerted clusters of a run.
TRACE_ITEM_TRAITS = """
SELECT toString(properties.$ai_trace_id) AS item_id,
    sumIf(toFloat(properties.$ai_total_cost_usd),
          event IN ('$ai_generation', '$ai_embedding')) AS cost,
    sumIf(toFloat(properties.$ai_latency), event = '$ai_generation') AS latency,
    sumIf(coalesce(toInt(properties.$ai_input_tokens), 0), event = '$ai_generation')
        AS input_tokens,
    sumIf(coalesce(toInt(properties.$ai_output_tokens), 0), event = '$ai_generation')
        AS output_tokens,
    countIf(event = '$ai_generation') AS generations,
    argMaxIf(toString(properties.$ai_model), toFloat(properties.$ai_total_cost_usd),
             event = '$ai_generation') AS model,
    argMaxIf(toString(properties.$ai_provider), toFloat(properties.$ai_total_cost_usd),
             event = '$ai_generation') AS provider,
    anyIf(toString(properties.$ai_error),
          event = '$ai_generation' AND toString(properties.$ai_is_error) = 'true') AS error,
    anyIf(toString(properties.$ai_http_status),
          event = '$ai_generation' AND toString(properties.$ai_is_error) = 'true')
        AS http_status,
    anyIf(coalesce(toString(properties.$ai_trace_name), toString(properties.$ai_span_name)),
          event = '$ai_trace') AS name,
    any(distinct_id) AS user,
    anyIf(toString(properties.$ai_session_id), properties.$ai_session_id IS NOT NULL)
        AS session
FROM events
WHERE event IN ('$ai_generation', '$ai_embedding', '$ai_span', '$ai_trace')
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(properties.$ai_trace_id) IN {item_ids}
GROUP BY item_id
LIMIT {limit}"""

GENERATION_ITEM_TRAITS = """
SELECT toString(uuid) AS item_id,
    toString(properties.$ai_trace_id) AS trace_id,
    toFloat(properties.$ai_total_cost_usd) AS cost,
    toFloat(properties.$ai_latency) AS latency,
    coalesce(toInt(properties.$ai_input_tokens), 0) AS input_tokens,
    coalesce(toInt(properties.$ai_output_tokens), 0) AS output_tokens,
    1 AS generations,
    toString(properties.$ai_model) AS model,
    toString(properties.$ai_provider) AS provider,
    if(toString(properties.$ai_is_error) = 'true', toString(properties.$ai_error), '') AS error,
    if(toString(properties.$ai_is_error) = 'true', toString(properties.$ai_http_status), '')
        AS http_status,
    toString(properties.$ai_span_name) AS name,
    distinct_id AS user,
    toString(properties.$ai_session_id) AS session
FROM events
WHERE event = '$ai_generation'
  AND timestamp >= toDateTime({date_from}) AND timestamp <= toDateTime({date_to})
  AND toString(uuid) IN {item_ids}
LIMIT {limit}"""

ITEM_TRAITS = {Level.TRACE: TRACE_ITEM_TRAITS, Level.GENERATION: GENERATION_ITEM_TRAITS}
