"""Alert quality across settings: does the bot alert each kind of change, soon, and stay quiet
on the rest, at every traffic volume, sample size, misplacement rate and cluster count?

The worlds come from the sandbox generator as PostHog produces its data: traffic of
`traces_per_day` a day, PostHog's hourly summarizer keeping the newest 15 traces of each hour,
runs sampling at most `items` of their 7-day window's summarized items, `misplaced` items put in
noise or a neighbouring cluster, heavy-tailed costs, reshuffled ids, paraphrased titles. One
change is planted per series, in run `PLANTED_AT`, starting at a uniformly random moment of the
day before it (so often late in the day). The generator knows nothing of the bot's thresholds.

Each series goes through the bot's own pure path, as one channel with default thresholds sees
it: `diff_runs` -> `slice_run` -> `detect` (or `detect_run_to_run`) -> `advance`. A run whose
detection raises is counted as failed and skipped; the sweep never stops on it.

Per setting and kind of change:

- *first run*: alerted (with an alert kind that tells a user of it) on the first run that
  contains it, i.e. whose sample holds items newer than the change's start (for new traffic:
  the first such run where the new topic is a cluster of its own);
- *within two runs*: on that run or the next;
- both out of the changes whose topic is a cluster where it can first be alerted (a topic too
  small to be a cluster cannot be alerted on by any detector; those are counted apart);

and per setting: false alerts per run (an alert on a topic that did not change, or on the
changed topic before its change; each (run, cluster) once), and failed runs. "Stable clusters
alerted because others moved": the share alerts (`SHARES`) on stable clusters in runs at or after
a traffic change (a surge, a stop, new traffic), held against the same alerts in runs at or
after a change that moves no traffic (cost, latency, errors): a stable cluster's share
sometimes draws far off by chance, and only an excess after a move is caused by it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.oracle import finds
from bench.quality import _topic
from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect
from bot.domain.lifecycle import Episode, advance
from bot.domain.models import ClusterItem
from bot.domain.rules import detect_run_to_run
from bot.domain.slices import RunSlices, slice_run
from bot.domain.thresholds import Thresholds
from standins.traffic.demo_check import EXPECTED, as_loaded
from standins.traffic.generator import Cause, Change, Plant, RunTruth, SeriesSpec, World, generate

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
RUNS = 6
PLANTED_AT = 3
JOB = "Sweep"
SEED0 = 3000  # series (setting, kind k, seed n) uses seed SEED0 + 100·k + n: the same world
# under every setting, an independent one for every kind
CHANGE_START = (0.0, 1.0)  # anywhere in the day before the planted run
SHARES = frozenset(
    {
        AlertKind.SIZE_SHIFT,
        AlertKind.TRAFFIC_STOPPED,
        AlertKind.NEW_CLUSTER,
        AlertKind.VANISHED_CLUSTER,
    }
)
"""The alerts a stable cluster could get because others moved: its share or its presence."""


@dataclass(frozen=True)
class Setting:
    name: str
    traces_per_day: float = 700.0
    items: int = 1500
    misplaced: float = 0.08
    topics: int = 12
    latency_by_tokens: bool = False  # a generation's latency follows its output tokens


SETTINGS: tuple[Setting, ...] = (
    Setting("default"),
    Setting("200 traces/day", traces_per_day=200.0),
    Setting("2,000 traces/day", traces_per_day=2000.0),
    Setting("500 items/run", items=500),
    Setting("1,000 items/run", items=1000),
    Setting("0 % misplaced", misplaced=0.0),
    Setting("15 % misplaced", misplaced=0.15),
    Setting("5 topics", topics=5),
    Setting("15 topics", topics=15),
    Setting("30 topics", topics=30),
    Setting("latency by tokens", latency_by_tokens=True),
    Setting("hard corner", traces_per_day=400.0, items=1000, misplaced=0.12),
)


@dataclass(frozen=True)
class Kind:
    label: str
    plant: Plant
    moves_traffic: bool = False  # moves the other clusters' shares too

    @property
    def expected(self) -> set[AlertKind]:
        return EXPECTED[self.plant.kind]


KINDS: tuple[Kind, ...] = (
    Kind("cost by price", Plant(Change.COST_SPIKE, cause=Cause.MODEL_SWITCH)),
    Kind("cost by prompt bloat", Plant(Change.COST_SPIKE, cause=Cause.PROMPT_BLOAT)),
    Kind("latency", Plant(Change.LATENCY_SPIKE)),
    Kind("errors", Plant(Change.ERROR_HEAVY)),
    Kind("traffic up", Plant(Change.SIZE_SHIFT), moves_traffic=True),
    Kind("traffic stopped", Plant(Change.VANISHED_CLUSTER), moves_traffic=True),
    Kind("new traffic", Plant(Change.NEW_CLUSTER), moves_traffic=True),
)


@dataclass
class Outcome:
    """One series: one setting, one kind of change, one seed."""

    setting: str
    kind: str
    seed: int
    visible: bool = False  # the changed topic is a cluster where it can first be alerted
    first: bool = False
    within_two: bool = False
    oracle_first: bool = False  # what the sample allows (bench/oracle.py)
    oracle_two: bool = False
    scan_first: bool = False  # the same without knowing when the change began
    scan_two: bool = False
    runs: int = 0
    failed: int = 0
    false_alerts: int = 0
    moved_alerts: int = 0  # share alerts on stable clusters at or after a traffic change
    share_alerts: int = 0  # share alerts on stable clusters at or after the change, any kind
    runs_after: int = 0  # runs at or after the change
    clusters: float = 0.0  # per run, noise apart
    cpu: float = 0.0  # CPU seconds of this series (generation and detection)
    examples: list[str] = field(default_factory=list)


def world_for(setting: Setting, kind: Kind, seed: int) -> World:
    return generate(
        seed=SEED0 + 100 * KINDS.index(kind) + seed,
        series=[SeriesSpec(level="trace", job_name=JOB, topics=setting.topics)],
        runs=RUNS,
        items_per_run=setting.items,
        now=NOW,
        planted={(JOB, PLANTED_AT): kind.plant},
        change_start=CHANGE_START,
        traces_per_day=setting.traces_per_day,
        misplaced=setting.misplaced,
        events=False,
        latency_by_tokens=setting.latency_by_tokens,
    )


def first_run(world: World, kind: Kind) -> int:
    """The first run that contains the change: its sample holds items newer than the change's
    start (and for new traffic, the new topic is a cluster there). `RUNS` when none does."""
    planted = world.planted[0]
    assert planted.start is not None
    truths = world.runs_of(JOB)
    for index in range(PLANTED_AT, len(truths)):
        truth = truths[index]
        newer = any(world.items[i].timestamp >= planted.start for i in truth.item_ids)
        if not newer:
            continue
        if kind.plant.kind is Change.NEW_CLUSTER and truth.cluster_of_topic(planted.topic) is None:
            continue
        return index
    return len(truths)


def _visible(kind: Kind, topic: str, truths: list[RunTruth], first: int) -> bool:
    if first >= len(truths):
        return False
    if kind.plant.kind is Change.VANISHED_CLUSTER:  # there was a cluster to stop
        return truths[first - 1].cluster_of_topic(topic) is not None
    return truths[first].cluster_of_topic(topic) is not None


def run_one(
    setting: Setting,
    kind: Kind,
    seed: int,
    thresholds: Thresholds,
    *,
    world: World | None = None,
    enlarge: Callable[[int, RunSlices], RunSlices] | None = None,
) -> Outcome:
    """Generate one series (or take `world`) and follow it through the bot's pure path (module
    doc); `enlarge(run index, slices)` may add assigned items to each run's slices
    (`bench/assigned.py`)."""
    outcome = Outcome(setting.name, kind.label, seed)
    world = world or world_for(setting, kind, seed)
    truths = world.runs_of(JOB)
    runs = [as_loaded(t.event, world.item_values) for t in truths]
    topic = world.planted[0].topic
    first = first_run(world, kind)
    outcome.visible = _visible(kind, topic, truths, first)
    outcome.clusters = sum(len(t.sizes) - (-1 in t.sizes) for t in truths) / len(truths)
    episodes: list[Episode] = []
    hits: set[int] = set()
    false_keys: set[tuple[int, Any]] = set()
    share_keys: set[tuple[int, Any]] = set()
    tests_at: dict[int, int] = {}
    slices_at: dict[int, RunSlices] = {}  # for the scanning oracle's looks
    assigned_at: dict[int, dict[int, tuple[ClusterItem, ...]]] = {}  # for both oracles
    for index in range(1, len(runs)):
        outcome.runs += 1
        outcome.runs_after += index >= first
        try:
            diff = diff_runs(runs[index - 1], runs[index])
            slices = slice_run(diff)
            if enlarge is not None and slices.usable:
                slices = enlarge(index, slices)
                assigned_at[index] = {c: cs.assigned for c, cs in slices.clusters.items()}
            detection = (
                detect(slices, thresholds) if slices.usable else detect_run_to_run(diff, thresholds)
            )
            step = advance(episodes, detection, diff, thresholds, f"run:{runs[index].run_id}")
        except Exception as exc:  # a failed run is counted, never fatal
            outcome.failed += 1
            if len(outcome.examples) < 3:
                outcome.examples.append(
                    f"{setting.name}, {kind.label}, seed {seed}, run {index} failed: "
                    f"{type(exc).__name__}: {exc}"
                )
            continue
        episodes = step.open
        tests_at[index] = detection.tests
        slices_at[index] = slices
        for alert in step.fired:
            alert_topic = _topic(alert, truths[index], truths[index - 1])
            key = (index, alert.cluster_id if alert.cluster_id is not None else (
                "previous", alert.previous_cluster_id))  # fmt: skip
            if alert_topic == topic and index >= first:
                if alert.kind in kind.expected:
                    hits.add(index)
                continue
            if key in false_keys:
                continue
            false_keys.add(key)
            if index >= first and alert_topic not in (topic, "outliers") and alert.kind in SHARES:
                share_keys.add(key)
            if len(outcome.examples) < 3:
                outcome.examples.append(
                    f"{setting.name}, {kind.label}, seed {seed}, run {index}: {alert.kind} on "
                    f"{alert_topic} ({_num(alert.before)} -> {_num(alert.after)}, "
                    f"p={_num(alert.p_value)}; changed: {topic})"
                )
    outcome.false_alerts = len(false_keys)
    outcome.share_alerts = len(share_keys)
    outcome.moved_alerts = outcome.share_alerts if kind.moves_traffic else 0
    outcome.first = outcome.visible and first in hits
    outcome.within_two = outcome.visible and bool(hits & {first, first + 1})
    q = thresholds.false_discovery_pct / 100
    found = [
        finds(world, runs, i, tests_at.get(i, 0), q, assigned=assigned_at.get(i))
        for i in (first, first + 1)
    ]
    outcome.oracle_first = outcome.visible and found[0]
    outcome.oracle_two = outcome.visible and any(found)
    scanned = [
        i in slices_at
        and finds(world, runs, i, tests_at[i], q, scan=slices_at[i], assigned=assigned_at.get(i))
        for i in (first, first + 1)
    ]
    outcome.scan_first = outcome.visible and scanned[0]
    outcome.scan_two = outcome.visible and any(scanned)
    return outcome


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _task(args: tuple[int, int, int]) -> Outcome:
    setting, kind, seed = args
    started = time.process_time()
    outcome = run_one(SETTINGS[setting], KINDS[kind], seed, Thresholds())
    outcome.cpu = time.process_time() - started
    return outcome


class _Inline:
    """A one-process stand-in for `multiprocessing.Pool`."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap_unordered(
        self, function: Callable[[tuple[int, int, int]], Outcome], tasks: list[Any], chunksize: int
    ) -> Iterator[Outcome]:
        return map(function, tasks)


@dataclass
class Sweep:
    seeds: int
    outcomes: list[Outcome]
    seconds: float
    processes: int
    settings: tuple[Setting, ...] = SETTINGS
    load: float = 0.0  # the machine's load average when the sweep started

    def of(self, setting: str, kind: str | None = None) -> list[Outcome]:
        return [
            o for o in self.outcomes if o.setting == setting and (kind is None or o.kind == kind)
        ]


def measure_sweep(
    seeds: int = 20,
    *,
    processes: int = 2,
    settings: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Sweep:
    """Every (setting, kind, seed) of the sweep, over `processes` worker processes (1: in this
    process). `settings` and `kinds` restrict it to those names (labels). Seed by seed, so that
    a sweep stopped early (`on_outcome` sees each outcome as it comes) has about as many seeds
    of every setting and kind."""
    chosen = [i for i, s in enumerate(SETTINGS) if settings is None or s.name in settings]
    unknown = set(settings or ()) - {s.name for s in SETTINGS}
    unknown |= set(kinds or ()) - {k.label for k in KINDS}
    if unknown:
        raise ValueError(f"unknown settings or kinds: {sorted(unknown)}")
    which = [k for k, kind in enumerate(KINDS) if kinds is None or kind.label in kinds]
    tasks = [(s, k, seed) for seed in range(seeds) for s in chosen for k in which]
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    outcomes: list[Outcome] = []
    with (
        multiprocessing.get_context("spawn").Pool(processes) if processes > 1 else _Inline() as pool
    ):
        for outcome in pool.imap_unordered(_task, tasks, chunksize=1):
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    order = {(s, k, seed): n for n, (s, k, seed) in enumerate(tasks)}
    names = {s.name: i for i, s in enumerate(SETTINGS)}
    labels = {k.label: i for i, k in enumerate(KINDS)}
    outcomes.sort(key=lambda o: order[(names[o.setting], labels[o.kind], o.seed)])
    return Sweep(
        seeds=seeds,
        outcomes=outcomes,
        seconds=time.perf_counter() - started,
        processes=processes,
        settings=tuple(SETTINGS[i] for i in chosen),
        load=load,
    )
