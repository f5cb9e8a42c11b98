"""Parsers of what comes from outside: PostHog rows (`parse_run`, `parse_run_summary`) give a
model or a `PostHogSchemaError`, and button values (bot/slack/ids.py) a model or a pydantic
`ValidationError`; never any other exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.domain.models import CLUSTER_EVENTS, ClusteringRun, RunSummary
from bot.posthog.errors import PostHogSchemaError
from bot.posthog.schemas import parse_run, parse_run_summary
from bot.slack.ids import ClusterRef, MuteRef, ShareRef, TraceRef
from tests.support.fuzz import HOSTILE, fuzz_settings

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
TIMES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["", "2026-11-27T00:15:02.518293+00:00", "2026-11-27 00:29:00", "Z", "now"]),
    JSONISH,
)
METRIC_NAMES = [
    "avg_cost",
    "avg_latency",
    "avg_tokens",
    "total_cost",
    "error_rate",
    "error_count",
    "item_count",
    "pass_rate",
    "na_rate",
    "dominant_evaluation_name",
]
ITEM = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "trace_id": SCALARS,
            "generation_id": SCALARS,
            "rank": SCALARS,
            "distance_to_centroid": SCALARS,
            "x": SCALARS,
            "y": SCALARS,
            "timestamp": TIMES,
        },
    ),
    JSONISH,
)
CLUSTER = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "cluster_id": st.one_of(st.integers(-2, 10**6), SCALARS),
            "size": st.one_of(st.integers(0, 10**6), SCALARS),
            "title": SCALARS,
            "description": SCALARS,
            "traces": st.one_of(st.dictionaries(st.text(max_size=12), ITEM, max_size=5), JSONISH),
            "centroid_x": SCALARS,
            "centroid_y": SCALARS,
            "metrics": st.one_of(
                st.none(),
                st.dictionaries(st.sampled_from(METRIC_NAMES), SCALARS, max_size=6),
                JSONISH,
            ),
        },
    ),
    JSONISH,
)
CLUSTERS = st.one_of(
    st.lists(CLUSTER, max_size=6),
    st.lists(CLUSTER, max_size=6).map(json.dumps),  # the JSON-string layout of older events
    st.lists(CLUSTER, max_size=3).map(json.dumps).map(json.dumps),  # doubly encoded
    JSONISH,
)


def rows(*, event: Any, total_items: Any) -> Any:
    return st.fixed_dictionaries(
        {},
        optional={
            "run_id": st.one_of(st.text(max_size=30), SCALARS),
            "event": event,
            "job_id": SCALARS,
            "job_name": SCALARS,
            "window_start": TIMES,
            "window_end": TIMES,
            "total_items": total_items,
            "cluster_count": SCALARS,
            "timestamp": TIMES,
            "clusters": CLUSTERS,
        },
    )


# Mostly what the bot's queries return in these two columns (`event IN (…cluster events)`,
# `coalesce(toInt(…), toInt(…), 0)`), and sometimes anything at all.
ANY_ROWS = rows(
    event=st.one_of(st.sampled_from(CLUSTER_EVENTS), SCALARS),
    total_items=st.one_of(st.none(), st.integers(0, 10**9), JSONISH),
)


@fuzz_settings(500)
@given(ANY_ROWS)
def test_parse_run_gives_a_run_or_a_schema_error(row: dict[str, Any]) -> None:
    try:
        run = parse_run(row)
    except PostHogSchemaError:
        return
    assert isinstance(run, ClusteringRun)
    assert run.cluster_count == len(run.clusters)
    assert all(isinstance(c.cluster_id, int) for c in run.clusters)
    ClusteringRun.model_validate_json(run.model_dump_json())  # it can be cached and read back


@fuzz_settings(300)
@given(ANY_ROWS)
def test_parse_run_summary_gives_a_summary_or_a_schema_error(row: dict[str, Any]) -> None:
    try:
        assert isinstance(parse_run_summary(row), RunSummary)
    except PostHogSchemaError:
        pass


@pytest.mark.parametrize(
    ("parse", "row"),
    [
        (parse_run, {"event": "$ai_bogus_clusters"}),
        (parse_run, {"total_items": "12 items"}),
        (parse_run, {"total_items": [12]}),
        (parse_run_summary, {"total_items": {"n": 12}}),
    ],
    ids=["run-unknown-event", "run-text-total", "run-list-total", "summary-object-total"],
)
def test_unexpected_event_or_total_is_a_schema_error(parse: Any, row: dict[str, Any]) -> None:
    """Regression: these escaped as ValueError/TypeError (read outside the error handling)."""
    base = {"run_id": "1_trace_20261127_001500_j", "timestamp": "2026-11-27T00:29:00Z"}
    with pytest.raises(PostHogSchemaError):
        parse(base | {"clusters": []} | row)


PAYLOADS: list[type[BaseModel]] = [ClusterRef, TraceRef, MuteRef, ShareRef]
FIELD_NAMES = sorted({name for model in PAYLOADS for name in model.model_fields})


def check_payload(model: type[BaseModel], value: str) -> None:
    try:
        parsed = model.model_validate_json(value)
    except ValidationError:
        return
    assert isinstance(parsed, model)
    assert model.model_validate_json(parsed.model_dump_json()) == parsed


@fuzz_settings(300)
@given(st.sampled_from(PAYLOADS), st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE)))
def test_button_values_from_any_string(model: type[BaseModel], value: str) -> None:
    check_payload(model, value)


@fuzz_settings(400)
@given(
    st.sampled_from(PAYLOADS),
    st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)), JSONISH, max_size=5
    ),
)
def test_button_values_from_any_json_object(model: type[BaseModel], value: dict[str, Any]) -> None:
    check_payload(model, json.dumps(value))
