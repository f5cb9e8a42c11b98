"""Lineage over stored runs, and uploads into Slack threads (fake Slack, real WebClient).

The runs come from the traffic generator through the real PostHog client against the local
PostHog, and are cached in a real SQLite store, as the alert cycle leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from bot.charts import cluster_map as cluster_map_module
from bot.domain.alerts import AlertKind
from bot.domain.models import NOISE_CLUSTER_ID, ClusteringRun
from bot.posthog.budget import QueryBudget
from bot.posthog.client import PostHogClient
from bot.services.charts import NO_MAP, ChartService, lineage
from bot.services.runs import RunRepository
from bot.slack.writer import SlackWriter
from bot.store.store import Store
from standins.posthog.server import LocalPostHog
from standins.slack.server import FakeSlack, Message
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World
from tests.support import worlds
from tests.support.alerting import STRONG
from tests.support.alerting import load as load_world
from tests.support.alerting import make_world as alerting_world
from tests.support.charts import PNG_SIGNATURE, map_run
from tests.support.clock import NOW
from tests.support.factories import ids, make_cluster, make_metrics, make_run

TRACES, CHECKOUT = "Default - traces", "Checkout assistant"
RUNS = 6
CHANNEL = ALERT_CHANNEL


@pytest.fixture(scope="module")
def world() -> World:
    return worlds.generate(
        seed=5,
        series=[SeriesSpec(level="trace", job_name=TRACES), SeriesSpec(job_name=CHECKOUT)],
        runs=RUNS,
        items_per_run=1500,  # PostHog's sample size
        now=NOW,
        # A step reaches a run only through the items newer than the run before (about 1/7):
        # plant a cost step big enough to lift the whole cluster's average. A new topic is
        # small at first and may be noise in its first run: plant it early.
        planted={
            (TRACES, RUNS - 1): Plant(Change.COST_SPIKE, scale=STRONG),
            (CHECKOUT, RUNS - 3): Change.NEW_CLUSTER,
        },
    )


@pytest.fixture(scope="module")
def store(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Every generated run, loaded through the real client and cached in the store."""
    db = tmp_path_factory.mktemp("charts") / "state.db"
    store = Store.from_url(f"sqlite:///{db}")
    with LocalPostHog(project_id=3, api_key="phx_charts") as posthog:
        worlds.load(posthog, world)
        with httpx.Client(
            base_url=posthog.url, headers={"Authorization": "Bearer phx_charts"}, timeout=30
        ) as http:
            runs = RunRepository(PostHogClient(http, 3, budget=QueryBudget(10_000)), store)
            for truth in world.runs:
                runs.get(truth.run_id)
    yield store
    store.engine.dispose()


def first_new_cluster(store: Store, world: World) -> tuple[ClusteringRun, int]:
    """The first run in which the topic planted as new in CHECKOUT is a cluster, and its id."""
    planted = next(p for p in world.planted if p.job_name == CHECKOUT)
    assert planted.kind is Change.NEW_CLUSTER
    run_id, cluster_id = next((r, c) for r, c in planted.clusters.items() if c is not None)
    run = store.get_run(run_id)
    assert run is not None
    return run, cluster_id


def latest(store: Store, world: World, job: str) -> ClusteringRun:
    run = store.get_run(world.runs_of(job)[-1].run_id)
    assert run is not None
    return run


# -- lineage ---------------------------------------------------------------------------------


def test_lineage_follows_the_cluster_back_through_stored_runs(store: Store, world: World) -> None:
    planted = next(p for p in world.planted if p.job_name == TRACES)
    assert planted.cluster_id is not None
    run = latest(store, world, TRACES)
    points = lineage(store, run, planted.cluster_id)
    truths = world.runs_of(TRACES)
    assert [p.run_id for p in points] == [t.run_id for t in truths]  # oldest first
    for point, truth in zip(points, truths, strict=True):
        cluster_id = truth.cluster_of_topic(planted.topic)  # the same topic in every run
        assert cluster_id is not None
        assert point.share == pytest.approx(truth.share(cluster_id))
        assert point.window_end == truth.window_end
        assert point.avg_cost is not None and point.error_rate is not None
    # The whole cluster's average moves by the fresh items' share of the step only; the run
    # with the step is still the highest point of the trend.
    *before, spiked = points
    assert spiked.avg_cost is not None
    assert all(spiked.avg_cost > p.avg_cost for p in before)  # type: ignore[operator]


def test_lineage_is_capped_at_n_runs(store: Store, world: World) -> None:
    run = latest(store, world, TRACES)
    cluster_id = run.by_size[0].cluster_id
    points = lineage(store, run, cluster_id, n=3)
    assert [p.run_id for p in points] == [t.run_id for t in world.runs_of(TRACES)[-3:]]


def test_lineage_of_a_new_cluster_is_one_point(store: Store, world: World) -> None:
    run, cluster_id = first_new_cluster(store, world)
    points = lineage(store, run, cluster_id)
    assert [p.run_id for p in points] == [run.run_id]


def test_lineage_stops_where_the_stored_runs_end(
    store: Store, world: World, tmp_path: Path
) -> None:
    partial = Store.from_url(f"sqlite:///{tmp_path / 'partial.db'}")
    for truth in world.runs_of(TRACES)[-2:]:
        run = store.get_run(truth.run_id)
        assert run is not None
        partial.save_run(run)
    run = latest(store, world, TRACES)
    points = lineage(partial, run, run.by_size[0].cluster_id)
    assert len(points) == 2
    partial.engine.dispose()


def test_lineage_of_the_outliers_is_the_outliers_of_each_run(store: Store, world: World) -> None:
    run = latest(store, world, TRACES)
    points = lineage(store, run, NOISE_CLUSTER_ID)
    assert len(points) == RUNS
    for point, truth in zip(points, world.runs_of(TRACES), strict=True):
        assert point.share == pytest.approx(truth.share(NOISE_CLUSTER_ID))


def test_lineage_of_an_unknown_cluster_is_empty(store: Store, world: World) -> None:
    assert lineage(store, latest(store, world, TRACES), 999) == []


def test_missing_metrics_are_none_not_zero(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    old = make_run(
        make_cluster(0, title="Invoices", item_ids=ids("a", 40)),  # no metrics
        make_cluster(1, title="Chat", item_ids=ids("b", 40)),
        run_id="old",
        timestamp=NOW.replace(day=20),
    )
    new = make_run(
        make_cluster(
            5, title="Invoices", item_ids=ids("a", 40), metrics=make_metrics(avg_cost=0.03)
        ),
        make_cluster(6, title="Chat", item_ids=ids("b", 40)),
        run_id="new",
        timestamp=NOW.replace(day=21),
    )
    store.save_run(old)
    store.save_run(new)
    first, second = lineage(store, new, 5)
    assert (first.run_id, first.share, first.avg_cost, first.error_rate) == ("old", 0.5, None, None)
    assert (second.avg_cost, second.error_rate) == (0.03, 0.02)
    store.engine.dispose()


# -- uploads -----------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=10, retry_handlers=[])


def parent(client: WebClient, text: str = "An alert") -> str:
    return str(client.chat_postMessage(channel=CHANNEL, text=text)["ts"])


def files_in(fake: FakeSlack, ts: str) -> list[Any]:
    return [f for m in fake.thread(CHANNEL, ts) for f in m.files]


def notices(fake: FakeSlack, ts: str) -> list[Message]:
    return [m for m in fake.thread(CHANNEL, ts) if m.text.startswith("Couldn't attach the chart")]


def test_alert_charts_go_into_the_alert_thread(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    planted = next(p for p in world.planted if p.job_name == TRACES)
    assert planted.cluster_id is not None
    ts, elsewhere = parent(client), parent(client, "another alert")
    service = ChartService(store, SlackWriter(client), enabled=True)
    posted = service.post_alert_charts(
        CHANNEL, ts, latest(store, world, TRACES), planted.cluster_id
    )
    assert posted == 2
    (reply,) = fake.thread(CHANNEL, ts)
    assert [f.title.split(":")[0] for f in reply.files] == ["Trend", "Cluster map"]
    assert all(f.content is not None and f.content.startswith(PNG_SIGNATURE) for f in reply.files)
    assert fake.thread(CHANNEL, elsewhere) == []
    assert len(fake.messages(CHANNEL)) == 2  # nothing at the top level
    (complete,) = fake.calls_to("files.completeUploadExternal")
    assert complete.params["thread_ts"] == ts and complete.params["channel_id"] == CHANNEL


def test_a_new_cluster_gets_only_its_map(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    run, cluster_id = first_new_cluster(store, world)
    ts = parent(client)
    service = ChartService(store, SlackWriter(client), enabled=True)
    assert service.post_alert_charts(CHANNEL, ts, run, cluster_id) == 1
    assert [f.title.split(":")[0] for f in files_in(fake, ts)] == ["Cluster map"]


def test_map_of_a_run(store: Store, world: World, fake: FakeSlack, client: WebClient) -> None:
    ts = parent(client, "summary")
    assert (
        ChartService(store, SlackWriter(client)).post_map(CHANNEL, ts, latest(store, world, TRACES))
        == 1
    )
    (image,) = files_in(fake, ts)
    assert image.title.startswith("Cluster map") and image.content.startswith(PNG_SIGNATURE)


def test_no_map_for_a_run_without_coordinates(
    store: Store, fake: FakeSlack, client: WebClient
) -> None:
    ts = parent(client, "summary")
    run = make_run(make_cluster(0, item_ids=ids("a", 5)))  # items without x/y
    assert ChartService(store, SlackWriter(client)).post_map(CHANNEL, ts, run) == 0
    assert [m.text for m in fake.thread(CHANNEL, ts)] == [NO_MAP]
    assert fake.calls_to("files.getUploadURLExternal") == []


@pytest.mark.parametrize(
    "method, fault, reason",
    [
        ("files.getUploadURLExternal", {"error": "missing_scope"}, "files:write"),
        ("files.completeUploadExternal", {"status": 500}, "server error"),
        ("files.completeUploadExternal", {"error": "not_in_channel"}, "not in this channel"),
        ("upload", {"status": 500}, "upload to Slack failed"),
        ("files.getUploadURLExternal", {"drop_connection": True}, "could not be reached"),
    ],
)
def test_an_upload_failure_is_one_notice_line_per_thread(
    store: Store,
    world: World,
    fake: FakeSlack,
    client: WebClient,
    method: str,
    fault: dict[str, Any],
    reason: str,
) -> None:
    ts, other = parent(client), parent(client, "another")
    fake.faults.add(method, count=None, **fault)
    service = ChartService(store, SlackWriter(client))
    run = latest(store, world, TRACES)
    cluster_id = run.by_size[0].cluster_id
    assert service.post_alert_charts(CHANNEL, ts, run, cluster_id) == 0  # no exception
    assert service.post_alert_charts(CHANNEL, ts, run, cluster_id) == 0
    assert service.post_map(CHANNEL, ts, run) == 0
    (notice,) = notices(fake, ts)
    assert reason in notice.text
    assert files_in(fake, ts) == []
    service.post_map(CHANNEL, other, run)  # another thread hears it once too
    assert len(notices(fake, other)) == 1


def test_the_notice_is_logged(
    store: Store, world: World, fake: FakeSlack, client: WebClient, caplog: Any
) -> None:
    fake.faults.add("files.getUploadURLExternal", error="missing_scope", count=None)
    ts = parent(client)
    ChartService(store, SlackWriter(client)).post_map(CHANNEL, ts, latest(store, world, TRACES))
    failed = [r for r in caplog.records if r.getMessage() == "charts.failed"]
    assert len(failed) == 1 and "missing_scope" in failed[0].error  # type: ignore[attr-defined]


def test_a_chart_that_cannot_be_drawn_does_not_stop_the_other(
    store: Store,
    world: World,
    fake: FakeSlack,
    client: WebClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object, **__: object) -> bytes:
        raise ValueError("boom")

    monkeypatch.setattr(cluster_map_module, "render_cluster_map", broken)
    ts = parent(client)
    run = latest(store, world, TRACES)
    service = ChartService(store, SlackWriter(client))
    assert service.post_alert_charts(CHANNEL, ts, run, run.by_size[0].cluster_id) == 1
    assert [f.title.split(":")[0] for f in files_in(fake, ts)] == ["Trend"]
    (notice,) = notices(fake, ts)
    assert notice.text == "Couldn't attach the chart: it could not be drawn"


def test_a_failing_notice_is_swallowed_too(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    ts = parent(client)
    fake.faults.add("files.getUploadURLExternal", error="missing_scope", count=None)
    fake.faults.add("chat.postMessage", error="channel_not_found", count=None)
    assert (
        ChartService(store, SlackWriter(client)).post_map(CHANNEL, ts, latest(store, world, TRACES))
        == 0
    )


def test_off_means_nothing_is_rendered_or_sent(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    ts = parent(client)
    calls = len(fake.calls)
    service = ChartService(store, SlackWriter(client), enabled=False)
    run = latest(store, world, TRACES)
    assert service.post_alert_charts(CHANNEL, ts, run, 0) == 0
    assert service.post_map(CHANNEL, ts, run) == 0
    assert service.post_for_alert(CHANNEL, ts, f"cost_spike:{run.run_id}:0") == 0
    assert len(fake.calls) == calls


def test_charts_for_an_outbox_key(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    run = latest(store, world, TRACES)
    service = ChartService(store, SlackWriter(client))
    ts = parent(client)
    assert service.post_for_alert(CHANNEL, ts, f"run:{run.run_id}") == 0  # the parent message
    assert service.post_for_alert(CHANNEL, None, f"cost_spike:{run.run_id}:0") == 0  # no thread
    assert service.post_for_alert(CHANNEL, ts, "cost_spike:no-such-run:0") == 0
    assert fake.thread(CHANNEL, ts) == []
    cluster_id = run.by_size[0].cluster_id
    assert service.post_for_alert(CHANNEL, ts, f"cost_spike:{run.run_id}:{cluster_id}") == 2
    (reply,) = fake.thread(CHANNEL, ts)
    assert reply.text.startswith("Cost spike: ")
    # A vanished cluster is shown where it last was: the run before.
    previous = store.previous_run(run)
    assert previous is not None
    gone = previous.by_size[0].cluster_id
    later = parent(client)
    assert service.post_for_alert(CHANNEL, later, f"vanished_cluster:{run.run_id}:{gone}") == 2
    (reply,) = fake.thread(CHANNEL, later)
    assert reply.text.endswith("(as it was in the run before)")
    assert previous.run_id in reply.files[1].filename


def test_every_alert_kind_gets_its_charts(
    store: Store, world: World, fake: FakeSlack, client: WebClient
) -> None:
    run = latest(store, world, TRACES)
    cluster_id = run.by_size[0].cluster_id
    service = ChartService(store, SlackWriter(client))
    for kind in AlertKind:
        ts = parent(client, f"a {kind} alert")
        assert service.post_for_alert(CHANNEL, ts, f"{kind}:{run.run_id}:{cluster_id}") == 2, kind
        (reply,) = fake.thread(CHANNEL, ts)
        assert reply.text.startswith(f"{kind.spec.label}: "), kind


def test_map_run_helper_gives_a_map() -> None:  # keeps the shared builder honest
    assert map_run().item_count > 500


# -- the proposed outbox hook, end to end ---------------------------------------------------------


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        yield running


def test_charts_follow_each_delivered_alert_detail_into_its_thread(stack: Stack) -> None:
    """What `SlackNotifier(on_sent=…)` would do: for every delivered alert detail, post its
    charts into the alert's thread, after the text is out. The first cycle alerts on each
    series' newest run, so the world plants its changes there."""
    world = alerting_world()
    load_world(stack, world)
    stack.services.alerts.run_cycle()
    store = stack.services.store
    service = ChartService(store, stack.services.notifier)
    details = [r for r in store.outbox(CHANNEL) if r.parent_key and r.status == "sent"]
    assert details
    for row in details:
        assert row.parent_key is not None
        thread_ts = store.sent_ts(CHANNEL, row.parent_key)
        service.post_for_alert(CHANNEL, thread_ts, row.key)
    assert len(world.planted) == 3
    for planted in world.planted:
        parent_row = next(r for r in store.outbox(CHANNEL) if r.key == f"run:{planted.run_id}")
        assert parent_row.ts is not None
        titles = [f.title for f in files_in(stack.slack, parent_row.ts)]
        assert any(t.startswith("Cluster map") for t in titles), planted
    assert not any(
        m.text.startswith("Couldn't attach")
        for p in stack.slack.messages(CHANNEL)
        for m in stack.slack.thread(CHANNEL, p.ts)
    )
