"""`/clusters …` as Slack sends it: signed HTTP requests to the real Bolt app (`Stack`).

Ack latency is the time to the HTTP 200; time to reply runs until the answer lands in the fake
Slack (a `FakeSlack.subscribe` callback stamps it). Requests go one at a time (a user waiting
for each answer), then as a burst with several in flight. Load generator, bot and stand-ins share
this process and its two cores, so these numbers are pessimistic.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import delete

from bench.harness import make_world, percentile
from bench.reference import Reference
from bench.worker import profile_lines
from bot.store.schema import RunRow
from standins.slack.server import Message
from standins.slack.user import SlackUser
from standins.stack import API_KEY, PROJECT_ID, Stack

CHANNEL = "C0GENERAL"


@dataclass
class Latencies:
    ack: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    failures: int = 0

    def summary(self) -> dict[str, float]:
        return {
            "n": float(len(self.ack)),
            "ack_p50_ms": 1000 * percentile(self.ack, 50),
            "ack_p99_ms": 1000 * percentile(self.ack, 99),
            "reply_p50_ms": 1000 * percentile(self.reply, 50),
            "reply_p95_ms": 1000 * percentile(self.reply, 95),
            "failures": float(self.failures),
            "ack_max_ms": 1000 * max(self.ack, default=0.0),
            "acks_over_100ms": float(sum(1 for a in self.ack if a > 0.1)),
        }


@dataclass
class CommandResults:
    cold: dict[str, float]
    cached: dict[str, float]
    burst: dict[str, float]
    plain: dict[str, float]  # cached, sent by the plain SlackUser (a new httpx client each)
    burst_concurrency: int
    queries: list[tuple[str, int, int, int]]  # (command, bot cold, bot cached, reference)
    profile: list[str]  # cProfile of the cached answer path, in this thread


class Replies:
    """Arrival time of the first reply to each user, stamped on the fake Slack's thread."""

    def __init__(self, stack: Stack) -> None:
        self._arrived: dict[str, float] = {}
        self._done = threading.Condition()
        self._unsubscribe = stack.slack.subscribe(self._on_message)

    def _on_message(self, kind: str, message: Message) -> None:
        if kind == "posted" and message.ephemeral_for:
            with self._done:
                self._arrived.setdefault(message.ephemeral_for, time.perf_counter())
                self._done.notify_all()

    def wait(self, user: str, timeout: float = 30.0) -> float | None:
        with self._done:
            self._done.wait_for(lambda: user in self._arrived, timeout)
            return self._arrived.get(user)

    def close(self) -> None:
        self._unsubscribe()


class BenchUser(SlackUser):
    """A `SlackUser` whose signed requests share one keep-alive httpx.Client. `httpx.post`
    builds a client, SSL context included, per call: ~30 ms on this machine that would
    otherwise be counted as the bot's ack time."""

    http: httpx.Client

    def _post(self, body: str, timestamp: int | None, signature: str | None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = self._verifier.generate_signature(timestamp=ts, body=body) or ""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        }
        return self.http.post(self.events_url, content=body.encode(), headers=headers)


class Asker:
    """Sends `/clusters <text>` as a fresh user each time and times ack and reply."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.replies = Replies(stack)
        self.http = httpx.Client(timeout=30.0)
        self._next = 0
        self._lock = threading.Lock()

    def user(self, plain: bool) -> tuple[str, SlackUser]:
        with self._lock:
            self._next += 1
            user_id = f"U0B{self._next:06d}"
        if plain:  # exactly as tests drive the app: standins.slack.user.SlackUser
            return user_id, self.stack.user(user_id, f"bench{self._next}")
        user = BenchUser(
            events_url=self.stack.events_url,
            signing_secret=self.stack.signing_secret,
            fake=self.stack.slack,
            user_id=user_id,
            user_name=f"bench{self._next}",
        )
        user.http = self.http
        return user_id, user

    def ask(self, text: str, into: Latencies, *, plain: bool = False) -> None:
        user_id, user = self.user(plain)
        started = time.perf_counter()
        response = user.command(text, channel=CHANNEL)
        acked = time.perf_counter()
        arrived = self.replies.wait(user_id)
        if response.status_code != 200 or arrived is None:
            into.failures += 1
            return
        into.ack.append(acked - started)
        into.reply.append(arrived - started)


def forget_runs(stack: Stack) -> None:
    """Empty the bot's caches (stored runs, drilldown details, the in-memory run list), so the
    next answer is cold: it loads everything from PostHog again."""
    with stack.services.store.engine.begin() as connection:
        connection.execute(delete(RunRow))
    stack.services.clusters._item_details.cache_clear()
    lists = getattr(stack.services.runs, "_lists", None)  # RunRepository's short-lived list
    if isinstance(lists, dict):
        lists.clear()


def count_queries(stack: Stack, action: Callable[[], object]) -> int:
    before = len(stack.posthog.hogql_log)
    action()
    return len(stack.posthog.hogql_log) - before


def _reference(stack: Stack) -> Reference:
    return Reference(posthog_url=stack.posthog.url, project_id=PROJECT_ID, api_key=API_KEY)


def query_costs(stack: Stack, asker: Asker) -> list[tuple[str, int, int, int]]:
    """PostHog queries per command: bot with an empty cache, bot again, and the reference."""
    reference = _reference(stack)
    scratch = Latencies()
    rows = []
    reference_cost: dict[str, Callable[[], object]] = {
        "latest": reference.latest,
        "top cost": reference.top_cost,
        "compare": reference.compare_latest,
    }
    for text in ("latest", "top cost", "compare", "show 0", "runs"):
        forget_runs(stack)
        ask = functools.partial(asker.ask, text, scratch)
        cold = count_queries(stack, ask)
        cached = count_queries(stack, ask)
        ref = -1
        if text in reference_cost:
            before = reference.queries
            reference_cost[text]()
            ref = reference.queries - before
        rows.append((text, cold, cached, ref))
    reference.close()
    return rows


def run_commands(
    series: int,
    items: int,
    *,
    requests: int = 200,
    cold: int = 20,
    plain_requests: int = 20,
    burst_requests: int = 100,
) -> CommandResults:
    """Cold: `cold` requests, each after emptying the run cache. Cached: `requests` requests one
    at a time, `plain_requests` by the plain SlackUser, then `burst_requests` with 8 in
    flight."""
    with tempfile.TemporaryDirectory(prefix="clusters-bench-") as tmp:
        database = f"sqlite:///{Path(tmp) / 'bot.db'}"
        with Stack(database_url=database, min_post_interval=0.0) as stack:
            world = make_world(series, items)
            stack.posthog.insert_events(world.history + world.newest)
            stack.posthog.set_jobs(world.world.jobs)
            del world  # the load generator should not carry the world into GC pauses
            gc.collect()
            asker = Asker(stack)
            asker.ask("help", Latencies())  # warm the Bolt app and connection pools
            queries = query_costs(stack, asker)
            cold_latencies = Latencies()
            for _ in range(cold):
                forget_runs(stack)
                asker.ask("latest", cold_latencies)
            cached = Latencies()
            asker.ask("latest", Latencies())
            for _ in range(requests):
                asker.ask("latest", cached)
            plain = Latencies()
            for _ in range(plain_requests):
                asker.ask("latest", plain, plain=True)
            burst = Latencies()
            concurrency = 8
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(lambda _: asker.ask("latest", burst), range(burst_requests)))
            asker.replies.close()
            asker.http.close()
            profile = profile_answer(stack)
    return CommandResults(
        cold=cold_latencies.summary(),
        cached=cached.summary(),
        burst=burst.summary(),
        plain=plain.summary(),
        burst_concurrency=concurrency,
        queries=queries,
        profile=profile,
    )


def profile_answer(stack: Stack, repeat: int = 20) -> list[str]:
    """Where a cached `/clusters latest` answer spends its time: the listener's work (parse,
    service, render) under cProfile, without the HTTP and thread-pool hops around it."""
    from bot.commands import parse_clusters_command
    from bot.commands.handlers import Asker as Who
    from bot.listeners.answer import answer

    who = Who(channel=CHANNEL, user="U0PROFILE", text="latest")
    services = stack.services
    answer(parse_clusters_command("latest"), who, services, services.slack)  # cached now
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        answer(parse_clusters_command("latest"), who, services, services.slack)
    profiler.disable()
    return profile_lines(profiler, 16)
