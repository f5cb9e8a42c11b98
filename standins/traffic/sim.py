"""One clustering job's runs: daily traffic, planted steps, the hourly summarizer (when asked
for), uniform sampling of each 7-day window, topic → cluster assignment (outliers, misplaced
items, folding of small groups), labels, coordinates, ranks and PostHog's per-cluster aggregate
metrics (`standins.traffic.metrics`)."""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.traffic.evals import EvalNumbers, evaluation_numbers
from standins.traffic.events import EventBuilder, Item, make_item
from standins.traffic.metrics import aggregate_metrics
from standins.traffic.summarizer import Summarizer, bucket_of, summarized_at
from standins.traffic.topics import CATALOG, NOISE_DESCRIPTION, NOISE_TITLE, Topic
from standins.traffic.topics_more import WIDE_CATALOG
from standins.traffic.traffic import (
    NEW_TOPIC_SHARE,
    Change,
    Draw,
    Effect,
    Effects,
    Numbers,
    Plant,
    Step,
    StreamKey,
    Traffic,
    days_between,
    kept,
    layers_needed,
    numbers,
)

NOISE_ID = -1
MISPLACED_P = 0.03  # items HDBSCAN puts in noise (half) or in a neighbouring topic's cluster
MIN_CLUSTER_FRACTION = 0.02  # HDBSCAN min_cluster_size_fraction
MIN_CLUSTER_SIZE = 5  # HDBSCAN min_samples
EMPTY_TIMESTAMP_P = 0.02
WINDOW = timedelta(days=7)
SCHEDULE_OFFSET = {
    "trace": timedelta(minutes=15),
    "generation": timedelta(minutes=45),
    "evaluation": timedelta(hours=6),
}
EMIT_DELAY = timedelta(minutes=14)


@dataclass
class RunResult:
    run_id: str
    window_start: datetime
    window_end: datetime
    total_items: int
    pool: int  # candidates in the window
    clusters: list[dict[str, Any]]  # cluster objects, metrics included
    metrics: dict[int, dict[str, Any]]
    topic_of_cluster: dict[int, str]
    first_seen: list[tuple[Item, Draw, Numbers, EvalNumbers | None]]  # new to this series
    unsampled: list[Item] = field(default_factory=list)  # summarized in the window, not sampled
    # The unsampled items built for the first time in this run, with what their events need:
    # PostHog holds the events of every trace, sampled or not.
    unsampled_new: list[tuple[Item, Draw, Numbers, EvalNumbers | None]] = field(
        default_factory=list
    )
    traffic: int = 0  # items of traffic behind the window's candidates


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def gausses(rng: random.Random, count: int, mu: float, sigma: float) -> list[float]:
    """`[rng.gauss(mu, sigma) for _ in range(count)]`: the same numbers, and `rng` left as those
    calls leave it (`Random.gauss` makes them in pairs and keeps the second in `gauss_next`),
    without a method call each (clusters draw three per member)."""
    random_ = rng.random
    pending = rng.gauss_next  # type: ignore[attr-defined]  # (not in the stubs)
    found = []
    for _ in range(count):
        if pending is None:
            x2pi = random_() * TWO_PI
            g2rad = math.sqrt(-2.0 * math.log(1.0 - random_()))
            z = math.cos(x2pi) * g2rad
            pending = math.sin(x2pi) * g2rad
        else:
            z, pending = pending, None
        found.append(mu + z * sigma)
    rng.gauss_next = pending  # type: ignore[attr-defined]
    return found


TWO_PI = 2.0 * math.pi
ItemValues = tuple[Item, Numbers, EvalNumbers | None]


@dataclass
class SeriesMemo:
    """What every simulation of one series (seed, job, level, anchor) computes alike, kept for
    the next one: its days of traffic, and each item's values under the effect in force at its
    moment (keyed by the draw's trace bits and moment, which tell apart the draws of streams of
    two rates, the effect, whether a summarizer dates it, and the latency model). Worlds of one
    series differ only in planted changes, run count or sample size (a change and its control,
    the sandbox's world before and after a run is emitted), so they share most of it."""

    streams: dict[StreamKey, list[Draw]] = field(default_factory=dict)
    values: dict[tuple[int, float, Effect, bool, bool], ItemValues] = field(default_factory=dict)
    stamps: dict[datetime, str] = field(
        default_factory=dict
    )  # items' timestamps, as runs show them


# Series kept, most recently used last. A series of 9 daily runs of 1,500 items holds about
# 7 MB; a world is rebuilt from its parameters (emit_next_run), and the bench and the tests
# generate a handful of worlds per series, so a few series are enough.
SERIES_KEPT = 12
_MEMOS: OrderedDict[tuple[str, str, datetime], SeriesMemo] = OrderedDict()
_MEMOS_LOCK = threading.Lock()


def forget_series() -> None:
    """Drop every kept series: the next simulation of each starts from nothing."""
    with _MEMOS_LOCK:
        _MEMOS.clear()


def series_memo(key: str, level: str, anchor: datetime) -> SeriesMemo:
    with _MEMOS_LOCK:
        memo = _MEMOS.pop((key, level, anchor), None) or SeriesMemo()
        _MEMOS[(key, level, anchor)] = memo
        while len(_MEMOS) > SERIES_KEPT:
            _MEMOS.popitem(last=False)
        return memo


@dataclass
class SeriesSimulator:
    seed: int
    level: str
    job_id: str
    job_name: str
    team_id: int
    topics: int
    items_per_run: int
    items_per_day: float
    anchor: datetime  # a UTC midnight: traffic is keyed by days before or after it, not by date
    change_start: tuple[float, float] = (0.0, 0.5)
    summarizer_cap: int | None = None  # None: every item of traffic is a candidate
    misplaced: float = MISPLACED_P
    latency_by_tokens: bool = False
    rates: dict[str, float] = field(default_factory=dict)  # topic → candidates per day
    reserve: list[Topic] = field(default_factory=list)
    ring: list[str] = field(default_factory=list)  # neighbouring topics sit next to each other
    effects: Effects = field(init=False)
    traffic: Traffic = field(init=False)
    builder: EventBuilder = field(init=False)
    rng: random.Random = field(init=False)  # the runs' own draws, in run order
    seen: dict[int, ItemValues] = field(default_factory=dict)
    last_title: dict[str, str] = field(default_factory=dict)
    _days: dict[datetime, list[Draw]] = field(default_factory=dict)
    _stamp: str | None = None  # every item's timestamp in the current run, if fixed
    _hours: dict[datetime, dict[int, list[Draw]]] = field(default_factory=dict)
    # summarized items no run sampled yet, with their numbers
    _built: dict[int, ItemValues] = field(default_factory=dict)
    summarizer: Summarizer | None = field(init=False, default=None)
    memo: SeriesMemo = field(init=False)

    def __post_init__(self) -> None:
        # A series with more topics than the first catalog holds draws from the wide one.
        catalog = CATALOG if self.topics < len(CATALOG) else WIDE_CATALOG
        if not 2 <= self.topics < len(catalog):
            raise ValueError(f"topics must be in 2..{len(WIDE_CATALOG) - 1}")
        if not 0.0 <= self.misplaced <= 1.0:
            raise ValueError("misplaced must be a fraction")
        key = f"{self.seed}:{self.job_name}"
        setup = random.Random(key)
        chosen = setup.sample(list(catalog), len(catalog))
        weights = {t.key: setup.lognormvariate(0.0, 0.5) for t in chosen[: self.topics]}
        total = sum(weights.values())
        self.rates = {k: self.items_per_day * w / total for k, w in weights.items()}
        base_error = {t.key: t.error_p * setup.lognormvariate(0.0, 0.25) for t in chosen}
        self.reserve = chosen[self.topics :]
        self.ring = [t.key for t in setup.sample(list(catalog), len(catalog))]
        self.effects = Effects(base_error)
        self.memo = series_memo(key, self.level, self.anchor)
        topics = {t.key: t for t in catalog}
        self.traffic = Traffic(key, self.level, topics, self.anchor, self.memo.streams)
        if self.summarizer_cap is not None:
            self.summarizer = Summarizer(self.summarizer_cap, self._traffic_between)
        self.builder = EventBuilder(
            random.Random(f"{key}:users"),
            level=self.level,
            job_id=self.job_id,
            job_name=self.job_name,
        )
        self.rng = random.Random(f"{key}:runs")

    # -- schedule -----------------------------------------------------------------------------

    def schedule(self, now: datetime, runs: int) -> list[datetime]:
        rng = random.Random(f"{self.seed}:{self.job_name}:schedule")
        offset = SCHEDULE_OFFSET.get(self.level, SCHEDULE_OFFSET["trace"])
        base = floor_day(now) + offset
        if base + EMIT_DELAY + timedelta(minutes=1) > now:
            base -= timedelta(days=1)
        ends = []
        for i in range(runs):
            jitter = timedelta(seconds=rng.randint(1, 9), microseconds=rng.randrange(10**6))
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
        slot = floor_day(latest - offset) + offset
        if slot > previous + timedelta(minutes=1) and slot + jitter <= latest:
            return slot + jitter
        if latest <= previous + timedelta(minutes=1):
            raise ValueError(f"a run of {self.job_name!r} already ended at {previous.isoformat()}")
        return latest

    # -- planted steps ------------------------------------------------------------------------

    def plant(self, index: int, plant: Plant, previous_end: datetime, end: datetime) -> Step:
        """Resolve a planted change of run `index`: a topic chosen at random and a start drawn
        uniformly in the `change_start` fraction of (previous_end, end) (default: its first
        half). It affects only traffic from that moment on."""
        rng = random.Random(f"{self.seed}:{self.job_name}:plant:{index}")
        low, high = self.change_start
        span = (end - previous_end).total_seconds()
        start = previous_end.timestamp() + rng.uniform(low, high) * span
        if plant.kind is Change.NEW_CLUSTER:
            if not self.reserve:
                raise ValueError("no unused topic left for a new cluster")
            topic = self.reserve.pop(0).key
            share = min(0.9, NEW_TOPIC_SHARE * plant.scale)
            others = sum(r * self.effects.traffic(k, start) for k, r in self.rates.items())
            self.rates[topic] = share / (1 - share) * others
        else:
            live = [k for k in self.rates if self.effects.traffic(k, start) > 0]
            if plant.untouched:
                changed = {step.topic for step in self.effects.steps}
                live = [k for k in live if k not in changed] or live
            topic = rng.choice(live)
        step = Step(plant.kind, plant.scale, topic, start, plant.cause)
        self.effects.add(step)
        return step

    # -- one run ------------------------------------------------------------------------------

    def _day(self, day: datetime) -> list[Draw]:
        found = self._days.get(day)
        if found is None:
            until = (day + timedelta(days=1)).timestamp()
            found = []
            for topic, rate in self.rates.items():
                for layer in range(layers_needed(self.effects, topic, until)):
                    found.extend(
                        kept(self.traffic.stream(day, topic, layer, rate), layer, self.effects)
                    )
            self._days[day] = found
        return found

    def window_pool(self, start: datetime, end: datetime) -> list[Draw]:
        low, high = start.timestamp(), end.timestamp()
        return [
            d for day in days_between(start, end) for d in self._day(day) if low <= d.moment < high
        ]

    def _traffic_between(self, start: float, end: float) -> list[Draw]:
        """Every item of traffic first seen in `[start, end)`, a summarizer bucket."""
        found: list[Draw] = []
        for day in days_between(
            datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        ):
            hours = self._hours.get(day)
            if hours is None:
                hours = self._hours[day] = {}
                for draw in self._day(day):
                    hours.setdefault(bucket_of(draw.moment), []).append(draw)
            found.extend(d for d in hours.get(bucket_of(start), ()) if start <= d.moment < end)
        return found

    def _summary(
        self, draw: Draw, new: list[tuple[Item, Draw, Numbers, EvalNumbers | None]]
    ) -> Item:
        """The item of a summarized draw no run has sampled (yet): built once (and then added to
        `new`, for its events), kept apart from `seen` so that a later run sampling it still
        counts it as first seen."""
        found = self.seen.get(draw.trace_bits)
        if found is not None:
            return found[0]
        built = self._built.get(draw.trace_bits)
        if built is None:
            built = self._built[draw.trace_bits] = self._values(draw)
            new.append((built[0], draw, built[1], built[2]))
        return built[0]

    def _values(self, draw: Draw) -> ItemValues:
        effect = self.effects.at(draw.topic, draw.moment)
        key = (
            draw.trace_bits,
            draw.moment,
            effect,
            self.summarizer is not None,
            self.latency_by_tokens,
        )
        found = self.memo.values.get(key)
        if found is None:
            found = self.memo.values[key] = self._compute_values(draw, effect)
        return found

    def _compute_values(self, draw: Draw, effect: Effect) -> ItemValues:
        topic = self.traffic.topics[draw.topic]
        nums = numbers(draw, topic, effect, latency_by_tokens=self.latency_by_tokens)
        ev = None
        if self.level == "evaluation":
            first = nums.generations[0]
            tokens = first.input_tokens + first.output_tokens
            ev = evaluation_numbers(draw, topic, effect, nums.erroring, tokens)
        when = summarized_at(draw.moment) if self.summarizer is not None else None
        return make_item(draw, self.level, nums, ev, when), nums, ev

    def _item(self, draw: Draw) -> tuple[Item, Numbers, EvalNumbers | None, bool]:
        """The item of a draw (its values under the steps in effect at its moment); cached, so
        `new` is True only the first time a run of this series samples it."""
        found = self.seen.get(draw.trace_bits)
        if found is not None:
            return (*found, False)
        built = self._built.pop(draw.trace_bits, None)
        item, nums, ev = built if built is not None else self._values(draw)
        self.seen[draw.trace_bits] = (item, nums, ev)
        return item, nums, ev, True

    def run(self, window_end: datetime) -> RunResult:
        rng = self.rng
        window_start = window_end - WINDOW
        if self.summarizer is None:
            pool = self.window_pool(window_start, window_end)
            traffic = len(pool)
        else:  # PostHog samples the summary events written in the window
            pool = self.summarizer.window(window_start, window_end)
            traffic = self.summarizer.traffic_in(window_start, window_end)
        sample = rng.sample(pool, min(self.items_per_run, len(pool)))
        items: list[Item] = []
        first_seen: list[tuple[Item, Draw, Numbers, EvalNumbers | None]] = []
        for draw in sample:
            item, nums, ev, new = self._item(draw)
            items.append(item)
            if new:
                first_seen.append((item, draw, nums, ev))
        unsampled: list[Item] = []
        unsampled_new: list[tuple[Item, Draw, Numbers, EvalNumbers | None]] = []
        if self.summarizer is not None:
            taken = {draw.trace_bits for draw in sample}
            unsampled = [self._summary(d, unsampled_new) for d in pool if d.trace_bits not in taken]
        run_id = f"{self.team_id}_{self.level}_{window_end:%Y%m%d_%H%M%S}" + (
            f"_{self.job_id}" if self.job_id else ""
        )
        # evaluation level: every item's timestamp is the window end (PostHog)
        self._stamp = (
            window_end.astimezone(UTC).isoformat(timespec="microseconds")
            if self.level == "evaluation"
            else None
        )
        clusters, topic_of_cluster = self._clusters(items)
        return RunResult(
            run_id=run_id,
            window_start=window_start,
            window_end=window_end,
            total_items=len(items),
            pool=len(pool),
            clusters=clusters,
            metrics={c["cluster_id"]: c["metrics"] for c in clusters},
            topic_of_cluster=topic_of_cluster,
            first_seen=first_seen,
            unsampled=unsampled,
            unsampled_new=unsampled_new,
            traffic=traffic,
        )

    def _neighbour(self, topic: str, present: set[str]) -> str | None:
        at = self.ring.index(topic)
        for step in range(1, len(self.ring)):
            other = self.ring[(at + step) % len(self.ring)]
            if other in present:
                return other
        return None

    def _clusters(self, items: list[Item]) -> tuple[list[dict[str, Any]], dict[int, str]]:
        rng = self.rng
        min_size = max(MIN_CLUSTER_SIZE, math.ceil(MIN_CLUSTER_FRACTION * len(items)))
        present = {item.topic for item in items}
        by_topic: dict[str, list[Item]] = {}
        noise: list[Item] = []
        for item in items:
            label: str | None = item.topic
            draw = rng.random()
            if item.outlier or draw < self.misplaced / 2:
                label = None
            elif draw < self.misplaced:
                label = self._neighbour(item.topic, present - {item.topic})
            (noise if label is None else by_topic.setdefault(label, [])).append(item)
        for key in sorted(by_topic):
            if len(by_topic[key]) < min_size:
                noise.extend(by_topic.pop(key))
        order = sorted(by_topic)
        rng.shuffle(order)
        topic_of_cluster = {cluster_id: key for cluster_id, key in enumerate(order)}
        clusters = [
            self._cluster(cluster_id, self.traffic.topics[key], by_topic[key])
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
        random_ = self.rng.random
        stamps = self.memo.stamps
        for rank, i in enumerate(order):
            item = members[i]
            stamp = self._stamp or stamps.get(item.timestamp)
            if stamp is None:
                stamp = stamps[item.timestamp] = item.timestamp.astimezone(UTC).isoformat(
                    timespec="microseconds"
                )
            if not self._stamp and random_() < EMPTY_TIMESTAMP_P:
                stamp = ""
            traces[item.item_id] = {
                "distance_to_centroid": distances[i],
                "rank": rank,
                "x": coords[i][0],
                "y": coords[i][1],
                "timestamp": stamp,
                "trace_id": item.trace_id,
                "generation_id": item.generation_id,
            }
        return traces

    def _cluster(self, cluster_id: int, topic: Topic, members: list[Item]) -> dict[str, Any]:
        rng = self.rng
        cx, cy = round(rng.uniform(-6, 6), 4), round(rng.uniform(-6, 6), 4)
        distances = [round(abs(g) + 0.02, 4) for g in gausses(rng, len(members), 0.35, 0.15)]
        offsets = gausses(rng, 2 * len(members), 0, 0.8)  # x, y of each member in turn
        coords = [
            (round(cx + dx, 4), round(cy + dy, 4))
            for dx, dy in zip(offsets[::2], offsets[1::2], strict=True)
        ]
        bullets = rng.sample(topic.bullets, rng.randint(2, min(4, len(topic.bullets))))
        return {
            "cluster_id": cluster_id,
            "size": len(members),
            "title": self._title(topic),
            "description": "\n".join(f"- {b}" for b in bullets),
            "traces": self._entries(members, distances, coords, descending=False),
            "centroid": [round(g, 4) for g in gausses(rng, 8, 0, 1)],
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
