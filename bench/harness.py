"""The bench's stand-ins and workers: generated worlds, a local PostHog plus a fake Slack in this
process, and measured cycles in child processes (`bench.worker`) that only talk HTTP to them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standins.posthog.server import LocalPostHog
from standins.slack.server import FakeSlack
from standins.traffic.generator import Change, SeriesSpec, World, generate

ROOT = Path(__file__).resolve().parent.parent
PROJECT_ID = 1
API_KEY = "phx_bench"
BOT_TOKEN = "xoxb-bench"
CHANNEL = "C0ALERTS"
CHANGES = (
    Change.COST_SPIKE,
    Change.NEW_CLUSTER,
    Change.ERROR_HEAVY,
    Change.SIZE_SHIFT,
    Change.VANISHED_CLUSTER,
)
RUNS = 3  # per series: two of history, and the newest one, which arrives between cycles


@dataclass
class BenchWorld:
    """A generated world split in two: everything but the newest run of each series, and the
    newest runs' `$ai_*_clusters` events (inserted later: "new runs arrived")."""

    world: World
    history: list[dict[str, Any]]
    newest: list[dict[str, Any]]
    series: int
    items: int


def make_world(
    series: int, items: int, *, seed: int = 7, metrics: str = "present", prefix: str = "job"
) -> BenchWorld:
    specs = [
        SeriesSpec(level="trace" if i % 2 == 0 else "generation", job_name=f"{prefix} {i:02d}")
        for i in range(series)
    ]
    planted = {(spec.job_name, RUNS - 1): CHANGES[i % len(CHANGES)] for i, spec in enumerate(specs)}
    world = generate(
        seed=seed,
        series=specs,
        runs=RUNS,
        items_per_run=items,
        now=datetime.now(UTC),
        planted=planted,
        embedded_metrics=metrics,
    )
    newest_ids = {w.runs_of(spec.job_name)[-1].run_id for w in (world,) for spec in specs}
    newest: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for event in world.events:
        run_id = event["properties"].get("$ai_clustering_run_id")
        (newest if run_id in newest_ids else history).append(event)
    return BenchWorld(world, history, newest, series, items)


@dataclass
class Backend:
    """The local PostHog and the fake Slack, in this process, on free loopback ports."""

    posthog: LocalPostHog = field(init=False)
    slack: FakeSlack = field(init=False)
    workdir: Path = field(init=False)

    def __enter__(self) -> Backend:
        self.workdir = Path(tempfile.mkdtemp(prefix="clusters-bench-"))
        self.posthog = LocalPostHog(project_id=PROJECT_ID, api_key=API_KEY).start()
        self.slack = FakeSlack(bot_token=BOT_TOKEN).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.slack.stop()
        self.posthog.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def load(self, events: list[dict[str, Any]], jobs: list[dict[str, Any]] | None = None) -> None:
        self.posthog.insert_events(events)
        if jobs is not None:
            self.posthog.set_jobs(jobs)

    @property
    def queries(self) -> int:
        return len(self.posthog.hogql_log)

    @property
    def posts(self) -> int:
        return len([c for c in self.slack.calls_to("chat.postMessage") if c.status == 200])

    @property
    def uploads(self) -> int:
        """Chart messages shared into threads (files.completeUploadExternal calls)."""
        calls = self.slack.calls_to("files.completeUploadExternal")
        return sum(1 for c in calls if c.status == 200)

    def config(self, kind: str, name: str, **extra: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "posthog_url": self.posthog.url,
            "project_id": PROJECT_ID,
            "api_key": API_KEY,
            "slack_api_url": self.slack.api_url,
            "slack_token": BOT_TOKEN,
            "channel": CHANNEL,
            "database_url": f"sqlite:///{self.workdir / (name + '.db')}",
            "seen_path": str(self.workdir / (name + ".seen.json")),
            **extra,
        }

    def snapshot(self, name: str, tag: str) -> None:
        """Keep a copy of a worker's state (bot database, reference's seen runs)."""
        for suffix in (".db", ".seen.json"):
            source = self.workdir / (name + suffix)
            if source.exists():
                shutil.copy(source, self.workdir / f"{name}.{tag}{suffix}")

    def restore(self, name: str, tag: str) -> None:
        for suffix in (".db", ".seen.json"):
            copy = self.workdir / f"{name}.{tag}{suffix}"
            if copy.exists():
                shutil.copy(copy, self.workdir / (name + suffix))
            for extra in ("-wal", "-shm"):
                (self.workdir / (name + suffix + extra)).unlink(missing_ok=True)


@dataclass(frozen=True)
class Measured:
    """One worker's cycle: its own report, plus what the stand-ins saw and its peak RSS."""

    result: dict[str, Any]
    server_queries: int  # HogQL queries the local PostHog received during the worker's life
    posts: int  # chat.postMessage calls Slack accepted
    uploads: int  # chart messages completed (files.completeUploadExternal)
    peak_rss_kb: int  # the worker's ru_maxrss (RUSAGE_CHILDREN in its launcher), imports included
    process_wall: float

    @property
    def wall(self) -> float:
        return float(self.result["wall"])

    @property
    def rss_before_kb(self) -> int:
        return int(self.result["rss_before_kb"])


def run_worker(backend: Backend, config: dict[str, Any], timeout: float = 300.0) -> Measured:
    """Run `bench.worker` with `config` (it forks the measured process from a small launcher)."""
    queries, posts, uploads = backend.queries, backend.posts, backend.uploads
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout, proc.kill)  # bounded: a stuck worker is killed
        watchdog.start()
        try:
            output = proc.stdout.read()
            _, status, _usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"bench worker {config['kind']} failed ({proc.returncode}):\n{tail}")
    elapsed = time.perf_counter() - started
    result = json.loads(output.decode().strip().splitlines()[-1])
    return Measured(
        result=result,
        server_queries=backend.queries - queries,
        posts=backend.posts - posts,
        uploads=backend.uploads - uploads,
        peak_rss_kb=int(result["ru_maxrss_kb"]),
        process_wall=elapsed,
    )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if not ordered:
        return 0.0
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]
