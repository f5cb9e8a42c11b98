"""Domain models of PostHog clustering runs. Frozen, pure data: no I/O, no Slack.

A *run* is one `$ai_{level}_clusters` event. A *series* is `(level, job_id)`: runs are only ever
compared with the previous run of the same series (reference/posthog.md 1.9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict

NOISE_CLUSTER_ID = -1


class Level(StrEnum):
    TRACE = "trace"
    GENERATION = "generation"
    EVALUATION = "evaluation"

    @property
    def event(self) -> str:
        """The event name PostHog emits a run of this level as."""
        return f"$ai_{self.value}_clusters"

    @classmethod
    def from_event(cls, event: str) -> Level:
        return cls(event.removeprefix("$ai_").removesuffix("_clusters"))


CLUSTER_EVENTS: tuple[str, ...] = tuple(level.event for level in Level)


class ClusterRef(NamedTuple):
    """A cluster as a user names it: its id in some run (`-1`: the outliers) or title words.

    `bot/commands` reads it from the text (`3`, `#3`, `-1`, `outliers`, words); the clusters
    service resolves it against a run, and nothing else interprets the text.
    """

    cluster_id: int | None = None
    words: str | None = None

    def __str__(self) -> str:
        return str(self.cluster_id) if self.cluster_id is not None else self.words or ""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SeriesKey(NamedTuple):
    """Identifies a clustering job's sequence of runs. `job_id` is "" for legacy runs."""

    level: Level
    job_id: str

    def __str__(self) -> str:
        return f"{self.level.value}/{self.job_id or 'legacy'}"


class ClusterMetrics(Frozen):
    """Per-cluster aggregates, PostHog's `ClusterAggregateMetrics` semantics.

    `avg_*` average only over items with a value > 0; `error_rate` is items with an error over
    `item_count`, the items that had any data at all. `None` means "not known", never zero.
    """

    avg_cost: float | None = None
    avg_latency: float | None = None
    avg_tokens: float | None = None
    total_cost: float | None = None
    error_rate: float | None = None
    error_count: int | None = None
    item_count: int | None = None
    # Evaluation level only (`$ai_evaluation_clusters`): the share of verdicts that passed, the
    # share of evaluations without a verdict, the commonest evaluator and runtime, and the mean
    # cost of the judge call per evaluation.
    pass_rate: float | None = None
    na_rate: float | None = None
    dominant_evaluation_name: str | None = None
    dominant_runtime: str | None = None
    avg_judge_cost: float | None = None
    # True when the bot computed these from the run's items because PostHog attached none.
    computed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterItem:
    """One trace (trace level) or one generation/evaluation event (other levels) in a cluster.

    A run holds one of these per item (1,500 a run, two runs a series at a time), so it is a
    slotted dataclass rather than a pydantic model: about a quarter of the memory and of the
    time to build (pydantic still validates and serializes it inside `Cluster`)."""

    item_id: str
    trace_id: str
    generation_id: str | None = None
    rank: int
    distance: float | None = None
    x: float | None = None
    y: float | None = None
    timestamp: datetime | None = None
    # What PostHog's per-item query says of the item (posthog/metrics.py `ItemMetrics`), filled
    # in by the alert cycle; `None` until then, or when PostHog has no events for the item.
    cost: float | None = None
    latency: float | None = None
    tokens: float | None = None
    errors: int | None = None
    output_tokens: float | None = None  # of its generations (latency's part, fresh_values.py)

    @property
    def has_values(self) -> bool:
        return self.errors is not None


class Cluster(Frozen):
    cluster_id: int
    size: int
    title: str
    description: str = ""
    items: tuple[ClusterItem, ...] = ()
    centroid_x: float | None = None
    centroid_y: float | None = None
    metrics: ClusterMetrics | None = None

    @property
    def is_noise(self) -> bool:
        return self.cluster_id == NOISE_CLUSTER_ID

    @property
    def item_ids(self) -> frozenset[str]:
        return frozenset(item.item_id for item in self.items)

    @property
    def bullets(self) -> list[str]:
        """The LLM writes descriptions as "- point" lines (reference/posthog.md 1.8)."""
        lines = (line.strip().removeprefix("- ").strip() for line in self.description.splitlines())
        return [line for line in lines if line]

    def representative(self, n: int = 5) -> tuple[ClusterItem, ...]:
        """The n most representative items: rank 0 first; for noise, the most anomalous."""
        return tuple(sorted(self.items, key=lambda item: item.rank)[:n])


class RunSummary(Frozen):
    """A run without its (large) cluster payload: what the runs list returns."""

    run_id: str
    level: Level
    job_id: str = ""
    job_name: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None
    total_items: int
    timestamp: datetime
    cluster_count: int | None = None

    @property
    def series(self) -> SeriesKey:
        return SeriesKey(self.level, self.job_id)

    @property
    def job_label(self) -> str:
        return self.job_name or ("legacy job" if not self.job_id else self.job_id)


class ClusteringRun(RunSummary):
    clusters: tuple[Cluster, ...] = ()
    params: dict[str, Any] | None = None  # `$ai_clustering_params`, when the event has them

    def share(self, cluster: Cluster) -> float:
        """A cluster's size as a fraction of the run (sizes are samples; compare shares)."""
        total = self.total_items or sum(c.size for c in self.clusters)
        return cluster.size / total if total else 0.0

    def cluster(self, cluster_id: int) -> Cluster | None:
        return next((c for c in self.clusters if c.cluster_id == cluster_id), None)

    @property
    def by_size(self) -> tuple[Cluster, ...]:
        """Real clusters largest first, then the noise cluster last (as the UI shows them)."""
        real = sorted((c for c in self.clusters if not c.is_noise), key=lambda c: -c.size)
        return (*real, *(c for c in self.clusters if c.is_noise))

    @property
    def missing_metrics(self) -> bool:
        return any(c.metrics is None for c in self.clusters)

    @property
    def item_count(self) -> int:
        return sum(len(c.items) for c in self.clusters)

    def with_metrics(self, metrics: dict[int, ClusterMetrics]) -> ClusteringRun:
        """A copy whose clusters without metrics get the computed ones."""
        clusters = tuple(
            c
            if c.metrics is not None or c.cluster_id not in metrics
            else c.model_copy(update={"metrics": metrics[c.cluster_id]})
            for c in self.clusters
        )
        return self.model_copy(update={"clusters": clusters})

    @property
    def has_item_values(self) -> bool:
        return any(item.has_values for cluster in self.clusters for item in cluster.items)

    def with_item_values(self, values: Mapping[str, ItemValues]) -> ClusteringRun:
        """A copy whose items carry their per-item values (items PostHog had no data for keep
        `None`)."""
        clusters = tuple(
            cluster.model_copy(
                update={
                    "items": tuple(
                        _with_values(item, values[item.item_id]) if item.item_id in values else item
                        for item in cluster.items
                    )
                }
            )
            for cluster in self.clusters
        )
        return self.model_copy(update={"clusters": clusters})

    @property
    def summary(self) -> RunSummary:
        return RunSummary.model_validate(self.model_dump(exclude={"clusters", "params"}))


class ItemValues(Protocol):
    """One item's values as PostHog's per-item query returns them (posthog/metrics.py)."""

    @property
    def cost(self) -> float: ...
    @property
    def latency(self) -> float: ...
    @property
    def tokens(self) -> float: ...
    @property
    def output_tokens(self) -> float: ...
    @property
    def errors(self) -> int: ...


def _with_values(item: ClusterItem, values: ItemValues) -> ClusterItem:
    # Every field by name: five times faster than `dataclasses.replace`, which matters at
    # tens of thousands of items a cycle (tests/domain/test_models.py keeps it complete).
    return ClusterItem(
        item_id=item.item_id,
        trace_id=item.trace_id,
        generation_id=item.generation_id,
        rank=item.rank,
        distance=item.distance,
        x=item.x,
        y=item.y,
        timestamp=item.timestamp,
        cost=values.cost,
        latency=values.latency,
        tokens=values.tokens,
        errors=values.errors,
        output_tokens=values.output_tokens,
    )
