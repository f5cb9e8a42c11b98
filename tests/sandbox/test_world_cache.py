"""The suite's world cache (tests/support/worlds.py): equal arguments give the one world made
before, and a world (or what its summarizer wrote) loaded by copy is, row for row, the world
inserted event by event."""

from __future__ import annotations

from standins.posthog.embeddings import POSTHOG_MODELS, load_summaries
from standins.posthog.server import LocalPostHog
from standins.traffic import generator
from standins.traffic.generator import Change, SeriesSpec
from tests.support import worlds
from tests.support.clock import NOW

SERIES = [SeriesSpec(level="trace", job_name="Cache traces")]


def small(**overrides: object) -> generator.World:
    arguments: dict[str, object] = {
        "seed": 21,
        "series": list(SERIES),
        "runs": 2,
        "items_per_run": 40,
        "now": NOW,
        "planted": {("Cache traces", 1): Change.COST_SPIKE},
    }
    return worlds.generate(**(arguments | overrides))


def digest(posthog: LocalPostHog, table: str, columns: str) -> tuple[int, int]:
    """(rows, a hash of every row's `columns`) of one of the local PostHog's tables."""
    result = posthog.store.query_json(
        f"SELECT count(), sum(cityHash64({columns})) FROM {posthog.store.database}.{table}"
    )
    count, hashed = result["data"][0]
    return int(count), int(hashed)


def fingerprint(posthog: LocalPostHog) -> tuple[int, int]:
    columns = "toString(uuid), event, toString(timestamp), distinct_id, properties"
    return digest(posthog, "events", columns)


def test_equal_arguments_give_the_world_made_before() -> None:
    first = small()
    assert small() is first
    assert small(series=[SeriesSpec(level="trace", job_name="Cache traces")]) is first
    assert small(seed=22) is not first
    fresh = generator.generate(
        seed=21,
        series=list(SERIES),
        runs=2,
        items_per_run=40,
        now=NOW,
        planted={("Cache traces", 1): Change.COST_SPIKE},
    )
    assert fresh.events == first.events and fresh.jobs == first.jobs


def test_next_runs_are_made_once_and_hold_the_new_run() -> None:
    world = small()
    later = worlds.emit_next_run(world, job_name="Cache traces", now=NOW)
    assert worlds.emit_next_run(world, job_name="Cache traces", now=NOW) is later
    assert len(later.runs_of("Cache traces")) == len(world.runs_of("Cache traces")) + 1
    assert later.added_events


def test_a_world_loaded_by_copy_is_the_world_inserted(posthog: LocalPostHog) -> None:
    world = small()
    posthog.insert_events(world.events)
    posthog.set_jobs(world.jobs)
    inserted = (
        fingerprint(posthog),
        posthog.store.query_json(
            f"SELECT body FROM {posthog.store.database}.clustering_jobs ORDER BY position"
        )["data"],
    )
    posthog.reset()
    assert fingerprint(posthog)[0] == 0

    worlds.load(posthog, world)
    worlds.load(posthog, small(seed=23))  # another world's template does not leak into this one
    posthog.reset()
    worlds.load(posthog, world)

    loaded = (
        fingerprint(posthog),
        posthog.store.query_json(
            f"SELECT body FROM {posthog.store.database}.clustering_jobs ORDER BY position"
        )["data"],
    )
    assert loaded == inserted
    assert loaded[0][0] == len(world.events) > 0


def test_a_world_loaded_by_copy_can_leave_events_out(posthog: LocalPostHog) -> None:
    world = small()
    newest = world.runs[-1].event["uuid"]
    posthog.insert_events(e for e in world.events if e["uuid"] != newest)
    inserted = fingerprint(posthog)
    posthog.reset()

    worlds.load(posthog, world, leave_out={newest})

    assert fingerprint(posthog) == inserted
    assert inserted[0] == len(world.events) - 1


def summarized(seed: int) -> generator.World:
    return small(seed=seed, traces_per_day=48.0)


def embedding_rows(posthog: LocalPostHog) -> tuple[int, int]:
    columns = "document_id, model_name, toString(timestamp), metadata, content, toString(embedding)"
    return digest(posthog, "document_embeddings", columns)


def test_summaries_loaded_by_copy_are_the_summaries_inserted(posthog: LocalPostHog) -> None:
    world = summarized(21)
    posthog.embedding_models = POSTHOG_MODELS  # the shared server's, as it started
    direct = load_summaries(posthog, world, dimension=24)
    inserted = (fingerprint(posthog), embedding_rows(posthog), posthog.embedding_models)
    posthog.reset()
    posthog.embedding_models = POSTHOG_MODELS

    worlds.load_summaries(posthog, world, dimension=24)
    worlds.load_summaries(posthog, summarized(23), dimension=24)  # no leak from another world
    posthog.reset()
    posthog.embedding_models = POSTHOG_MODELS
    copied = worlds.load_summaries(posthog, world, dimension=24)

    assert (fingerprint(posthog), embedding_rows(posthog), posthog.embedding_models) == inserted
    assert copied.rows == direct.rows and embedding_rows(posthog)[0] == len(world.summarized) > 0
