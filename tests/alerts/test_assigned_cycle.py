"""Assigned items in the alert cycle, end to end: a summarized world (PostHog's hourly
summarizer, summary events and embeddings) in the local PostHog, fake Slack, real SQLite.

The run's unsampled fresh items, assigned to its clusters by their embeddings, count in the
error alert's fresh items and its text says how many; with the embeddings table gone the
alerts are exactly those of the run's sample alone; assignment costs two queries a run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.services.assigned_items import FreshEnlarger, read_assignments
from bot.services.assignment import AssignmentService
from standins.posthog.embeddings import drop_embeddings, load_summaries
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.embeddings import model_name_for
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.blocks import all_text
from tests.support.clock import NOW

DIM = 48  # a sandbox embedding model: the same geometry as 3,072 dims, loaded in a blink
JOB = "Default - traces"
RUNS = 3


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=23,
        series=[SeriesSpec(level="trace", job_name=JOB, topics=8)],
        runs=RUNS,
        items_per_run=1500,
        now=NOW,
        traces_per_day=700.0,
        planted={(JOB, RUNS - 1): Plant(Change.ERROR_HEAVY, scale=2.0)},
    )


@dataclass
class Outcome:
    texts: dict[str, str]  # outbox key -> text and blocks' texts
    queries: int
    stack: Stack


@contextmanager
def cycle(world: World, tmp: Path, *, assign: bool, embeddings: bool = True) -> Iterator[Outcome]:
    """One first cycle over `world` with assignment on or off, and what it stored."""
    with Stack(database_url=f"sqlite:///{tmp / 'bot.db'}") as stack:
        worlds.load(stack.posthog, world)
        load_summaries(stack.posthog, world, dimension=DIM)
        if not embeddings:
            drop_embeddings(stack.posthog.store)
        services = stack.services
        services.alerts.enlarger = (
            FreshEnlarger(
                AssignmentService(services.posthog, model_name=model_name_for(DIM)),
                services.posthog,
                services.store,
            )
            if assign
            else None
        )
        before = len(stack.posthog.hogql_log)
        report = services.alerts.run_cycle()
        assert len(report.runs_processed) == 1
        rows = services.store.outbox(ALERT_CHANNEL)
        here = stack.posthog.url.split("//")[-1]  # each stack's PostHog has its own port
        texts = {r.key: all_text(r).replace(here, "posthog") for r in rows}  # type: ignore[arg-type]
        yield Outcome(texts, len(stack.posthog.hogql_log) - before, stack)


@pytest.fixture(scope="module")
def sample_only(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    with cycle(world, tmp_path_factory.mktemp("sample"), assign=False) as outcome:
        yield outcome


@pytest.fixture
def assigned(world: World, tmp_path: Path) -> Iterator[Outcome]:
    with cycle(world, tmp_path, assign=True) as outcome:
        yield outcome


def error_detail(outcome: Outcome) -> str:
    (text,) = [t for k, t in outcome.texts.items() if k.startswith("error_heavy:")]
    return text


def fresh_count(text: str) -> int:
    """The fresh items an alert's detail says it compared ("21 items newer than ...")."""
    found = re.search(r"(\d+) \w+ newer than the previous run", text)
    assert found is not None, text
    return int(found.group(1))


def assigned_count(text: str) -> int:
    found = re.search(r"rests on (\d+) fresh \w+, (\d+) of them assigned by embedding", text)
    assert found is not None, text
    assert int(found.group(1)) == fresh_count(text)
    return int(found.group(2))


def test_assigned_items_count_in_the_alert_and_its_text_says_so(
    world: World, sample_only: Outcome, assigned: Outcome
) -> None:
    plain, enlarged = error_detail(sample_only), error_detail(assigned)
    assert "assigned by embedding" not in plain
    extra = assigned_count(enlarged)
    assert extra >= 5
    # The fresh items it rests on are the sampled ones plus the assigned ones.
    assert fresh_count(enlarged) == fresh_count(plain) + extra
    newest = world.runs_of(JOB)[-1]
    recorded = read_assignments(assigned.stack.services.store).runs[newest.run_id]
    assert recorded.used and recorded.agreement is not None and recorded.agreement >= 0.8
    assert "held-out agreement" in recorded.line


def test_assignment_costs_two_queries_a_run_at_most(
    sample_only: Outcome, assigned: Outcome
) -> None:
    assert 0 < assigned.queries - sample_only.queries <= 2


def test_without_the_embeddings_table_the_alerts_are_those_of_the_sample(
    world: World, sample_only: Outcome, tmp_path: Path
) -> None:
    with cycle(world, tmp_path, assign=True, embeddings=False) as degraded:
        health = read_assignments(degraded.stack.services.store)
    assert degraded.texts == sample_only.texts
    assert degraded.queries - sample_only.queries == 1  # the query that found no table
    assert "upgrade PostHog" in health.fix
