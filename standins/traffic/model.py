"""The generator's public data: series specs, parameters, and the ground truth of a world."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from standins.traffic.events import Item
from standins.traffic.traffic import Change, Plant

ITEMS_PER_DAY = 350.0


@dataclass(frozen=True)
class SeriesSpec:
    level: str = "trace"
    job_name: str = "Default - traces"
    job_id: str | None = None  # derived from seed + name when None
    topics: int = 6


@dataclass(frozen=True)
class PlantedTruth:
    kind: Change
    job_name: str
    run_id: str
    previous_run_id: str
    topic: str
    cluster_id: int | None  # the topic's cluster in this run; None when it is not a cluster
    previous_cluster_id: int | None  # the same in the previous run
    scale: float = 1.0
    cause: str = ""  # what the events show as its cause (generator_traffic.Cause); "" none
    start: datetime | None = None  # the step starts here; earlier traffic is unchanged
    clusters: dict[str, int | None] = field(default_factory=dict)  # run id → topic's cluster


@dataclass(frozen=True)
class RunTruth:
    run_id: str
    series: tuple[str, str]  # (level, job_id)
    job_name: str
    index: int  # position in its series, 0 = oldest
    window_start: datetime
    window_end: datetime
    timestamp: datetime  # of the `$ai_*_clusters` event
    total_items: int
    metrics: dict[int, dict[str, Any]]  # cluster_id → PostHog's ClusterAggregateMetrics
    topic_of_cluster: dict[int, str]  # cluster_id → topic key ("outliers" for -1)
    titles: dict[int, str]
    sizes: dict[int, int]
    items: dict[int, tuple[str, ...]]  # cluster_id → item ids
    change: Change = Change.NONE
    embedded_metrics: str = "present"  # how this run's event carries metrics
    event: dict[str, Any] = field(default_factory=dict, compare=False)  # `$ai_*_clusters`
    candidates: int = 0  # items in the window the sample was drawn from
    scale: float = 1.0  # of the planted change, if any
    # with the summarizer simulated: the summarized items of the window the run did not sample
    # (World.summarized has them), and the items of traffic the summarizer chose from
    unsampled: tuple[str, ...] = field(default=(), compare=False)
    traffic: int = 0

    def share(self, cluster_id: int) -> float:
        return self.sizes.get(cluster_id, 0) / self.total_items if self.total_items else 0.0

    def cluster_of_topic(self, topic: str) -> int | None:
        return next((c for c, t in self.topic_of_cluster.items() if t == topic and c != -1), None)

    @property
    def item_ids(self) -> frozenset[str]:
        return frozenset(i for ids in self.items.values() for i in ids)

    @property
    def properties(self) -> dict[str, Any]:
        """The run event's properties, as the local PostHog stores them."""
        props: dict[str, Any] = self.event["properties"]
        return props


@dataclass(frozen=True)
class Extra:
    job_name: str
    change: Change | Plant
    now: datetime


@dataclass(frozen=True)
class Params:
    seed: int
    series: tuple[SeriesSpec, ...]
    runs: int
    items_per_run: int
    now: datetime
    team_id: int
    planted: tuple[tuple[tuple[str, int], Plant], ...]
    embedded_metrics: str
    clusters_as_string: bool
    extras: tuple[Extra, ...] = ()
    items_per_day: float = ITEMS_PER_DAY
    change_start: tuple[float, float] = (0.0, 0.5)
    events: bool = True
    traces_per_day: float | None = None
    summarizer_cap: int | None = None
    misplaced: float | None = None
    latency_by_tokens: bool = False


@dataclass(frozen=True)
class World:
    events: list[dict[str, Any]]  # every event, ready for LocalPostHog.insert_events
    jobs: list[dict[str, Any]]  # for LocalPostHog.set_jobs
    runs: list[RunTruth]  # newest last
    planted: list[PlantedTruth]
    params: Params
    added_events: list[dict[str, Any]] = field(default_factory=list)  # by the last emit
    # item id → PostHog's per-item metrics (cost, latency, input/output tokens, tokens,
    # error_count), for every item of every run; and the item itself (topic, timestamp, …)
    item_values: dict[str, dict[str, float | int]] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    # with the summarizer simulated: every summarized item of any run's window, sampled or not
    # (each with its `summarized_at`); empty otherwise
    summarized: dict[str, Item] = field(default_factory=dict)

    def runs_of(self, job_name: str) -> list[RunTruth]:
        return [run for run in self.runs if run.job_name == job_name]

    def unsampled(self, run: RunTruth) -> list[Item]:
        """The summarized items of `run`'s window that it did not sample."""
        return [self.summarized[item_id] for item_id in run.unsampled]

    def run(self, run_id: str) -> RunTruth:
        return next(run for run in self.runs if run.run_id == run_id)

    def previous(self, run: RunTruth) -> RunTruth | None:
        series = self.runs_of(run.job_name)
        return series[run.index - 1] if run.index > 0 else None
