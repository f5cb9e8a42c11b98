"""Deterministic synthetic LLM traffic and PostHog clustering runs, with the ground truth.

`generate(seed=…, series=[…], now=…)` simulates, per clustering job ("series"), a sequence of
daily runs: each run samples `items_per_run` items from its 7-day window, carrying about
`overlap` of them over from the previous run (they keep their topic); items are assigned to
clusters by latent topic, ~8% are outliers (cluster -1); every new item's `$ai_*` events are
emitted once. Planted changes alter one topic between two runs and are reported as truth.

Everything is driven by `random.Random` seeded from `(seed, job_name)`, so a series does not
depend on the others, and `emit_next_run` can rebuild a world with one more run while leaving
every earlier event byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.generator_events import Item, ItemFactory
from sandbox.generator_sim import Change, SeriesSimulator

__all__ = [
    "Change",
    "PlantedTruth",
    "RunTruth",
    "SeriesSpec",
    "World",
    "emit_next_run",
    "generate",
    "new_events",
]

EMBEDDED_METRICS_MODES = ("present", "null", "absent", "mixed")


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
    cluster_id: int | None  # in this run; None for a vanished cluster
    previous_cluster_id: int | None  # None for a new cluster


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

    def share(self, cluster_id: int) -> float:
        return self.sizes.get(cluster_id, 0) / self.total_items if self.total_items else 0.0

    def cluster_of_topic(self, topic: str) -> int | None:
        return next((c for c, t in self.topic_of_cluster.items() if t == topic), None)

    @property
    def item_ids(self) -> frozenset[str]:
        return frozenset(i for ids in self.items.values() for i in ids)


@dataclass(frozen=True)
class Extra:
    job_name: str
    change: Change
    now: datetime


@dataclass(frozen=True)
class Params:
    seed: int
    series: tuple[SeriesSpec, ...]
    runs: int
    items_per_run: int
    now: datetime
    team_id: int
    overlap: float
    planted: tuple[tuple[tuple[str, int], Change], ...]
    embedded_metrics: str
    clusters_as_string: bool
    extras: tuple[Extra, ...] = ()


@dataclass(frozen=True)
class World:
    events: list[dict[str, Any]]  # every event, ready for LocalPostHog.insert_events
    jobs: list[dict[str, Any]]  # for LocalPostHog.set_jobs
    runs: list[RunTruth]  # newest last
    planted: list[PlantedTruth]
    params: Params
    added_events: list[dict[str, Any]] = field(default_factory=list)  # by the last emit

    def runs_of(self, job_name: str) -> list[RunTruth]:
        return [run for run in self.runs if run.job_name == job_name]

    def run(self, run_id: str) -> RunTruth:
        return next(run for run in self.runs if run.run_id == run_id)

    def previous(self, run: RunTruth) -> RunTruth | None:
        series = self.runs_of(run.job_name)
        return series[run.index - 1] if run.index > 0 else None


def job_id_for(seed: int, name: str) -> str:
    """A uuid7-looking job id derived from the seed and job name."""
    digest = bytearray(hashlib.sha256(f"clusters-sandbox:{seed}:{name}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x70
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def _metrics_mode(mode: str, index: int, total: int) -> str:
    if mode != "mixed":
        return mode
    absent = max(0, (total - 1) // 2)
    if index < absent:
        return "absent"
    if index == absent and index < total - 1:
        return "null"
    return "present"


def _build(params: Params) -> World:
    if params.embedded_metrics not in EMBEDDED_METRICS_MODES:
        raise ValueError(f"embedded_metrics must be one of {EMBEDDED_METRICS_MODES}")
    if params.now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    names = [spec.job_name for spec in params.series]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique")
    planted = dict(params.planted)
    for job_name, index in planted:
        if job_name not in names:
            raise ValueError(f"planted change for unknown job {job_name!r}")
        if not 1 <= index < params.runs:
            raise ValueError(f"planted run index {index} must be in 1..{params.runs - 1}")
    events: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    runs: list[RunTruth] = []
    truths: list[PlantedTruth] = []
    added: list[dict[str, Any]] = []
    for spec in params.series:
        job_id = spec.job_id or job_id_for(params.seed, spec.job_name)
        rng = random.Random(f"{params.seed}:{spec.job_name}")
        factory = ItemFactory(rng, level=spec.level, job_id=job_id, job_name=spec.job_name)
        sim = SeriesSimulator(
            rng,
            factory,
            level=spec.level,
            job_id=job_id,
            job_name=spec.job_name,
            team_id=params.team_id,
            topics=spec.topics,
            items_per_run=params.items_per_run,
            overlap=params.overlap,
        )
        schedule = sim.schedule(params.now, params.runs)
        extras = [e for e in params.extras if e.job_name == spec.job_name]
        total = params.runs + len(extras)
        plan: list[tuple[datetime, Change]] = [
            (end, planted.get((spec.job_name, i), Change.NONE)) for i, end in enumerate(schedule)
        ]
        for extra in extras:
            plan.append((sim.next_window_end(plan[-1][0], extra.now), extra.change))
        first_run_at = schedule[0]
        jobs.append(
            {
                "id": job_id,
                "name": spec.job_name,
                "analysis_level": spec.level,
                "event_filters": [],
                "enabled": True,
                "created_at": _drf_time(first_run_at - timedelta(days=9, hours=3)),
                "updated_at": _drf_time(first_run_at - timedelta(days=9, hours=3)),
            }
        )
        newest_extra = bool(params.extras) and params.extras[-1].job_name == spec.job_name
        for index, (window_end, change) in enumerate(plan):
            if index < params.runs:
                mode = _metrics_mode(params.embedded_metrics, index, params.runs)
            else:  # emitted later: a current PostHog, so metrics are there unless switched off
                mode = "present" if params.embedded_metrics == "mixed" else params.embedded_metrics
            result = sim.run(index, window_end, change)
            run_event = _run_event(sim, result, mode, params.clusters_as_string)
            run_events = [*result.events, run_event]
            events.extend(run_events)
            if newest_extra and index == total - 1:
                added = run_events
            truth = RunTruth(
                run_id=result.run_id,
                series=(spec.level, job_id),
                job_name=spec.job_name,
                index=index,
                window_start=result.window_start,
                window_end=result.window_end,
                timestamp=run_event["timestamp"],
                total_items=result.total_items,
                metrics=result.metrics,
                topic_of_cluster=result.topic_of_cluster,
                titles={c["cluster_id"]: c["title"] for c in result.clusters},
                sizes={c["cluster_id"]: c["size"] for c in result.clusters},
                items={c["cluster_id"]: tuple(c["traces"]) for c in result.clusters},
                change=change,
                embedded_metrics=mode,
            )
            runs.append(truth)
            if change is not Change.NONE and result.planted_topic is not None:
                previous = runs[-2]
                truths.append(
                    PlantedTruth(
                        kind=change,
                        job_name=spec.job_name,
                        run_id=truth.run_id,
                        previous_run_id=previous.run_id,
                        topic=result.planted_topic,
                        cluster_id=truth.cluster_of_topic(result.planted_topic),
                        previous_cluster_id=previous.cluster_of_topic(result.planted_topic),
                    )
                )
    runs.sort(key=lambda run: (run.timestamp, run.job_name))
    order = {run.run_id: k for k, run in enumerate(runs)}
    truths.sort(key=lambda truth: order[truth.run_id])
    return World(
        events=events,
        jobs=jobs,
        runs=runs,
        planted=truths,
        params=params,
        added_events=added if params.extras else events,
    )


def _drf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _run_event(sim: SeriesSimulator, result: Any, mode: str, as_string: bool) -> dict[str, Any]:
    clusters = []
    for cluster in result.clusters:
        cluster = dict(cluster)
        if mode == "null":
            cluster["metrics"] = None
        elif mode == "absent":
            cluster.pop("metrics", None)
        clusters.append(cluster)
    props: dict[str, Any] = {
        "$ai_clustering_run_id": result.run_id,
        "$ai_clustering_level": sim.level,
        "$ai_clustering_job_id": sim.job_id,
        "$ai_clustering_job_name": sim.job_name,
        "$ai_window_start": result.window_start.isoformat(timespec="microseconds"),
        "$ai_window_end": result.window_end.isoformat(timespec="microseconds"),
        "$ai_total_items_analyzed": result.total_items,
        "$ai_clusters": json.dumps(clusters) if as_string else clusters,
        "$ai_clustering_params": {
            "clustering_method": "hdbscan",
            "clustering_method_params": {},
            "embedding_normalization": "l2",
            "dimensionality_reduction_method": "umap",
            "dimensionality_reduction_ndims": 100,
            "visualization_method": "umap",
            "max_samples": 1500,
        },
    }
    moment = result.window_end + timedelta(minutes=14)
    return {
        "uuid": str(uuid.UUID(int=sim.rng.getrandbits(128), version=4)),
        "event": f"$ai_{sim.level}_clusters",
        "timestamp": moment,
        "distinct_id": f"clustering_{sim.level}_{sim.team_id}",
        "properties": props,
    }


def generate(
    *,
    seed: int,
    series: list[SeriesSpec],
    runs: int = 4,
    items_per_run: int = 300,
    now: datetime,
    team_id: int = 1,
    overlap: float = 0.35,
    planted: dict[tuple[str, int], Change] | None = None,
    embedded_metrics: str = "present",
    clusters_as_string: bool = False,
) -> World:
    """Simulate `runs` daily clustering runs per series, ending at `now` (see module doc)."""
    if runs < 1 or items_per_run < 20:
        raise ValueError("need at least 1 run of at least 20 items")
    if not 0.0 <= overlap < 1.0:
        raise ValueError("overlap must be in [0, 1)")
    params = Params(
        seed=seed,
        series=tuple(series),
        runs=runs,
        items_per_run=items_per_run,
        now=now,
        team_id=team_id,
        overlap=overlap,
        planted=tuple(sorted((planted or {}).items())),
        embedded_metrics=embedded_metrics,
        clusters_as_string=clusters_as_string,
    )
    return _build(params)


def emit_next_run(
    world: World, *, job_name: str, change: Change = Change.NONE, now: datetime
) -> World:
    """The same world plus one more run of `job_name` (its window ends at the latest daily slot
    before `now`, or at `now - 14 min` when today's slot is taken). `added_events` holds the new
    events to insert; every older event is unchanged."""
    if job_name not in {spec.job_name for spec in world.params.series}:
        raise ValueError(f"unknown job {job_name!r}")
    extra = Extra(job_name=job_name, change=change, now=now)
    return _build(replace(world.params, extras=(*world.params.extras, extra)))


def new_events(old: World, new: World) -> list[dict[str, Any]]:
    """Events in `new` that `old` does not have (by uuid)."""
    seen = {event["uuid"] for event in old.events}
    return [event for event in new.events if event["uuid"] not in seen]


__all__ += ["Item", "job_id_for"]
