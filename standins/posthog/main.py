"""Run the sandbox PostHog on a persistent chdb database, with demo traffic.

    python -m standins.posthog.main [--db PATH] [--port 8010] [--seed 1] [--fresh]

Loads 2 trace series + 1 generation series (6 runs of 300 items each, a few planted changes)
when the database is empty or `--fresh` is given, prints how to reach it and serves until
Ctrl-C / SIGTERM. The chdb session is closed on the way out, so no lock file is left behind.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from types import FrameType

from standins.posthog.server import LocalPostHog
from standins.traffic.generator import Change, SeriesSpec, World, generate

DEMO_SERIES = [
    SeriesSpec(level="trace", job_name="Default - traces", topics=6),
    SeriesSpec(level="trace", job_name="Support assistant traces", topics=5),
    SeriesSpec(level="generation", job_name="Default - generations", topics=6),
]
DEMO_PLANTED = {
    ("Default - traces", 4): Change.COST_SPIKE,
    ("Default - traces", 5): Change.NEW_CLUSTER,
    ("Support assistant traces", 5): Change.ERROR_HEAVY,
    ("Default - generations", 3): Change.VANISHED_CLUSTER,
    ("Default - generations", 5): Change.SIZE_SHIFT,
}


def demo_world(seed: int, now: datetime, *, runs: int = 6, items: int = 300) -> World:
    planted = {key: change for key, change in DEMO_PLANTED.items() if key[1] < runs}
    return generate(
        seed=seed,
        series=DEMO_SERIES,
        runs=runs,
        items_per_run=items,
        now=now,
        planted=planted,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m standins.posthog.main", description=__doc__)
    parser.add_argument("--db", default=".sandbox/posthog", help="chdb data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--project-id", type=int, default=1)
    parser.add_argument("--api-key", default="phx_sandbox")
    parser.add_argument("--timezone", default="Europe/Berlin", help="the project's timezone")
    parser.add_argument("--runs", type=int, default=6, help="runs per series")
    parser.add_argument("--items", type=int, default=300, help="items per run")
    parser.add_argument("--fresh", action="store_true", help="wipe the database and reload")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = LocalPostHog(
        project_id=args.project_id,
        api_key=args.api_key,
        db_path=args.db,
        host=args.host,
        port=args.port,
        timezone=args.timezone,
    ).start()
    try:
        if args.fresh:
            server.reset()
        existing = server.event_count()
        if existing == 0:
            started = time.monotonic()
            world = demo_world(args.seed, datetime.now(UTC), runs=args.runs, items=args.items)
            server.insert_events(world.events)
            server.set_jobs(world.jobs)
            took = time.monotonic() - started
            print(f"Loaded {len(world.events)} events, {len(world.runs)} runs in {took:.1f}s.")
            for truth in world.planted:
                print(
                    f"  planted {truth.kind.value:<16} {truth.job_name}: {truth.topic} "
                    f"in {truth.run_id}"
                )
        else:
            print(f"Database already holds {existing} events; not reloading (use --fresh).")
        query = {
            "query": {
                "kind": "HogQLQuery",
                "query": "SELECT properties.$ai_clustering_run_id AS run_id, timestamp "
                "FROM events WHERE event = {event} ORDER BY timestamp DESC LIMIT 5",
                "values": {"event": "$ai_trace_clusters"},
            }
        }
        curl = (
            f"curl -s -X POST {server.url}/api/projects/{args.project_id}/query/ "
            f"-H 'Authorization: Bearer {args.api_key}' -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(query))}"
        )
        print(f"URL: {server.url}")
        print(f"Project id: {args.project_id}")
        print(f"API key: {args.api_key}")
        print(f"Database: {args.db}")
        print(f"Example:\n  {curl}")
        print("Serving; Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
