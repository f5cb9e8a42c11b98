"""Cluster titles are LLM-written and may be blank. Slack refuses an empty header or section
text (invalid_blocks) and the fake Slack does too, so a blank title must never reach Slack as
an empty text: alerts go out through the real outbox and answers through the Bolt app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack.escape import UNTITLED, check_limits, enforce_limits
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import Change, Plant, SeriesSpec, World, generate
from tests.support.blocks import all_text
from tests.support.clock import NOW


def blank_titles(world: World) -> None:
    for event in world.events:
        props = event.get("properties") or {}
        clusters = props.get("$ai_clusters")
        if clusters is None:
            continue
        parsed = json.loads(clusters) if isinstance(clusters, str) else clusters
        for cluster in parsed:
            cluster["title"] = " \n\t "
        props["$ai_clusters"] = json.dumps(parsed) if isinstance(clusters, str) else parsed


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    world = generate(
        seed=8,
        series=[SeriesSpec(level="trace", job_name="Default - traces")],
        runs=3,
        items_per_run=1500,
        now=NOW,
        planted={("Default - traces", 2): Plant(Change.ERROR_HEAVY, scale=2.0)},
    )
    blank_titles(world)
    db = tmp_path_factory.mktemp("blank") / "bot.db"
    with Stack(database_url=f"sqlite:///{db}") as running:
        running.posthog.insert_events(world.events)
        running.posthog.set_jobs(world.jobs)
        yield running


def test_alerts_about_untitled_clusters_are_delivered(stack: Stack) -> None:
    report = stack.services.alerts.run_cycle()
    assert report.delivery is not None and report.delivery.failed == []
    assert report.delivery.sent >= 1
    assert [c for c in stack.slack.calls if c.error == "invalid_blocks"] == []
    posted = [m for m in stack.slack.messages(ALERT_CHANNEL) if not m.ephemeral_for]
    replies = [r for m in posted for r in stack.slack.thread(ALERT_CHANNEL, m.ts)]
    assert any(UNTITLED in all_text(m) for m in posted + replies)


def test_answers_about_untitled_clusters_arrive(stack: Stack) -> None:
    user = stack.user("U0BLANK")
    assert user.command("show 0").status_code == 200
    mine = lambda: [m for m in stack.slack.messages("C0GENERAL") if m.ephemeral_for == "U0BLANK"]  # noqa: E731
    assert stack.slack.wait_for(lambda: bool(mine()), 20)
    assert UNTITLED in all_text(mine()[-1])
    assert [c for c in stack.slack.calls_to("response_url") if c.error] == []


EMPTY: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": " "}},
    {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": ""}}
        ],
    },
]


def test_the_limits_layer_names_and_fills_empty_texts() -> None:
    problems = check_limits(EMPTY, "fallback")
    assert len([p for p in problems if "empty" in p]) == 4
    fitted, _ = enforce_limits(EMPTY, fallback_text="fallback")
    assert [p for p in check_limits(fitted, "fallback") if "empty" in p] == []
