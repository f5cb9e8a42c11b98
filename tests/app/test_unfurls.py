"""PostHog links pasted in a channel get a card (link_shared -> chat.unfurl), end to end through
the real Bolt app and the fake Slack; links elsewhere are left alone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.posthog.links import ClusterLink, RunLink, TraceLink, parse_link
from bot.posthog.urls import PostHogUrls
from standins.slack.user_views import compose_link, share_link
from standins.stack import Stack
from standins.traffic.generator import SeriesSpec, World
from tests.support import worlds
from tests.support.blocks import mrkdwn_texts
from tests.support.clock import NOW

RUN = "2_trace_20260614_001502_019cb7f3-a126-7809-bffc-7f13bffe1325"


@pytest.mark.parametrize(
    ("urls", "run_id", "trace_id"),
    [
        (PostHogUrls("https://us.posthog.com", 2), RUN, "4f1c-aa"),
        (PostHogUrls("https://ph.example.com/", 2, routes="llm-analytics"), "x run/1#a", "a/b!(c)"),
    ],
)
def test_links_read_back_what_the_url_builder_wrote(
    urls: PostHogUrls, run_id: str, trace_id: str
) -> None:
    host = urls.clusters().split("/project/")[0]
    at = datetime(2026, 6, 12, 15, 30, 11, 120000, tzinfo=UTC)
    assert parse_link(urls.run(run_id), host, 2) == RunLink(run_id)
    assert parse_link(urls.cluster(run_id, -1), host, 2) == ClusterLink(run_id, -1)
    assert parse_link(urls.trace(trace_id, at, "g-1"), host, 2) == TraceLink(trace_id, at, "g-1")
    assert parse_link(urls.run(run_id), "https://other.example.com", 2) is None
    assert parse_link(urls.run(run_id), host, 3) is None  # another project
    assert parse_link(urls.clusters(), host, 2) is None  # a page without a card


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    world: World = worlds.generate(
        seed=7, series=[SeriesSpec(level="trace", job_name="Default - traces")], runs=2,
        items_per_run=120, now=NOW,
    )  # fmt: skip
    db = tmp_path_factory.mktemp("unfurl") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        worlds.load(running.posthog, world)
        yield running


def urls_of(stack: Stack) -> PostHogUrls:
    settings = stack.services.settings
    return PostHogUrls(settings.ui_host, settings.posthog_project_id or 0)


def card_for(stack: Stack, url: str) -> list[dict[str, Any]]:
    ts, response = share_link(stack.user("U0ALICE"), "C0GENERAL", url)
    assert response.status_code == 200
    key, announced = ("C0GENERAL", ts), url.replace("&", "&amp;")  # as Slack writes it
    assert stack.slack.wait_for(lambda: announced in stack.slack.unfurls.get(key, {}), 20)
    return list(stack.slack.unfurls[key][announced]["blocks"])


def test_cluster_run_and_trace_links_get_cards(stack: Stack) -> None:
    run = stack.services.clusters.latest()
    cluster = max(run.clusters, key=lambda c: c.size)
    blocks = card_for(stack, urls_of(stack).cluster(run.run_id, cluster.cluster_id))
    text = json.dumps(blocks)
    assert blocks[0]["type"] == "header" and "clusters.traces" in text  # the Traces button
    fields = "\n".join(mrkdwn_texts(blocks))
    assert all(f"*{name}*" in fields for name in ("Share", "Avg cost", "Avg latency", "Errors"))
    assert blocks[-1]["type"] == "actions"
    trend = r"(New since the previous run|[↑↓→] Share [\d.]+% in the previous run)"
    assert re.search(trend, fields)

    summary = card_for(stack, urls_of(stack).run(run.run_id))
    assert "Trace clusters" in summary[0]["text"]["text"]
    assert urls_of(stack).cluster(run.run_id, cluster.cluster_id) in json.dumps(summary)

    item = next(i for c in run.clusters for i in c.items if i.trace_id)
    trace = card_for(stack, urls_of(stack).trace(item.trace_id, item.timestamp))
    joined = "\n".join(mrkdwn_texts(trace))
    assert item.trace_id[:8] in json.dumps(trace)
    assert "hidden here (DRILLDOWN_CONTENT=none)" in joined  # no trace content in a channel


def test_links_to_other_hosts_and_projects_are_left_alone(stack: Stack) -> None:
    run = stack.services.clusters.latest()
    elsewhere = PostHogUrls("https://other.example.com", 1).run(run.run_id)
    other_project = urls_of(stack).run(run.run_id).replace("/project/", "/project/9", 1)
    before = len(stack.slack.calls_to("chat.unfurl"))
    for url in (elsewhere, other_project):
        _, response = share_link(stack.user("U0ALICE"), "C0GENERAL", url)
        assert response.status_code == 200
    # a known link afterwards is unfurled; the two before it never were
    card_for(stack, urls_of(stack).run(run.run_id))
    calls = stack.slack.calls_to("chat.unfurl")[before:]
    assert len(calls) == 1 and elsewhere not in json.dumps(calls[0].params)


def settled(stack: Stack, timeout: float = 20.0) -> bool:
    """The work pool is idle: every event handed over has been handled (the listener hands over
    before its ack, so after the ack this is deterministic)."""
    deadline = time.monotonic() + timeout
    while stack.services.work.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    return stack.services.work.pending == 0


def shared_in(stack: Stack, channel: str, url: str, user: str = "U0ALICE") -> bool:
    """Whether the link `user` posted in `channel` got a card."""
    ts, response = share_link(stack.user(user), channel, url)
    assert response.status_code == 200
    assert settled(stack)
    return url in stack.slack.unfurls.get((channel, ts), {})


def test_cards_only_in_internal_conversations_the_bot_is_in(stack: Stack) -> None:
    fake = stack.slack
    url = urls_of(stack).run(stack.services.clusters.latest().run_id)
    between_people = fake.create_dm("U0ALICE", "U0BOB")
    private_without_bot = fake.create_channel("hr", "G0HR", member=False, private=True)
    connect = fake.create_channel("acme-shared", "C0ACME", external=True)
    private_with_bot = fake.create_channel("llm-team", "G0TEAM", private=True)
    with_the_bot = fake.create_dm("U0ALICE")
    info_calls = len(fake.calls_to("conversations.info"))

    assert not shared_in(stack, between_people, url)
    assert not shared_in(stack, private_without_bot, url)
    assert not shared_in(stack, connect, url)
    assert not shared_in(stack, connect, url)  # asked Slack once: the answer is kept a while
    assert shared_in(stack, "C0GENERAL", url)
    assert shared_in(stack, private_with_bot, url)
    assert shared_in(stack, with_the_bot, url)
    asked = [c.params["channel"] for c in fake.calls_to("conversations.info")[info_calls:]]
    assert asked.count(connect) == 1 and asked.count(private_with_bot) == 1
    assert not {between_people, private_without_bot, with_the_bot} & set(asked)  # the event says


def test_unfurl_external_lets_cards_into_slack_connect_channels_the_bot_is_in(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.services.settings, "unfurl_external", True)
    url = urls_of(stack).run(stack.services.clusters.latest().run_id)
    connect = stack.slack.create_channel("partner", "C0PARTNER", external=True)
    connect_without_bot = stack.slack.create_channel("other", "C0OTHER", external=True)
    stack.slack.set_member(connect_without_bot, False)
    assert shared_in(stack, connect, url)
    assert not shared_in(stack, connect_without_bot, url)  # membership is still required


def test_the_fake_reports_membership_and_sharing_as_slack_does(stack: Stack) -> None:
    fake = stack.slack
    connect = fake.create_channel("vendor", "C0VENDOR", external=True)
    dm = fake.create_dm("U0ALICE", "U0BOB")
    client = stack.services.slack
    info = client.conversations_info(channel=connect)["channel"]
    assert info["is_ext_shared"] is True and info["is_shared"] is True and info["is_member"]
    general = client.conversations_info(channel="C0GENERAL")["channel"]
    assert general["is_ext_shared"] is False and general["is_im"] is False
    with pytest.raises(SlackApiError, match="channel_not_found"):  # not the bot's DM
        client.conversations_info(channel=dm)
    with pytest.raises(SlackApiError, match="missing_scope"):  # its own needs im:read
        client.conversations_info(channel=fake.create_dm("U0ALICE"))


def traces_of(stack: Stack) -> list[tuple[str, datetime | None]]:
    run = stack.services.clusters.latest()
    return [(i.trace_id, i.timestamp) for c in run.clusters for i in c.items if i.trace_id]


def test_a_trace_link_keeps_its_timestamp_and_event_although_slack_writes_amp(
    stack: Stack,
) -> None:
    """Slack announces `…?tab=summary&amp;event=…&amp;timestamp=…`: read as typed, the card
    opens the same event at the same time."""
    trace_id, at = traces_of(stack)[1]
    url = urls_of(stack).trace(trace_id, at, "gen-0001")
    assert "&" in url
    blocks = card_for(stack, url)
    opens = [e["url"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(opens) == 1 and "event=gen-0001" in opens[0]
    assert stack.slack.calls_to("chat.unfurl")[-1].params["unfurls"]  # keyed as announced


def test_a_link_in_the_composer_waits_for_its_post_and_a_second_post_costs_no_query(
    stack: Stack,
) -> None:
    """Slack sends link_shared for the composer's preview, where the conversation is not yet
    known (no card: it may be shared with another organisation), and again for each posted
    message: the card is built once and kept a while, so the next post costs no query."""
    trace_id, at = traces_of(stack)[2]
    url = urls_of(stack).trace(trace_id, at)
    before = len(stack.posthog.requests)
    unfurl_id, response = compose_link(stack.user("U0ALICE"), url)
    assert response.status_code == 200
    assert settled(stack)
    assert ("composer", unfurl_id) not in stack.slack.unfurls
    assert len(stack.posthog.requests) == before

    blocks = card_for(stack, url)
    first = len(stack.posthog.requests)
    assert first > before  # the posted link's card was built from PostHog
    again = card_for(stack, url)

    assert len(stack.posthog.requests) == first
    assert again == blocks
