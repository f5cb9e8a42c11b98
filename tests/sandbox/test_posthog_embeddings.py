"""The local PostHog's summaries and embeddings: one summary event and one embedding row per
summarized item, PostHog's columns, the `model_name` rule of `document_embeddings`, and vectors
whose topics overlap as real ones do."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import httpx
import numpy as np
import pytest

from standins.posthog.embeddings import load_summaries
from standins.posthog.server import LocalPostHog
from standins.traffic.embeddings import Summaries, model_name_for, summaries
from standins.traffic.generator import SeriesSpec, World, generate
from tests.support import worlds
from tests.support.local_posthog import hogql

NOW = datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
DIM = 32
MODEL = model_name_for(DIM)


@cache
def world(topics: int = 6) -> World:
    return generate(
        seed=5,
        series=[SeriesSpec(topics=topics)],
        now=NOW,
        runs=2,
        items_per_run=600,
        traces_per_day=500.0,
        events=False,
    )


@pytest.fixture
def loaded(posthog: LocalPostHog) -> Summaries:
    return worlds.load_summaries(posthog, world(), dimension=DIM)  # made once, then copied


@pytest.fixture
def loaded_directly(posthog: LocalPostHog) -> Summaries:
    return load_summaries(posthog, world(), dimension=DIM)


def test_every_summarized_item_has_one_summary_event_and_one_embedding(
    posthog: LocalPostHog, loaded_directly: Summaries, client: httpx.Client
) -> None:
    w = world()
    job_id = w.runs[0].series[1]
    response = hogql(
        client,
        "SELECT toString(properties.$ai_trace_id) AS item_id, count() AS n, "
        "any(toString(properties.$ai_clustering_job_id)) AS job, "
        "any(toString(properties.$ai_summary_mode)) AS mode, "
        "any(toString(properties.trace_timestamp)) AS ts "
        "FROM events WHERE event = '$ai_trace_summary' GROUP BY item_id LIMIT 50000",
    )
    assert response.status_code == 200, response.text
    rows = response.json()["results"]
    assert {row[0] for row in rows} == set(w.summarized)
    assert {row[1] for row in rows} == {1}
    assert {row[2] for row in rows} == {job_id}
    assert {row[3] for row in rows} == {"detailed"}
    embeddings = hogql(
        client,
        "SELECT document_id, product, document_type, rendering, model_name, length(embedding), "
        "JSONExtractString(metadata, 'job_id'), timestamp, inserted_at "
        "FROM raw_document_embeddings LIMIT 50000",
    )
    assert embeddings.status_code == 200, embeddings.text
    found = embeddings.json()["results"]
    assert sorted(row[0] for row in found) == sorted(f"{i}::{job_id}" for i in w.summarized)
    assert {tuple(row[1:7]) for row in found} == {
        ("llm-analytics", "llm-trace-summary-detailed", "detailed", MODEL, DIM, job_id)
    }
    assert all(row[7] < row[8] for row in found)  # inserted after it was asked for


def test_summaries_are_written_when_the_summarizer_wrote_them(loaded: Summaries) -> None:
    w = world()
    for event in loaded.events:
        item = w.summarized[event["properties"]["$ai_trace_id"]]
        assert event["timestamp"] == item.summarized_at
        assert event["properties"]["trace_timestamp"] == item.timestamp.isoformat(
            timespec="microseconds"
        )


@pytest.mark.parametrize(
    "where",
    [
        "",
        "WHERE product = 'llm-analytics'",
        "WHERE model_name = 'text-embedding-3-large-3072' OR product = 'x'",
        "WHERE model_name IN ('text-embedding-3-large-3072')",
        "WHERE model_name = 'no-such-model'",
    ],
)
def test_document_embeddings_without_a_model_name_fails_as_posthog_does(
    loaded: Summaries, client: httpx.Client, where: str
) -> None:
    response = hogql(client, f"SELECT count() FROM document_embeddings {where}")
    assert response.status_code == 500
    assert response.json() == {
        "type": "server_error",
        "code": "error",
        "detail": "A server error occurred.",
        "attr": None,
    }


def test_document_embeddings_with_a_model_name_answers(
    loaded: Summaries, client: httpx.Client
) -> None:
    query = (
        "SELECT count() AS n FROM document_embeddings "
        "WHERE product = 'llm-analytics' AND model_name = {model}"
    )
    response = hogql(client, query, {"model": MODEL})
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [[len(world().summarized)]]
    raw = hogql(client, "SELECT count() FROM raw_document_embeddings")
    assert raw.json()["results"] == [[len(world().summarized)]]


def test_cosine_distance_runs_in_the_local_posthog(loaded: Summaries, client: httpx.Client) -> None:
    response = hogql(
        client,
        "SELECT min(cosineDistance(embedding, embedding)) AS d, "
        "max(abs(L2Norm(embedding) - 1)) AS off FROM raw_document_embeddings",
    )
    assert response.status_code == 200, response.text
    distance, off = response.json()["results"][0]
    assert abs(distance) < 1e-9 and off < 1e-9


def test_a_posthog_without_embeddings_says_the_table_is_unknown(
    posthog: LocalPostHog, client: httpx.Client
) -> None:
    response = hogql(client, "SELECT count() FROM raw_document_embeddings")
    assert response.status_code == 400
    assert "document_embeddings" in response.json()["detail"]


@pytest.mark.parametrize("topics", [6, 30])
def test_nearest_topic_centre_is_right_most_of_the_time_but_not_always(topics: int) -> None:
    w = world(topics)
    found = summaries(w, dimension=DIM)
    ids = [row["document_id"].split("::")[0] for row in found.rows]
    items = [w.summarized[i] for i in ids]
    keys = sorted({item.topic for item in items})
    centres = np.vstack(
        [
            found.vectors[[k for k, it in enumerate(items) if it.topic == key]].sum(axis=0)
            for key in keys
        ]
    )
    centres /= np.linalg.norm(centres, axis=1)[:, None]
    nearest = np.argmax(found.vectors @ centres.T, axis=1)
    regular = [k for k, it in enumerate(items) if not it.outlier]
    right = np.mean([keys[nearest[k]] == items[k].topic for k in regular])
    assert 0.85 <= right <= 0.96


def test_the_same_world_gives_the_same_summaries() -> None:
    one = summaries(world(), dimension=DIM)
    two = summaries(world(), dimension=DIM)
    assert np.array_equal(one.vectors, two.vectors)
    assert one.rows == two.rows


def test_a_world_without_the_summarizer_has_no_summaries() -> None:
    plain = generate(seed=5, series=[SeriesSpec()], now=NOW, runs=2, events=False)
    found = summaries(plain, dimension=DIM)
    assert found.events == [] and found.rows == [] and found.vectors.shape == (0, DIM)


def test_the_real_dimension_is_the_default_and_named_as_posthog_names_it() -> None:
    found = summaries(world())
    assert found.vectors.shape[1] == 3072
    assert found.model_name == "text-embedding-3-large-3072"
