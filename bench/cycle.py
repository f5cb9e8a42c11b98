"""One alert cycle, bot against reference, on the same data in the same run.

The stand-ins (local PostHog on chdb, fake Slack) live in this process. Every measured cycle
runs in a child process of its own (`bench.worker`) that only talks HTTP to them, so its wall
time and peak RSS are the bot's (or the reference's) alone.

The state measured is the steady one: both have seen every earlier run, then one new run per
series arrives (a planted change in each: cost spike, new cluster, error-heavy, size shift or
vanished cluster, in turn), and one cycle handles all of them. Before every repetition the
bot's database and the reference's list of seen runs are restored to that state.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Backend, Measured, make_world, median, run_worker

CHUNK = 10  # series generated (and held in memory) at a time


@dataclass
class CycleResult:
    series: int
    items: int
    metrics: str  # how runs carry metrics: "present" (embedded) or "absent" (older PostHog)
    first_sight: Measured | None = None  # the bot's very first cycle, on an empty database
    bot: list[Measured] = field(default_factory=list)
    bot_no_charts: list[Measured] = field(default_factory=list)  # the same, CHARTS=off
    reference: list[Measured] = field(default_factory=list)
    bot_idle: Measured | None = None
    reference_idle: Measured | None = None
    profile: list[str] = field(default_factory=list)
    profile_wall: float = 0.0
    profile_charts: float = 0.0  # of which in bot/services/charts.py post_for_alert
    runs_per_cycle: int = 0
    load_seconds: float = 0.0

    def wall(self, who: str) -> float:
        return median([m.wall for m in self._of(who)])

    def peak_mb(self, who: str) -> float:
        return max((m.peak_rss_kb for m in self._of(who)), default=0) / 1024

    def baseline_mb(self, who: str) -> float:
        return median([m.rss_before_kb for m in self._of(who)]) / 1024

    def queries(self, who: str) -> int:
        counts = {m.server_queries for m in self._of(who)}
        return max(counts) if counts else 0

    def posts(self, who: str) -> int:
        return max((m.posts for m in self._of(who)), default=0)

    def uploads(self, who: str) -> int:
        return max((m.uploads for m in self._of(who)), default=0)

    def _of(self, who: str) -> list[Measured]:
        return {"bot": self.bot, "no_charts": self.bot_no_charts}.get(who, self.reference)


def prepare(
    backend: Backend, series: int, items: int, metrics: str
) -> tuple[list[dict[str, Any]], list[str], int]:
    """Load every run but the newest of each series; return the newest runs' events, the ids
    of the runs already there, and how many new runs are held back."""
    newest: list[dict[str, Any]] = []
    history_ids: list[str] = []
    held_back = 0
    for start in range(0, series, CHUNK):
        count = min(CHUNK, series - start)
        world = make_world(count, items, seed=7 + start, metrics=metrics, prefix=f"job {start:03d}")
        backend.load(world.history)
        backend.posthog.set_jobs(backend.posthog.store.jobs() + world.world.jobs)
        newest += world.newest
        held_back += len(world.newest)
        newest_ids = {e["properties"]["$ai_clustering_run_id"] for e in world.newest}
        history_ids += [r.run_id for r in world.world.runs if r.run_id not in newest_ids]
    return newest, history_ids, held_back


def measure_cycle(
    series: int,
    items: int,
    *,
    metrics: str = "present",
    bot_reps: int = 3,
    no_charts_reps: int = 0,
    reference_reps: int = 1,
    idle: bool = True,
    profile: bool = False,
) -> CycleResult:
    result = CycleResult(series=series, items=items, metrics=metrics)
    with Backend() as backend:
        started = time.perf_counter()
        newest, history_ids, held_back = prepare(backend, series, items, metrics)
        result.load_seconds = time.perf_counter() - started
        result.runs_per_cycle = held_back
        # The bot's first cycle on an empty database: it compares each series' newest run with
        # the one before it, once (installing the bot never replays history).
        result.first_sight = run_worker(backend, backend.config("bot", "bot"))
        backend.snapshot("bot", "warm")
        # The reference has seen the same runs (its state is just their ids).
        Path(backend.config("reference", "ref")["seen_path"]).write_text(json.dumps(history_ids))
        backend.snapshot("ref", "warm")
        backend.load(newest)  # the new runs arrive
        for _ in range(bot_reps):
            backend.restore("bot", "warm")
            result.bot.append(run_worker(backend, backend.config("bot", "bot")))
        for _ in range(no_charts_reps):
            backend.restore("bot", "warm")
            config = backend.config("bot", "bot", charts=False)
            result.bot_no_charts.append(run_worker(backend, config))
        for _ in range(reference_reps):
            backend.restore("ref", "warm")
            result.reference.append(run_worker(backend, backend.config("reference", "ref")))
        if profile:
            backend.restore("bot", "warm")
            profiled = run_worker(backend, backend.config("bot", "bot", profile=True))
            result.profile = list(profiled.result.get("profile") or [])
            result.profile_wall = profiled.wall
            result.profile_charts = float(profiled.result.get("charts_seconds") or 0.0)
        if idle:  # both are now up to date: the next poll finds nothing new
            result.bot_idle = run_worker(backend, backend.config("bot", "bot"))
            result.reference_idle = run_worker(backend, backend.config("reference", "ref"))
    return result


@dataclass(frozen=True)
class FirstSight:
    """The bot's first cycle on an empty database over a world of `series` series."""

    series: int
    items: int
    metrics: str
    measured: Measured

    @property
    def queries(self) -> int:
        return self.measured.server_queries


def measure_first_sight(series: int, items: int, *, metrics: str = "present") -> FirstSight:
    """Only the first cycle after install (each series' newest run against the one before it),
    on a world as large as a project can have (PostHog allows 10 jobs; x 3 levels is 30)."""
    with Backend() as backend:
        prepare(backend, series, items, metrics)
        measured = run_worker(backend, backend.config("bot", "bot"))
    return FirstSight(series, items, metrics, measured)
