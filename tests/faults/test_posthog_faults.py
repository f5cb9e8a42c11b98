"""PostHog misbehaving: 429 with and without Retry-After, 5xx, timeouts, broken or unexpected
JSON, dropped connections, and a 5 MB run. The alert cycle rides out what is transient, defers
only the run that hit a lasting failure (it is done next cycle), and in every case each alert is
posted exactly once; a `/clusters` question gets an honest answer."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.domain.models import Level, SeriesKey
from bot.posthog.errors import PostHogError, PostHogRateLimited, PostHogSchemaError
from bot.services.alerts import RUN_ATTEMPTS
from bot.slack.escape import check_limits
from bot.wiring import build_services
from standins.posthog.faults import Fault
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import World
from tests.support.faults import (
    QUIET,
    Bot,
    assert_exactly_once,
    check_env,
    load,
    make_world,
    new_bot,
    parents,
    reset_stand_ins,
    run_check,
    running_stack,
)

PLANTED_RUNS = 3


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def stack(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    database = tmp_path_factory.mktemp("posthog-faults") / "answers.db"
    with running_stack(database_url=f"sqlite:///{database}") as running:
        load(running, world)
        yield running


@pytest.fixture(autouse=True)
def clean(stack: Stack) -> Iterator[None]:
    reset_stand_ins(stack)
    yield
    reset_stand_ins(stack)


# Trend charts are drawn from what the store holds, after the alerts are sent: no PostHog
# query, outside the exactly-once path, and each bot would wait for matplotlib when closed.
NO_CHARTS = {"charts": False}


@pytest.fixture
def bot(stack: Stack, tmp_path: Path) -> Iterator[Bot]:
    fresh = new_bot(stack, tmp_path, **NO_CHARTS)
    yield fresh
    fresh.close()


# How long the impatient bot waits for an answer to a request the local PostHog hangs.
HANG_TIMEOUT = 0.1


class Hangs:
    """The hangs planted in the local PostHog, so that the bot's client can tell, before it
    sends a request, whether it is one that will hang (the same test as the local PostHog's)."""

    def __init__(self) -> None:
        self._planted: list[tuple[Fault, str]] = []

    def expect(self, fault: Fault, *, starting_with: str = "") -> Fault:
        """`fault` hangs its next `count` queries whose HogQL starts with `starting_with`."""
        self._planted.append((fault, starting_with))
        return fault

    def will_hang(self, request: httpx.Request) -> bool:
        if "/query/" not in request.url.path:
            return False
        hogql = " ".join(json.loads(request.content)["query"]["query"].split())
        return any(f.count > 0 and hogql.startswith(start) for f, start in self._planted)


@pytest.fixture
def hangs() -> Hangs:
    return Hangs()


@pytest.fixture
def impatient_bot(stack: Stack, tmp_path: Path, hangs: Hangs) -> Iterator[Bot]:
    """A bot whose PostHog client gives up after `HANG_TIMEOUT` on a request the local PostHog
    will hang (a real timeout, raised by httpx like any other) and waits the usual 15 s for
    any other, so that no answer is cut short on a slow machine and no test waits long."""

    def impatient(request: httpx.Request) -> None:
        if hangs.will_hang(request):
            request.extensions["timeout"] = httpx.Timeout(HANG_TIMEOUT).as_dict()

    fresh = new_bot(stack, tmp_path, on_posthog_request=impatient, **NO_CHARTS)
    yield fresh
    fresh.close()


def statuses(stack: Stack) -> list[int]:
    return [r.status for r in stack.posthog.requests if "/query/" in r.path]


def pass_then(stack: Stack, passing: int) -> None:
    """Let the next `passing` queries through untouched (faults are consumed in order)."""
    stack.posthog.faults.add(200, count=passing)


def given_up(hang: Fault, at_least: int) -> int:
    """How many clients hung up on `hang`, once `at_least` have (or 30 s passed): the local
    PostHog counts a hang-up when its handler thread sees the connection close."""
    deadline = time.monotonic() + 30
    while hang.given_up < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return hang.given_up


def finish_and_check(bot: Bot) -> None:
    """Faults gone, the next cycle picks up whatever was deferred; all alerts exactly once."""
    bot.stack.posthog.faults.clear()
    bot.cycle()
    bot.exactly_once(runs=PLANTED_RUNS)


# -- transient faults: the same cycle succeeds ------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(429, 0.05), (429, None), (500, None), (502, None), (503, None)],
    ids=["429-retry-after", "429-no-retry-after", "500", "502", "503"],
)
def test_transient_errors_are_retried_within_the_cycle(
    bot: Bot, stack: Stack, status: int, retry_after: float | None
) -> None:
    stack.posthog.faults.add(status, count=2, retry_after=retry_after)
    report = bot.cycle()
    assert len(report.runs_processed) == PLANTED_RUNS
    assert statuses(stack)[:3] == [status, status, 200]
    bot.exactly_once(runs=PLANTED_RUNS)


def test_truncated_json_is_retried_as_a_broken_response(bot: Bot, stack: Stack) -> None:
    stack.posthog.faults.add(200, count=2, body=b'{"columns": ["run_id"], "results": [["1_tr')
    report = bot.cycle()
    assert len(report.runs_processed) == PLANTED_RUNS
    bot.exactly_once(runs=PLANTED_RUNS)


def test_dropped_connection_is_retried(bot: Bot, stack: Stack) -> None:
    stack.posthog.faults.add(200, count=2, drop_connection=True)
    report = bot.cycle()
    assert len(report.runs_processed) == PLANTED_RUNS
    assert statuses(stack)[:2] == [0, 0]
    bot.exactly_once(runs=PLANTED_RUNS)


def test_timeout_is_retried(impatient_bot: Bot, stack: Stack, hangs: Hangs) -> None:
    hung = hangs.expect(stack.posthog.faults.add(200, count=1, hang=True))  # the client gives up
    report = impatient_bot.cycle()
    assert given_up(hung, 1) == 1
    assert len(report.runs_processed) == PLANTED_RUNS
    impatient_bot.exactly_once(runs=PLANTED_RUNS)


# -- lasting faults: the run is deferred, never lost, never doubled ---------------------------


@pytest.mark.parametrize(
    "fault",
    [  # retried ones fail all 4 attempts; a shape PostHog never sends is not retried
        {"status": 429, "count": 4, "retry_after": 0.01},
        {"status": 429, "count": 4},
        {"status": 500, "count": 4},
        {"status": 200, "count": 1, "body": b'{"columns": 5, "results": "no"}'},
        {"status": 200, "count": 1, "body": b'{"columns": ["run_id"], "results": [[1, 2]]}'},
        {"status": 200, "count": 4, "drop_connection": True},
    ],
    ids=["429-retry-after", "429", "500", "wrong-shape", "unreadable-run", "dropped"],
)
def test_a_run_that_cannot_be_loaded_waits_for_the_next_cycle(
    bot: Bot, stack: Stack, fault: dict[str, object]
) -> None:
    # The run list and the batched load of the runs come through; the item values shared by
    # the runs of a window fail, and so do the first run's own, asked for on their own.
    pass_then(stack, 2)
    stack.posthog.faults.add(**fault)  # type: ignore[arg-type]
    stack.posthog.faults.add(**fault)  # type: ignore[arg-type]
    report = bot.cycle()
    assert len(report.runs_processed) == PLANTED_RUNS - 1
    assert len(bot.parents()) == PLANTED_RUNS - 1
    assert all(row.status == "sent" for row in bot.store.outbox())
    finish_and_check(bot)


def hang_queries(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, *, starting_with: str, count: int
) -> Fault:
    """The next `count` HogQL queries that start with `starting_with` get no answer until the
    bot's client gives up on them (a `hang`); other queries are answered, so a retry of some
    other query that timed out on a slow machine cannot move the hangs onto it."""
    fault = Fault(200, count=count, hang=True)
    take = stack.posthog.faults.take

    def taking(path: str) -> Fault | None:
        # The local PostHog logs a query's HogQL just before it takes its fault, and the
        # cycle asks one query at a time.
        newest = " ".join(stack.posthog.hogql_log[-1].split()) if stack.posthog.hogql_log else ""
        if "/query/" in path and fault.count > 0 and newest.startswith(starting_with):
            fault.count -= 1
            return fault
        return take(path)

    monkeypatch.setattr(stack.posthog.faults, "take", taking)
    return fault


# The item values of generations: for the runs of a time window together, or for one run.
GENERATION_VALUES = "SELECT toString(uuid) AS item_id, toFloat(properties.$ai_total_cost_usd)"


def test_a_run_that_times_out_waits_for_the_next_cycle(
    impatient_bot: Bot, stack: Stack, hangs: Hangs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A window's values, then the run's own, each time out on all 4 attempts.
    hung = hangs.expect(
        hang_queries(stack, monkeypatch, starting_with=GENERATION_VALUES, count=8),
        starting_with=GENERATION_VALUES,
    )
    report = impatient_bot.cycle()
    assert given_up(hung, 8) == 8  # the client gave up on each, none was answered
    assert len(report.runs_processed) == PLANTED_RUNS - 1
    finish_and_check(impatient_bot)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 429, "retry_after": 7}, PostHogRateLimited),
        ({"status": 200, "body": b'{"detail": "not a query result"}'}, PostHogSchemaError),
    ],
    ids=["429", "wrong-shape"],
)
def test_when_the_run_list_fails_nothing_is_stored_or_sent(
    bot: Bot, stack: Stack, fault: dict[str, object], error: type[PostHogError]
) -> None:
    stack.posthog.faults.add(count=10, **fault)  # type: ignore[arg-type]
    posts = len(stack.slack.calls_to("chat.postMessage"))
    with pytest.raises(error):
        bot.cycle()
    assert bot.store.outbox() == []
    assert len(stack.slack.calls_to("chat.postMessage")) == posts
    finish_and_check(bot)


def test_check_explains_a_rate_limit_and_exits_1(stack: Stack, tmp_path: Path) -> None:
    stack.posthog.faults.add(429, count=100, retry_after=0.01)
    posts = len(stack.slack.calls_to("chat.postMessage"))
    env = check_env(stack, f"sqlite:///{tmp_path / 'cli.db'}", tmp_path)
    result = run_check(env, tmp_path)
    assert result.returncode == 1
    assert "rate limiting" in result.stderr and "Traceback" not in result.stderr
    assert len(stack.slack.calls_to("chat.postMessage")) == posts


def test_check_exits_1_and_names_a_run_it_could_not_process(stack: Stack, tmp_path: Path) -> None:
    pass_then(stack, 2)  # the run list and the batched load; then a window's item values
    stack.posthog.faults.add(500, count=8)  # fail, and so do one run's own
    env = check_env(stack, f"sqlite:///{tmp_path / 'cli.db'}", tmp_path) | QUIET

    result = run_check(env, tmp_path)

    assert result.returncode == 1, result.stdout
    assert "run not processed: " in result.stderr and "answered 500" in result.stderr
    assert f"processed {PLANTED_RUNS - 1}" in result.stdout


# -- PostHog asks the bot to stop: the cycle ends early and blames no run ----------------------


def later_process(stack: Stack, database: Path, channel: str, **settings: object) -> Bot:
    """The same deployment (database, alert channel) in a new process: its own PostHog client,
    throttle gate and budget reader, as after a restart."""
    services = build_services(
        stack.settings(
            database_url=f"sqlite:///{database}", alert_channel=channel, **NO_CHARTS, **settings
        ),
        min_post_interval=0.0,
    )
    return Bot(stack, services, channel)


def series_of(world: World) -> set[SeriesKey]:
    return {SeriesKey(Level(run.series[0]), run.series[1]) for run in world.runs}


def test_a_long_throttle_ends_the_cycle_and_is_not_held_against_the_run(
    stack: Stack, world: World, tmp_path: Path
) -> None:
    database = tmp_path / "deployment.db"
    channel = stack.slack.create_channel("alerts-throttled", id="C0THROTTLE")
    for cycle in range(RUN_ATTEMPTS):  # as many as would skip a run that failed each time
        pass_then(stack, 1)  # the run list comes through; then PostHog wants an hour's pause
        stack.posthog.faults.add(429, retry_after=3600)
        bot = later_process(stack, database, channel)
        report = bot.cycle()
        bot.close()
        assert report.runs_processed == [] and report.runs_skipped == [], cycle
        assert report.ended_early is not None and "throttling" in report.ended_early
        assert report.resume_at is not None
        assert report.resume_at > datetime.now(UTC) + timedelta(minutes=55)
        # one request after the list, then nothing: no other series was started
        assert statuses(stack) == [200, 429]
        assert all(bot.store.processed_runs(series) is None for series in series_of(world))
        reset_stand_ins(stack)
    bot = later_process(stack, database, channel)
    try:
        report = bot.cycle()
        assert report.ended_early is None and report.runs_skipped == []
        assert len(report.runs_processed) == PLANTED_RUNS
        bot.exactly_once(runs=PLANTED_RUNS)
    finally:
        bot.close()


def test_a_spent_budget_ends_the_cycle_and_is_not_held_against_the_run(
    stack: Stack, world: World, tmp_path: Path
) -> None:
    database = tmp_path / "deployment.db"
    channel = stack.slack.create_channel("alerts-budget", id="C0BUDGET")
    # 2 queries an hour for the scheduler: the list, then every run in one batched load; the
    # first run's item values find the budget spent
    bot = later_process(
        stack,
        database,
        channel,
        posthog_query_budget_per_hour=3,
        posthog_command_budget_per_hour=1,
    )
    try:
        report = bot.cycle()
    finally:
        bot.close()
    assert report.runs_processed == [] and report.runs_skipped == []
    assert report.ended_early is not None and "is spent" in report.ended_early
    assert report.resume_at is not None
    assert report.resume_at > datetime.now(UTC) + timedelta(minutes=55)
    assert len(statuses(stack)) == 2  # what the budget allowed, and not one more
    assert all(bot.store.processed_runs(series) is None for series in series_of(world))
    bot = later_process(stack, database, channel)  # the budget raised: the next cycle does all
    try:
        report = bot.cycle()
        assert report.ended_early is None
        assert len(report.runs_processed) == PLANTED_RUNS
        bot.exactly_once(runs=PLANTED_RUNS)
    finally:
        bot.close()


# -- what a user asking sees ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 429, "count": 50, "retry_after": 7}, "rate limiting"),
        ({"status": 500, "count": 50}, "PostHog is not answering"),
        ({"status": 200, "count": 50, "drop_connection": True}, "PostHog is not answering"),
        ({"status": 200, "count": 50, "body": b'{"results": [["tr'}, "PostHog is not answering"),
    ],
    ids=["429", "500", "dropped", "truncated"],
)
def test_a_question_during_an_outage_gets_an_honest_answer(
    stack: Stack, fault: dict[str, object], expected: str
) -> None:
    stack.posthog.faults.add(**fault)  # type: ignore[arg-type]
    asker = f"U0ASK{len(stack.slack.users):04d}"
    user = stack.user(asker)
    assert user.command("latest").status_code == 200  # acked before PostHog is asked
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == asker for m in stack.slack.messages("C0GENERAL")), 30
    )
    (answer,) = [m for m in stack.slack.messages("C0GENERAL") if m.ephemeral_for == asker]
    text = answer.text + json.dumps(answer.blocks)
    assert expected in text and "Traceback" not in text


def test_a_question_that_times_out_gets_an_honest_answer(tmp_path: Path, world: World) -> None:
    database = f"sqlite:///{tmp_path / 'impatient.db'}"
    # Every query the question sends hangs, so a short timeout cuts no answer short.
    with running_stack(
        database_url=database, extra_settings={"posthog_timeout_seconds": 0.2}
    ) as own:
        load(own, world)
        hung = own.posthog.faults.add(200, count=6, hang=True)
        user = own.user("U0SLOWQ")
        assert user.command("runs").status_code == 200
        assert own.slack.wait_for(
            lambda: any(m.ephemeral_for == "U0SLOWQ" for m in own.slack.messages("C0GENERAL")),
            30,
        )
        (answer,) = [m for m in own.slack.messages("C0GENERAL") if m.ephemeral_for == "U0SLOWQ"]
        assert "PostHog is not answering" in answer.text + json.dumps(answer.blocks)
        assert given_up(hung, 1) >= 1  # the question's query timed out


# -- a 5 MB run ---------------------------------------------------------------------------------


def huge_run(world: World, job_name: str, *, target_bytes: int = 5_000_000) -> dict[str, object]:
    """The newest run of `job_name` again, one hour later, padded to `target_bytes` of
    `$ai_clusters`: thousands of extra items, long hostile titles and descriptions, and a
    tenfold cost in its first cluster."""
    newest = world.runs_of(job_name)[-1]
    event = copy.deepcopy(
        next(
            e for e in world.events if e["properties"].get("$ai_clustering_run_id") == newest.run_id
        )
    )
    props = event["properties"]
    moment = event["timestamp"] + timedelta(hours=1)
    run_id = f"1_trace_{moment:%Y%m%d_%H%M%S}_{props['$ai_clustering_job_id']}"
    clusters = props["$ai_clusters"]
    hostile = "<!channel> <@U0BOSS> &amp; *bold* `code` " + "✨" * 20
    clusters[0]["metrics"] = dict(clusters[0]["metrics"] or {})
    for key in ("avg_cost", "total_cost"):
        if clusters[0]["metrics"].get(key):
            clusters[0]["metrics"][key] *= 10
    per_cluster = 0
    while len(json.dumps(clusters)) < target_bytes:
        per_cluster += 500
        for cluster in clusters:
            cid = cluster["cluster_id"]
            cluster["title"] = f"{hostile} {cid} " + "long title " * 100
            cluster["description"] = "\n".join(f"- {hostile} point {k}" for k in range(200))
            traces = cluster["traces"]
            base = len(traces)
            for k in range(500):
                item = f"padding-{cid}-{per_cluster}-{k}"
                traces[item] = {
                    "trace_id": item,
                    "rank": base + k,
                    "distance_to_centroid": 0.9,
                    "x": 0.5,
                    "y": -0.5,
                    "timestamp": moment.isoformat(),
                }
            cluster["size"] = len(traces)
    props["$ai_clustering_run_id"] = run_id
    props["$ai_total_items_analyzed"] = sum(c["size"] for c in clusters)
    event["uuid"] = "00000000-0000-4000-8000-000000000005"
    event["timestamp"] = moment
    return event


@pytest.fixture
def own_stack(tmp_path: Path, world: World) -> Iterator[Stack]:
    """A stack of its own, for a test that adds a run (the module's stack stays as loaded)."""
    with running_stack(database_url=f"sqlite:///{tmp_path / 'own.db'}") as running:
        load(running, world)
        yield running


def test_a_5_mb_run_is_alerted_once_and_answered_within_limits(
    own_stack: Stack, world: World
) -> None:
    stack = own_stack
    stack.services.alerts.run_cycle()
    before = {m.ts for m in parents(stack.slack)}
    event = huge_run(world, "Default - traces")
    assert len(json.dumps(event["properties"]["$ai_clusters"])) >= 5_000_000  # type: ignore[index]
    stack.posthog.insert_events([event])
    report = stack.services.alerts.run_cycle()  # its speed is the bench's (make bench)
    assert report.runs_processed == [event["properties"]["$ai_clustering_run_id"]]  # type: ignore[index]
    new = [m for m in parents(stack.slack) if m.ts not in before]
    assert len(new) == 1
    assert "<!channel>" not in json.dumps(new[0].blocks)
    assert_exactly_once(stack.slack, stack.services.store, runs=PLANTED_RUNS + 1)
    for message in [new[0], *stack.slack.thread(ALERT_CHANNEL, new[0].ts)]:
        assert not check_limits(message.blocks, message.text)
    user = stack.user("U0BIG")
    assert user.command("latest trace Default - traces").status_code == 200
    assert stack.slack.wait_for(
        lambda: any(m.ephemeral_for == "U0BIG" for m in stack.slack.messages("C0GENERAL")), 30
    )
    (answer,) = [m for m in stack.slack.messages("C0GENERAL") if m.ephemeral_for == "U0BIG"]
    assert not check_limits(answer.blocks, answer.text)
    assert "Something went wrong" not in answer.text
