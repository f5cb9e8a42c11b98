"""What services hand the renderer: plain data, no Slack, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.models import Cluster, ClusteringRun, ClusterItem
from bot.posthog.schemas import ClusteringJob


@dataclass(frozen=True)
class TraceTarget:
    """Where an item's link and Details button lead: a trace, and the event in it to open."""

    trace_id: str
    at: datetime | None = None
    event: str | None = None


@dataclass(frozen=True)
class ItemDetail:
    """One representative item of a cluster, as a drilldown line shows it. `target` is None
    when the item leads to no trace (an evaluation PostHog could not join to its trace)."""

    item: ClusterItem
    target: TraceTarget | None = None
    summary_title: str | None = None
    model: str | None = None
    cost: float | None = None
    latency: float | None = None
    tokens: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ClusterView:
    run: ClusteringRun
    cluster: Cluster
    items: tuple[ItemDetail, ...] = ()


@dataclass(frozen=True)
class TraceStep:
    """One event of a trace's timeline."""

    kind: str
    name: str
    at: datetime | None
    model: str | None = None
    latency: float | None = None
    cost: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class TraceView:
    trace_id: str
    name: str | None
    created_at: datetime | None
    total_cost: float | None
    total_latency: float | None
    tokens: float | None
    error_count: int
    steps: tuple[TraceStep, ...] = ()
    first_input: str | None = None
    final_output: str | None = None
    event: str | None = None
    hidden_steps: int = 0


@dataclass(frozen=True)
class Ranked:
    """A cluster ranked by a metric across the latest runs of one or more series."""

    run: ClusteringRun
    cluster: Cluster
    value: float | None


@dataclass(frozen=True)
class RankedList:
    metric: str
    level: str | None
    entries: tuple[Ranked, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class JobsView:
    """The clustering jobs; `from_runs` when PostHog would not list them (the endpoint is
    internal on older versions) and they were read off the runs instead."""

    jobs: tuple[ClusteringJob, ...]
    from_runs: bool = False
