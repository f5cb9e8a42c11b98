"""One clustering job's runs: item sampling with overlap, topic → cluster assignment, labels,
coordinates, ranks and PostHog's per-cluster aggregate metrics."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sandbox.generator_events import Behaviour, Item, ItemFactory
from sandbox.generator_topics import CATALOG, NOISE_DESCRIPTION, NOISE_TITLE, Topic, topic_by_key


class Change(StrEnum):
    NONE = "none"
    COST_SPIKE = "cost_spike"
    ERROR_HEAVY = "error_heavy"
    SIZE_SHIFT = "size_shift"
    NEW_CLUSTER = "new_cluster"
    VANISHED_CLUSTER = "vanished_cluster"


NOISE_ID = -1
OUTLIER_P = 0.08
COST_SPIKE_MIN_BASE = 0.001  # USD per item; see Change.COST_SPIKE
EMPTY_TIMESTAMP_P = 0.02
WINDOW = timedelta(days=7)
SCHEDULE_OFFSET = {
    "trace": timedelta(minutes=15),
    "generation": timedelta(minutes=45),
    "evaluation": timedelta(hours=6),
}
EMIT_DELAY = timedelta(minutes=14)


def aggregate_metrics(items: list[Item]) -> dict[str, Any]:
    """PostHog's `_aggregate_operational_metrics` for one cluster (aggregates.py)."""
    total_cost = total_latency = 0.0
    total_tokens = cost_count = latency_count = token_count = 0
    with_errors = with_data = 0
    for item in items:
        m = item.metrics
        with_data += 1
        if m.error_count > 0:
            with_errors += 1
        if m.cost is not None and m.cost > 0:
            total_cost += m.cost
            cost_count += 1
        if m.latency is not None and m.latency > 0:
            total_latency += m.latency
            latency_count += 1
        tokens = (m.input_tokens or 0) + (m.output_tokens or 0)
        if tokens > 0:
            total_tokens += tokens
            token_count += 1
    return {
        "avg_cost": total_cost / cost_count if cost_count else None,
        "avg_latency": total_latency / latency_count if latency_count else None,
        "avg_tokens": total_tokens / token_count if token_count else None,
        "total_cost": total_cost if cost_count else None,
        "error_rate": with_errors / with_data if with_data else None,
        "error_count": with_errors,
        "item_count": with_data,
        "pass_rate": None,
        "na_rate": None,
        "dominant_evaluation_name": None,
        "dominant_runtime": None,
        "avg_judge_cost": None,
    }


@dataclass
class RunResult:
    run_id: str
    window_start: datetime
    window_end: datetime
    total_items: int
    clusters: list[dict[str, Any]]  # cluster objects, metrics included
    metrics: dict[int, dict[str, Any]]
    topic_of_cluster: dict[int, str]
    events: list[dict[str, Any]]  # `$ai_*` events of the run's new items
    planted_topic: str | None = None


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class SeriesSimulator:
    rng: random.Random
    factory: ItemFactory
    level: str
    job_id: str
    job_name: str
    team_id: int
    topics: int
    items_per_run: int
    overlap: float
    weights: dict[str, float] = field(default_factory=dict)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    reserve: list[Topic] = field(default_factory=list)
    previous: list[Item] = field(default_factory=list)
    last_title: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 2 <= self.topics < len(CATALOG):
            raise ValueError(f"topics must be in 2..{len(CATALOG) - 1}")
        chosen = self.rng.sample(list(CATALOG), len(CATALOG))
        for topic in chosen[: self.topics]:
            self.weights[topic.key] = self.rng.uniform(0.6, 1.8)
            self.behaviours[topic.key] = Behaviour()
        self.reserve = chosen[self.topics :]

    # -- schedule -----------------------------------------------------------------------------

    def schedule(self, now: datetime, runs: int) -> list[datetime]:
        offset = SCHEDULE_OFFSET.get(self.level, SCHEDULE_OFFSET["trace"])
        base = _floor_day(now) + offset
        if base + EMIT_DELAY + timedelta(minutes=1) > now:
            base -= timedelta(days=1)
        ends = []
        for i in range(runs):
            jitter = timedelta(
                seconds=self.rng.randint(1, 9), microseconds=self.rng.randrange(10**6)
            )
            ends.append(base - timedelta(days=runs - 1 - i) + jitter)
        return ends

    def next_window_end(self, previous: datetime, now: datetime) -> datetime:
        """The window end of a run started at `now` after a run that ended at `previous`."""
        offset = SCHEDULE_OFFSET.get(self.level, SCHEDULE_OFFSET["trace"])
        latest = now - EMIT_DELAY - timedelta(minutes=1)
        digest = hashlib.sha256(f"{self.job_id}:{previous.isoformat()}".encode()).digest()
        jitter = timedelta(
            seconds=1 + digest[0] % 9, microseconds=int.from_bytes(digest[1:4]) % 10**6
        )
        slot = _floor_day(latest - offset) + offset
        if slot > previous + timedelta(minutes=1) and slot + jitter <= latest:
            return slot + jitter
        if latest <= previous + timedelta(minutes=1):
            raise ValueError(f"a run of {self.job_name!r} already ended at {previous.isoformat()}")
        return latest

    # -- changes ------------------------------------------------------------------------------

    def _by_weight(self) -> list[str]:
        return sorted(self.weights, key=lambda key: (self.weights[key], key))

    def _apply(self, change: Change) -> str | None:
        if change is Change.NONE:
            return None
        carried = self.overlap
        by_weight = self._by_weight()
        total = sum(self.weights.values())
        if change is Change.COST_SPIKE:
            # A mid-size topic expensive enough that tripling its cost clears the bot's
            # absolute floor ($0.001 per item) as well as its relative one.
            pricey = [k for k in by_weight if topic_by_key(k).expected_cost >= COST_SPIKE_MIN_BASE]
            pool = pricey or by_weight
            key = pool[len(pool) // 2]
            b = self.behaviours[key]
            self.behaviours[key] = replace(b, cost_mult=b.cost_mult * 3.0)
            return key
        if change is Change.ERROR_HEAVY:
            key = by_weight[max(0, len(by_weight) // 2 - 1)]
            self.behaviours[key] = replace(self.behaviours[key], error_p=0.5)
            return key
        if change is Change.SIZE_SHIFT:
            key = by_weight[max(0, len(by_weight) // 2 - 1)]
            w = self.weights[key]
            share = w / total
            target = min(0.6, share + 0.15 / ((1 - OUTLIER_P) * (1 - carried)))
            mult = max(2.0, target * (total - w) / (w * (1 - target)))
            self.weights[key] = w * mult
            return key
        if change is Change.NEW_CLUSTER:
            if not self.reserve:
                raise ValueError("no unused topic left for a new cluster")
            topic = self.reserve.pop(0)
            target = min(0.6, 0.12 / ((1 - OUTLIER_P) * (1 - carried)))
            self.weights[topic.key] = target / (1 - target) * total
            self.behaviours[topic.key] = Behaviour()
            return topic.key
        if change is Change.VANISHED_CLUSTER:
            candidates = [k for k in by_weight[:-1] if self.weights[k] / total >= 0.12]
            key = self.rng.choice(candidates or by_weight[-2:-1] or by_weight)
            del self.weights[key]
            return key
        raise ValueError(f"unknown change {change!r}")

    # -- one run ------------------------------------------------------------------------------

    def run(self, index: int, window_end: datetime, change: Change) -> RunResult:
        rng = self.rng
        window_start = window_end - WINDOW
        planted_topic = self._apply(change)
        n = self.items_per_run
        eligible = [
            item
            for item in self.previous
            if item.timestamp >= window_start + timedelta(minutes=30) and item.topic in self.weights
        ]
        carried = rng.sample(eligible, min(round(self.overlap * n), len(eligible)))
        keys = list(self.weights)
        cumulative = []
        running = 0.0
        for key in keys:
            running += self.weights[key]
            cumulative.append(running)
        events: list[dict[str, Any]] = []
        items = list(carried)
        span = WINDOW.total_seconds() - 3 * 3600
        for _ in range(n - len(carried)):
            key = rng.choices(keys, cum_weights=cumulative)[0]
            start = window_start + timedelta(seconds=3600 + rng.random() * span)
            outlier = rng.random() < OUTLIER_P
            item, item_events = self.factory.make(
                topic_by_key(key), start, self.behaviours[key], outlier
            )
            items.append(item)
            events.extend(item_events)
        self.previous = items
        run_id = f"{self.team_id}_{self.level}_{window_end:%Y%m%d_%H%M%S}" + (
            f"_{self.job_id}" if self.job_id else ""
        )
        clusters, topic_of_cluster = self._clusters(items)
        metrics = {c["cluster_id"]: c["metrics"] for c in clusters}
        return RunResult(
            run_id=run_id,
            window_start=window_start,
            window_end=window_end,
            total_items=len(items),
            clusters=clusters,
            metrics=metrics,
            topic_of_cluster=topic_of_cluster,
            events=events,
            planted_topic=planted_topic,
        )

    def _clusters(self, items: list[Item]) -> tuple[list[dict[str, Any]], dict[int, str]]:
        rng = self.rng
        min_size = max(5, math.ceil(0.02 * len(items)))
        by_topic: dict[str, list[Item]] = {}
        noise: list[Item] = []
        for item in items:
            (noise if item.outlier else by_topic.setdefault(item.topic, [])).append(item)
        for key in sorted(by_topic):
            if len(by_topic[key]) < min_size:
                noise.extend(by_topic.pop(key))
        order = sorted(by_topic)
        rng.shuffle(order)
        topic_of_cluster = {cluster_id: key for cluster_id, key in enumerate(order)}
        clusters = [
            self._cluster(cluster_id, topic_by_key(key), by_topic[key])
            for cluster_id, key in sorted(topic_of_cluster.items())
        ]
        if noise:
            clusters.append(self._noise(noise))
            topic_of_cluster[NOISE_ID] = "outliers"
        return clusters, topic_of_cluster

    def _title(self, topic: Topic) -> str:
        choices = [t for t in topic.titles if t != self.last_title.get(topic.key)]
        title = self.rng.choice(choices)
        self.last_title[topic.key] = title
        return title

    def _entries(
        self,
        members: list[Item],
        distances: list[float],
        coords: list[tuple[float, float]],
        *,
        descending: bool,
    ) -> dict[str, dict[str, Any]]:
        order = sorted(range(len(members)), key=lambda i: distances[i], reverse=descending)
        traces: dict[str, dict[str, Any]] = {}
        for rank, i in enumerate(order):
            item = members[i]
            stamp = item.timestamp.isoformat(timespec="microseconds")
            traces[item.item_id] = {
                "distance_to_centroid": distances[i],
                "rank": rank,
                "x": coords[i][0],
                "y": coords[i][1],
                "timestamp": "" if self.rng.random() < EMPTY_TIMESTAMP_P else stamp,
                "trace_id": item.trace_id,
                "generation_id": item.generation_id,
            }
        return traces

    def _cluster(self, cluster_id: int, topic: Topic, members: list[Item]) -> dict[str, Any]:
        rng = self.rng
        cx, cy = round(rng.uniform(-6, 6), 4), round(rng.uniform(-6, 6), 4)
        distances = [round(abs(rng.gauss(0.35, 0.15)) + 0.02, 4) for _ in members]
        coords = [
            (round(cx + rng.gauss(0, 0.8), 4), round(cy + rng.gauss(0, 0.8), 4)) for _ in members
        ]
        bullets = rng.sample(topic.bullets, rng.randint(2, min(4, len(topic.bullets))))
        return {
            "cluster_id": cluster_id,
            "size": len(members),
            "title": self._title(topic),
            "description": "\n".join(f"- {b}" for b in bullets),
            "traces": self._entries(members, distances, coords, descending=False),
            "centroid": [round(rng.gauss(0, 1), 4) for _ in range(8)],
            "centroid_x": cx,
            "centroid_y": cy,
            "metrics": aggregate_metrics(members),
        }

    def _noise(self, members: list[Item]) -> dict[str, Any]:
        rng = self.rng
        distances = [round(rng.uniform(0.9, 2.5), 4) for _ in members]
        coords = [(round(rng.uniform(-9, 9), 4), round(rng.uniform(-9, 9), 4)) for _ in members]
        return {
            "cluster_id": NOISE_ID,
            "size": len(members),
            "title": NOISE_TITLE,
            "description": NOISE_DESCRIPTION,
            "traces": self._entries(members, distances, coords, descending=True),
            "centroid": [],
            "centroid_x": round(sum(x for x, _ in coords) / len(coords), 4),
            "centroid_y": round(sum(y for _, y in coords) / len(coords), 4),
            "metrics": aggregate_metrics(members),
        }
