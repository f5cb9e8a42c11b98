"""Generated worlds, made once per test process and loaded into a LocalPostHog in a fraction of
a second.

The generator is deterministic: the same arguments give the same world, so `generate` and
`emit_next_run` here keep each world they made (by their arguments) for the rest of the process.
A world is shared, so a test must not change it (they are frozen dataclasses, their lists are
not: a test that needs another world asks for one).

Loading the events of a big world into chdb costs seconds (each event goes through JSON);
`load` inserts them once into a template database of the process's chdb session and copies
them from there into each LocalPostHog that asks (one INSERT … SELECT inside ClickHouse).
`load_summaries` does the same with what PostHog's summarizer wrote for a world (its summary
events and embedding rows, `standins.posthog.embeddings.load_summaries`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Hashable, Iterable
from datetime import datetime
from typing import Any

from standins.posthog import embeddings
from standins.posthog.embeddings import EMBEDDINGS_DDL
from standins.posthog.hogql import quote_string
from standins.posthog.server import LocalPostHog
from standins.posthog.store import MEMORY, EventStore
from standins.traffic import generator
from standins.traffic.embeddings import Summaries
from standins.traffic.generator import Change, Plant, World


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for an argument of `generate` (lists and dicts become tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted(((_frozen(k), _frozen(v)) for k, v in value.items()), key=repr))
    hashable: Hashable = value
    return hashable


_WORLDS: dict[Hashable, World] = {}


def generate(**arguments: Any) -> World:
    """`standins.traffic.generator.generate(**arguments)`, made once per process for equal
    arguments."""
    key = _frozen(arguments)
    world = _WORLDS.get(key)
    if world is None:
        world = _WORLDS[key] = generator.generate(**arguments)
    return world


_NEXT: dict[Hashable, World] = {}


def emit_next_run(
    world: World, *, job_name: str, change: Change | Plant = Change.NONE, now: datetime
) -> World:
    """`standins.traffic.generator.emit_next_run`, made once per process for equal arguments."""
    key = (world.params, job_name, change, now)
    later = _NEXT.get(key)
    if later is None:
        later = _NEXT[key] = generator.emit_next_run(
            world, job_name=job_name, change=change, now=now
        )
    return later


# -- loading ---------------------------------------------------------------------------------

_TEMPLATES: dict[int, EventStore] = {}  # id(world) → a database holding its events
_KEEP: dict[int, World] = {}  # the worlds of those ids, so an id is never reused
_NAMES = itertools.count()
_LOCK = threading.Lock()


def _template(world: World) -> EventStore:
    with _LOCK:
        store = _TEMPLATES.get(id(world))
        if store is None:
            # Opened once and left open for the life of the process: it also keeps the
            # process's chdb session (in memory) open between tests.
            store = EventStore(MEMORY, f"world_template_{next(_NAMES)}")
            store.open()
            store.insert_events(world.events)
            _TEMPLATES[id(world)] = store
            _KEEP[id(world)] = world
        return store


def load(posthog: LocalPostHog, world: World, *, leave_out: Collection[str] = ()) -> None:
    """Insert `world`'s events (but those whose uuid is in `leave_out`) and jobs into
    `posthog`, as `insert_events` and `set_jobs` would."""
    if posthog.db_path is not None:  # a file-backed PostHog lives in another chdb session
        posthog.insert_events(e for e in world.events if e["uuid"] not in leave_out)
    else:
        source = _template(world).database
        skipped = ", ".join(quote_string(str(uuid)) for uuid in leave_out)
        posthog.store.execute(
            f"INSERT INTO {posthog.store.database}.events SELECT * FROM {source}.events"
            + (f" WHERE toString(uuid) NOT IN ({skipped})" if skipped else "")
        )
    posthog.set_jobs(world.jobs)


class _TemplateHost:
    """A template database, as `embeddings.load_summaries` fills a LocalPostHog."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.embedding_models = frozenset[str]()

    def insert_events(self, events: Iterable[dict[str, Any]]) -> int:
        return self.store.insert_events(events)


_SUMMARIES: dict[tuple[int, int | None], tuple[EventStore, Summaries]] = {}  # (id, dimension)


def load_summaries(
    posthog: LocalPostHog, world: World, *, dimension: int | None = None
) -> Summaries:
    """`standins.posthog.embeddings.load_summaries(posthog, world, dimension=…)`: computed and
    inserted once per process for each world and dimension, then copied."""
    if posthog.db_path is not None:
        return embeddings.load_summaries(posthog, world, dimension=dimension)
    with _LOCK:
        made = _SUMMARIES.get((id(world), dimension))
        if made is None:
            store = EventStore(MEMORY, f"summaries_template_{next(_NAMES)}")
            store.open()
            found = embeddings.load_summaries(_TemplateHost(store), world, dimension=dimension)
            made = _SUMMARIES[(id(world), dimension)] = (store, found)
            _KEEP[id(world)] = world
    source, found = made[0].database, made[1]
    target = posthog.store
    target.execute(f"INSERT INTO {target.database}.events SELECT * FROM {source}.events")
    target.execute(EMBEDDINGS_DDL.format(db=target.database))
    target.execute(
        f"INSERT INTO {target.database}.document_embeddings "
        f"SELECT * FROM {source}.document_embeddings"
    )
    posthog.embedding_models = posthog.embedding_models | {found.model_name}
    return found
