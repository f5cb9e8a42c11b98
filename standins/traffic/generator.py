"""Deterministic synthetic LLM traffic and PostHog clustering runs, with the ground truth.

`generate(seed=…, series=[…], now=…)` simulates, per clustering job ("series"), what PostHog
does every day:

- traffic happens per UTC day and topic: a Poisson process whose daily rate is the topic's
  base rate times a lognormal day factor (σ 0.1), about `items_per_day` candidates per day in
  all (`standins.traffic.traffic`); per-item tokens are lognormal (σ 0.8), times the model's
  price, latency is lognormal, errors are Bernoulli around 2% per topic;
- with `traces_per_day` set, that is the traffic (traces a day; generations at generation
  level) and PostHog's hourly summarizer is simulated (`standins.traffic.summarizer`): it keeps
  the newest `summarizer_cap` items of each hour (15 traces, 20 generations), and only those are
  candidates, in the window where their summary was written; without it (the default, kept
  for the tests' worlds) every item of traffic is a candidate;
- each run has the window [end − 7 d, end) and samples `min(items_per_run, candidates)` items
  uniformly at random from it (PostHog: `ORDER BY rand() LIMIT 1500`), so consecutive runs
  share items only by chance, and about 1/7 of a run's items are newer than the previous
  window end; with the summarizer, `World.summarized` keeps every summarized item, sampled or
  not, and `RunTruth.unsampled` the ones each run left out;
- clustering groups items by latent topic: ~8% outliers and half of the `misplaced` items
  (default ~3%) go to noise (cluster -1), the other half of the misplaced to a neighbouring
  topic's cluster; a group under max(5, 2% of the sample) items is folded into noise; ids are
  reshuffled and titles paraphrased every run;
- a generation's latency is its topic's mean times a lognormal factor, whatever its tokens; with
  `latency_by_tokens`, as a model streams its answer: a fixed time to the first token (prefill,
  queueing, the network) plus a time per output token, so longer answers take longer;
- a planted change (`planted={(job, run_index): Change.X or Plant(Change.X, scale)}`) is a step
  on one topic chosen at random, starting at a moment drawn in the `change_start` fraction of
  the interval between the previous run's window end and the planted run's window end (default
  (0.0, 0.5): uniformly in its first half); only traffic after that moment changes.

Every item's `$ai_*` events are emitted with the first run that samples it (`events=False`
skips building them; `World.item_values` then still has what PostHog's per-item metrics query
would return, and `RunTruth.event` the run's `$ai_*_clusters` event).

Everything is driven by random streams keyed by `(seed, job_name, …)`, so a series does not
depend on the others, a day's traffic does not depend on the runs, and `emit_next_run` can
rebuild a world with one more run while leaving every earlier event byte-identical. Nothing
here knows the bot's thresholds: it models PostHog's data only.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.traffic.events import Item, uuid4_from
from standins.traffic.model import (
    ITEMS_PER_DAY,
    Extra,
    Params,
    PlantedTruth,
    RunTruth,
    SeriesSpec,
    World,
)
from standins.traffic.sim import MISPLACED_P, RunResult, SeriesSimulator, floor_day
from standins.traffic.summarizer import SUMMARIZER_CAP
from standins.traffic.traffic import Cause, Change, Plant, as_plant

__all__ = [
    "Cause",
    "Change",
    "Extra",
    "Item",
    "Plant",
    "PlantedTruth",
    "RunTruth",
    "SeriesSpec",
    "World",
    "emit_next_run",
    "emit_next_runs",
    "generate",
    "job_id_for",
    "new_events",
]

EMBEDDED_METRICS_MODES = ("present", "null", "absent", "mixed")


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


def _check(params: Params) -> None:
    if params.embedded_metrics not in EMBEDDED_METRICS_MODES:
        raise ValueError(f"embedded_metrics must be one of {EMBEDDED_METRICS_MODES}")
    if params.now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    names = [spec.job_name for spec in params.series]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique")
    for job_name, index in dict(params.planted):
        if job_name not in names:
            raise ValueError(f"planted change for unknown job {job_name!r}")
        if not 1 <= index < params.runs:
            raise ValueError(f"planted run index {index} must be in 1..{params.runs - 1}")
    low, high = params.change_start
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError("change_start must be a range within [0, 1]")
    if params.traces_per_day is not None and params.traces_per_day <= 0:
        raise ValueError("traces_per_day must be positive")
    if params.summarizer_cap is not None and params.traces_per_day is None:
        raise ValueError("summarizer_cap needs traces_per_day (the traffic it caps)")


def _build(params: Params) -> World:
    _check(params)
    planted = dict(params.planted)
    world = World(events=[], jobs=[], runs=[], planted=[], params=params)
    added: list[dict[str, Any]] = []
    for spec in params.series:
        added = _series(params, spec, planted, world) or added
    world.runs.sort(key=lambda run: (run.timestamp, run.job_name))
    order = {run.run_id: k for k, run in enumerate(world.runs)}
    world.planted.sort(key=lambda truth: order[truth.run_id])
    return replace(world, added_events=added if params.extras else world.events)


def _series(
    params: Params, spec: SeriesSpec, planted: dict[tuple[str, int], Plant], world: World
) -> list[dict[str, Any]]:
    """Simulate one series into `world`; returns the events of its newest extra run, if the
    newest extra is of this series."""
    job_id = spec.job_id or job_id_for(params.seed, spec.job_name)
    cap = None
    if params.traces_per_day is not None:
        cap = params.summarizer_cap or SUMMARIZER_CAP.get(spec.level, SUMMARIZER_CAP["trace"])
    sim = SeriesSimulator(
        seed=params.seed,
        level=spec.level,
        job_id=job_id,
        job_name=spec.job_name,
        team_id=params.team_id,
        topics=spec.topics,
        items_per_run=params.items_per_run,
        items_per_day=params.traces_per_day or params.items_per_day,
        anchor=floor_day(params.now.astimezone(UTC)),
        change_start=params.change_start,
        summarizer_cap=cap,
        misplaced=MISPLACED_P if params.misplaced is None else params.misplaced,
        latency_by_tokens=params.latency_by_tokens,
    )
    plan: list[tuple[datetime, Plant]] = [
        (end, planted.get((spec.job_name, i), Plant(Change.NONE)))
        for i, end in enumerate(sim.schedule(params.now, params.runs))
    ]
    for extra in params.extras:
        if extra.job_name == spec.job_name:
            plan.append((sim.next_window_end(plan[-1][0], extra.now), as_plant(extra.change)))
    steps = {
        index: sim.plant(index, plant, plan[index - 1][0], end)
        for index, (end, plant) in enumerate(plan)
        if plant.kind is not Change.NONE and index > 0
    }
    created = _drf_time(plan[0][0] - timedelta(days=9, hours=3))
    world.jobs.append(
        {
            "id": job_id,
            "name": spec.job_name,
            "analysis_level": spec.level,
            "event_filters": [],
            "enabled": True,
            "created_at": created,
            "updated_at": created,
        }
    )
    newest_extra = bool(params.extras) and params.extras[-1].job_name == spec.job_name
    added: list[dict[str, Any]] = []
    series_runs: list[RunTruth] = []
    evented: set[str] = set()  # items whose events were emitted while no run had sampled them
    for index, (window_end, plant) in enumerate(plan):
        if index < params.runs:
            mode = _metrics_mode(params.embedded_metrics, index, params.runs)
        else:  # emitted later: a current PostHog, so metrics are there unless switched off
            mode = "present" if params.embedded_metrics == "mixed" else params.embedded_metrics
        result = sim.run(window_end)
        run_event = _run_event(sim, result, mode, params.clusters_as_string)
        run_events: list[dict[str, Any]] = []
        for item, draw, nums, ev in result.first_seen:
            world.item_values[item.item_id] = _values(item)
            world.items[item.item_id] = item
            if cap is not None:
                world.summarized[item.item_id] = item
            if params.events and item.item_id not in evented:  # not already as unsampled
                topic = sim.traffic.topics[item.topic]
                run_events.extend(sim.builder.events(item, draw, topic, nums, ev))
        for item in result.unsampled:
            world.summarized.setdefault(item.item_id, item)
        for item, draw, nums, ev in result.unsampled_new:  # PostHog has every trace's events
            if params.events:
                evented.add(item.item_id)
                run_events.extend(sim.builder.events(item, draw, sim.traffic.topics[item.topic],
                                                     nums, ev))  # fmt: skip
        run_events.append(run_event)
        world.events.extend(run_events)
        if newest_extra and index == len(plan) - 1:
            added = run_events
        series_runs.append(
            RunTruth(
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
                change=plant.kind if index in steps else Change.NONE,
                embedded_metrics=mode,
                event=run_event,
                candidates=result.pool,
                scale=plant.scale,
                unsampled=tuple(item.item_id for item in result.unsampled),
                traffic=result.traffic,
            )
        )
    world.runs.extend(series_runs)
    for index, step in steps.items():
        run, previous = series_runs[index], series_runs[index - 1]
        world.planted.append(
            PlantedTruth(
                kind=step.kind,
                job_name=spec.job_name,
                run_id=run.run_id,
                previous_run_id=previous.run_id,
                topic=step.topic,
                cluster_id=run.cluster_of_topic(step.topic),
                previous_cluster_id=previous.cluster_of_topic(step.topic),
                scale=step.scale,
                cause=step.cause.value,
                start=datetime.fromtimestamp(step.start, UTC),
                clusters={r.run_id: r.cluster_of_topic(step.topic) for r in series_runs},
            )
        )
    return added


def _values(item: Item) -> dict[str, float | int]:
    """What PostHog's per-item metrics query returns for `item` (data.py: fetch_item_metrics)."""
    m = item.metrics
    tokens_in, tokens_out = m.input_tokens or 0, m.output_tokens or 0
    return {
        "cost": m.cost or 0.0,
        "latency": m.latency or 0.0,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "tokens": tokens_in + tokens_out,
        "error_count": m.error_count,
    }


def _drf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _run_event(
    sim: SeriesSimulator, result: RunResult, mode: str, as_string: bool
) -> dict[str, Any]:
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
        "uuid": uuid4_from(sim.rng.getrandbits(128)),
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
    planted: Mapping[tuple[str, int], Change | Plant] | None = None,
    embedded_metrics: str = "present",
    clusters_as_string: bool = False,
    items_per_day: float = ITEMS_PER_DAY,
    change_start: tuple[float, float] = (0.0, 0.5),
    events: bool = True,
    traces_per_day: float | None = None,
    summarizer_cap: int | None = None,
    misplaced: float | None = None,
    latency_by_tokens: bool = False,
) -> World:
    """Simulate `runs` daily clustering runs per series, ending at `now` (see module doc).

    `planted` maps `(job_name, run_index)` to a `Change` (full size) or a `Plant(kind, scale)`.
    `events=False` skips the per-item `$ai_*` events (the run events are still built), for
    callers that read `World.item_values` and `RunTruth.event` directly.

    `traces_per_day` (traffic a day per series; None: the old model, `items_per_day`
    candidates a day and no summarizer) turns on PostHog's hourly summarizer, which keeps
    `summarizer_cap` items an hour (None: 15 traces, 20 generations). `misplaced` is the
    fraction of items clustering puts where they do not belong (None: about 3%).
    `latency_by_tokens`: latency grows with each generation's output tokens (module doc)."""
    if runs < 1 or items_per_run < 20:
        raise ValueError("need at least 1 run of at least 20 items")
    if items_per_day <= 0:
        raise ValueError("items_per_day must be positive")
    params = Params(
        seed=seed,
        series=tuple(series),
        runs=runs,
        items_per_run=items_per_run,
        now=now,
        team_id=team_id,
        planted=tuple(sorted((key, as_plant(c)) for key, c in (planted or {}).items())),
        embedded_metrics=embedded_metrics,
        clusters_as_string=clusters_as_string,
        items_per_day=items_per_day,
        change_start=change_start,
        events=events,
        traces_per_day=traces_per_day,
        summarizer_cap=summarizer_cap,
        misplaced=misplaced,
        latency_by_tokens=latency_by_tokens,
    )
    return _build(params)


def emit_next_run(
    world: World, *, job_name: str, change: Change | Plant = Change.NONE, now: datetime
) -> World:
    """The same world plus one more run of `job_name` (its window ends at the latest daily slot
    before `now`, or at `now - 15 min` when today's slot is taken). `added_events` holds the new
    events to insert; every older event is unchanged."""
    if job_name not in {spec.job_name for spec in world.params.series}:
        raise ValueError(f"unknown job {job_name!r}")
    extra = Extra(job_name=job_name, change=change, now=now)
    return _build(replace(world.params, extras=(*world.params.extras, extra)))


def emit_next_runs(world: World, *, job_names: list[str], now: datetime) -> World:
    """`emit_next_run` (no change) for each of `job_names` in turn, built once: the world the
    chained calls give (its `added_events` are the last run's; `new_events` gives them all)."""
    known = {spec.job_name for spec in world.params.series}
    for job_name in job_names:
        if job_name not in known:
            raise ValueError(f"unknown job {job_name!r}")
    extras = tuple(Extra(job_name=name, change=Change.NONE, now=now) for name in job_names)
    return _build(replace(world.params, extras=(*world.params.extras, *extras)))


def new_events(old: World, new: World) -> list[dict[str, Any]]:
    """Events in `new` that `old` does not have (by uuid)."""
    seen = {event["uuid"] for event in old.events}
    return [event for event in new.events if event["uuid"] not in seen]
