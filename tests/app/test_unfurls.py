"""PostHog links pasted in a channel get a card (link_shared -> chat.unfurl), end to end through
the real Bolt app and the fake Slack; links elsewhere are left alone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.posthog.links import ClusterLink, RunLink, TraceLink, parse_link
from bot.posthog.urls import PostHogUrls
from sandbox.generator import SeriesSpec, World, generate
from sandbox.slack_user_views import compose_link, share_link
from sandbox.stack import Stack
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
    world: World = generate(
        seed=7, series=[SeriesSpec(level="trace", job_name="Default - traces")], runs=2,
        items_per_run=120, now=NOW,
    )  # fmt: skip
    db = tmp_path_factory.mktemp("unfurl") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        running.posthog.insert_events(world.events)
        running.posthog.set_jobs(world.jobs)
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


def test_the_composer_preview_and_the_posted_message_cost_one_card(stack: Stack) -> None:
    """Slack sends link_shared for the composer's preview and again for the posted message:
    the second card costs no PostHog query."""
    trace_id, at = traces_of(stack)[2]
    url = urls_of(stack).trace(trace_id, at)
    before = len(stack.posthog.requests)
    unfurl_id, response = compose_link(stack.user("U0ALICE"), url)
    assert response.status_code == 200
    preview_key = ("composer", unfurl_id)
    assert stack.slack.wait_for(lambda: preview_key in stack.slack.unfurls, 20)
    first = len(stack.posthog.requests)
    assert first > before  # the preview's card was built from PostHog

    blocks = card_for(stack, url)

    assert len(stack.posthog.requests) == first
    assert blocks == next(iter(stack.slack.unfurls[preview_key].values()))["blocks"]
