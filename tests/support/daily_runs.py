"""Literal pairs of daily runs for fresh-slice tests: each cluster is a topic whose items are
spread over the older days of the window and the fresh day, with values given per item."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.models import NOISE_CLUSTER_ID, Cluster, ClusteringRun, ClusterItem

END = datetime(2026, 6, 14, 0, 15, tzinfo=UTC)  # the previous run's window end
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Topic:
    """`older` items in the six shared days and `fresh` in the new one; each item's cost is a
    lognormal draw around `cost` (`fresh_cost` for fresh items), errors with `error_rate`."""

    key: str
    older: int
    fresh: int
    cost: float = 0.01
    fresh_cost: float | None = None
    error_rate: float = 0.02
    fresh_error_rate: float | None = None
    in_previous: bool = True
    fresh_hours: tuple[float, float] = (0.05, 0.95)  # of the fresh day, as fractions
    priced: bool = False  # cost = tokens (lognormal) x a steady price per token
    late: int = 0  # more fresh items, in the day's last 5 hours (a change that starts late)
    streamed: bool = False  # latency = time to the first token + output tokens x a pace
    fresh_pace: float = 1.0  # streamed: the fresh items' time per output token, relative


def day_runs(topics: Sequence[Topic], seed: int = 0) -> tuple[ClusteringRun, ClusteringRun]:
    """(previous, current): the current run's clusters follow `topics` (noise if the key is
    "noise"); the previous run holds the older items of every topic `in_previous`."""
    rng = random.Random(seed)
    current: list[Cluster] = []
    previous: list[Cluster] = []
    for index, topic in enumerate(topics):
        cid = NOISE_CLUSTER_ID if topic.key == "noise" else index
        older = [
            _item(rng, f"{topic.key}-o{i}", END - rng.uniform(0.1, 6) * DAY, topic, False)
            for i in range(topic.older)
        ]
        hours = topic.fresh_hours
        fresh = [
            _item(rng, f"{topic.key}-f{i}", END + rng.uniform(*hours) * DAY, topic, True)
            for i in range(topic.fresh)
        ] + [
            _item(rng, f"{topic.key}-l{i}", END + rng.uniform(0.79, 0.99) * DAY, topic, True)
            for i in range(topic.late)
        ]
        items = tuple(older + fresh)
        current.append(Cluster(cluster_id=cid, size=len(items), title=topic.key, items=items))
        if topic.in_previous:
            kept = tuple(older)
            previous.append(
                Cluster(
                    cluster_id=10 + index if cid >= 0 else cid,
                    size=len(kept),
                    title=topic.key,
                    items=kept,
                )
            )
    return _run("prev", END, previous), _run("cur", END + DAY, current)


def _item(rng: random.Random, item_id: str, at: datetime, topic: Topic, fresh: bool) -> ClusterItem:
    cost = topic.fresh_cost if fresh and topic.fresh_cost is not None else topic.cost
    rate = (
        topic.fresh_error_rate if fresh and topic.fresh_error_rate is not None else topic.error_rate
    )
    if topic.priced:  # tokens spread (sigma 0.8), the price per token hardly (0.2)
        tokens = round(1000.0 * rng.lognormvariate(0.0, 0.8))
        value = cost / 1000.0 * rng.lognormvariate(0.0, 0.2) * tokens
    else:
        tokens, value = 1000, cost * rng.lognormvariate(0.0, 0.8)
    output: float | None = None
    if topic.streamed:  # answers' lengths spread (sigma 0.8), the pace per token hardly (0.15)
        output = float(round(300.0 * rng.lognormvariate(0.0, 0.8)))
        pace = 0.006 * (topic.fresh_pace if fresh else 1.0)
        latency = (0.5 + pace * output) * rng.lognormvariate(0.0, 0.15)
    else:
        latency = 2.0 * rng.lognormvariate(0.0, 0.5)
    return ClusterItem(
        item_id=item_id,
        trace_id=item_id,
        rank=0,
        timestamp=at,
        cost=value,
        latency=latency,
        tokens=float(tokens),
        errors=1 if rng.random() < rate else 0,
        output_tokens=output,
    )


def _run(run_id: str, end: datetime, clusters: list[Cluster]) -> ClusteringRun:
    return ClusteringRun(
        run_id=run_id,
        level="trace",
        job_id="job",
        total_items=sum(c.size for c in clusters),
        timestamp=end + timedelta(minutes=14),
        window_start=end - 7 * DAY,
        window_end=end,
        clusters=tuple(clusters),
    )


@dataclass(frozen=True)
class Traffic:
    """One topic's items on one day."""

    count: int
    error_rate: float = 0.02
    cost: float = 0.01


def run_series(days: Sequence[dict[str, Traffic]], seed: int = 0) -> list[ClusteringRun]:
    """Daily runs over `days` of traffic: run k holds every item of days k..k+6 (a 7-day
    window, no sampling), its window ending at the end of day k+6; each topic is one cluster,
    its id reshuffled every run. Item ids are stable, so consecutive runs share six days."""
    rng = random.Random(seed)
    start = END - 7 * DAY
    by_day: list[dict[str, list[ClusterItem]]] = []
    for index, day in enumerate(days):
        items: dict[str, list[ClusterItem]] = {}
        for topic, traffic in day.items():
            spec = Topic(topic, 0, 0, cost=traffic.cost, error_rate=traffic.error_rate)
            items[topic] = [
                _item(
                    rng,
                    f"{topic}-d{index}-{i}",
                    start + (index + rng.uniform(0.02, 0.98)) * DAY,
                    spec,
                    False,
                )
                for i in range(traffic.count)
            ]
        by_day.append(items)
    runs = []
    for k in range(len(days) - 6):
        topics = sorted({t for day in by_day[k : k + 7] for t in day})
        clusters = []
        for position, topic in enumerate(topics):
            items = tuple(i for day in by_day[k : k + 7] for i in day.get(topic, []))
            cluster_id = (position + k) % len(topics)
            clusters.append(
                Cluster(cluster_id=cluster_id, size=len(items), title=topic, items=items)
            )
        runs.append(_run(f"run-{k}", start + (k + 7) * DAY, clusters))
    return runs
