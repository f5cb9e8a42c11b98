"""The App Home tab and its modals, end to end: signed requests from a simulated user into the
real Bolt app over HTTP, views published to and opened in the fake Slack."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_bolt.context.context import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.domain.models import Level, SeriesKey
from bot.listeners.errors import handle_error
from bot.services.errors import CommandError
from bot.store.channels import Mute
from bot.store.schema import OutboxRow
from standins.slack.server import Message
from standins.slack.user_views import click_in_view, open_home, submit_view
from standins.slack.views import FakeView
from standins.stack import ALERT_CHANNEL, Stack
from standins.traffic.generator import SeriesSpec, World
from tests.support import worlds
from tests.support.blocks import all_text, mrkdwn_texts
from tests.support.clock import NOW

ADMIN, BOB = "U0ADMIN", "U0BOB"


@pytest.fixture(scope="module")
def home_world() -> World:
    series = [
        SeriesSpec(level="trace", job_name="Default - traces"),
        SeriesSpec(level="trace", job_name="Checkout assistant"),
    ]
    return worlds.generate(seed=5, series=series, runs=2, items_per_run=120, now=NOW)


@pytest.fixture
def stack(home_world: World, tmp_path: Any) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        worlds.load(running.posthog, home_world)
        running.slack.add_user(ADMIN, "admin")
        running.slack.set_admin(ADMIN)
        running.slack.add_user(BOB, "bob")
        yield running


def home_of(stack: Stack, user_id: str) -> dict[str, Any]:
    before = stack.slack.home_view(user_id)
    response = open_home(stack.user(user_id))
    assert response.status_code == 200, response.text
    assert stack.slack.wait_for(lambda: stack.slack.home_view(user_id) not in (None, before), 10)
    view = stack.slack.home_view(user_id)
    assert view is not None
    return view


def text_of(view: dict[str, Any]) -> str:
    return all_text(Message(ts="0", channel="", user="", blocks=view["blocks"]))


def action_ids(view: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for block in view["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id"):
                found.add(element["action_id"])
    return found


def modal_after(stack: Stack, user_id: str, opened: int) -> FakeView:
    assert stack.slack.wait_for(lambda: len(stack.slack.open_views(user_id)) > opened, 10)
    return stack.slack.open_views(user_id)[-1]


def mute(stack: Stack, title: str, channel: str = ALERT_CHANNEL) -> None:
    until = datetime.now(UTC) + timedelta(hours=5)
    stack.services.store.mute(
        Mute(channel, "run-1", len(title), title, until, ADMIN), SeriesKey(Level.TRACE, "job-1")
    )


def test_everyone_reads_the_home_tab_only_admins_get_edit_buttons(stack: Stack) -> None:
    stack.services.store.set_thresholds(ALERT_CHANNEL, {"cost_spike_pct": "80"}, ADMIN)
    mute(stack, "Refund questions")

    bob = home_of(stack, BOB)
    text = text_of(bob)
    assert f"<#{ALERT_CHANNEL}>" in text and "every level and job" in text
    assert "cost_spike_pct=80" in text and "default 50" in text
    assert "min_items" not in text  # at its default: only on "All thresholds"
    assert "Refund questions" in text
    assert "No alert cycle has finished yet" in text and "PostHog queries left" in text
    assert action_ids(bob) == {"home.all_thresholds"}
    assert "Only workspace admins" in text

    admin = home_of(stack, ADMIN)
    assert {"home.edit_thresholds", "home.edit_subscriptions", "home.unmute"} <= action_ids(admin)


def test_home_tab_reports_health_with_what_to_do(stack: Stack) -> None:
    stack.services.alerts.run_cycle()
    with Session(stack.services.store.engine) as session, session.begin():
        session.add(
            OutboxRow(channel="C0GONE", key="k1", run_id="r", blocks=[], text="x", status="failed")
        )
        session.flush()
        session.query(OutboxRow).update({"last_error": "channel_not_found"})
    text = text_of(home_of(stack, BOB))
    assert "Last alert cycle" in text and "No alert cycle" not in text
    assert "could not be delivered: 1 (1 × channel_not_found)" in text
    assert "/invite @clusters-bot" in text
    # This PostHog has no summary embeddings: the cycle found out, and the tab says what to do.
    assert "PostHog's summary embeddings:" in text and "upgrade PostHog" in text


def channels_on(view: dict[str, Any]) -> list[str]:
    return [
        b["block_id"].split(".")[0]
        for b in view["blocks"]
        if b.get("block_id", "").endswith(".subscriptions")
    ]


def test_home_tab_escapes_titles_and_pages_through_every_channel(stack: Stack) -> None:
    """60 channels do not fit one tab (100 blocks): it shows them a page at a time, counts
    channels (not blocks), and "More channels" / "Previous channels" reach every one."""
    mute(stack, "<!channel> & friends")
    for n in range(60):
        stack.services.store.subscribe(f"C0CH{n:04d}", Level.TRACE, None, ADMIN)
    expected = [ALERT_CHANNEL, *(f"C0CH{n:04d}" for n in range(60))]
    view = home_of(stack, ADMIN)
    joined = "\n".join(mrkdwn_texts(view["blocks"]))
    assert "&lt;!channel&gt; &amp; friends" in joined and "<!channel>" not in joined
    seen, pages = channels_on(view), [view]
    assert "Channels 1–15 of 61 (page 1 of 5)" in text_of(view)
    while "home.page" in action_ids(view):
        before = stack.slack.home_view(ADMIN)
        assert click_in_view(stack.user(ADMIN), view, "home.page").status_code == 200
        assert stack.slack.wait_for(lambda b=before: stack.slack.home_view(ADMIN) != b, 10)
        view = stack.slack.home_view(ADMIN) or {}
        assert len(view["blocks"]) <= 100  # the fake Slack accepted it: at most 100
        seen += channels_on(view)
        pages.append(view)
    assert seen == expected  # each channel once, in order, none cut
    assert "Channels 61–61 of 61 (page 5 of 5)" in text_of(view)
    assert "and 1 more" not in "".join(text_of(p) for p in pages)
    assert click_in_view(stack.user(BOB), view, "home.page.previous").status_code == 200
    assert stack.slack.wait_for(
        lambda: channels_on(stack.slack.home_view(BOB) or {"blocks": []}) == expected[45:60], 10
    )


def test_admin_edits_thresholds_with_the_command_s_words_for_errors(stack: Stack) -> None:
    admin = stack.user(ADMIN, "admin")
    home = home_of(stack, ADMIN)
    click_in_view(admin, home, "home.edit_thresholds", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)
    assert len(modal.view["blocks"]) <= 100

    response = submit_view(admin, modal.id, {"cost_spike_pct": "abc", "min_items": "20"})
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"cost_spike_pct"}
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}  # nothing saved
    command = stack.services.channel_settings
    with pytest.raises(CommandError, match="must be a number") as typed:
        command.set_thresholds(ALERT_CHANNEL, (("cost_spike_pct", "abc"),), ADMIN, reset=False)
    assert body["errors"]["cost_spike_pct"] == str(typed.value)  # one validation, one wording

    submit_view(admin, modal.id, {"cost_spike_pct": "80", "min_items": "20"})
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {
        "cost_spike_pct": "80",
        "min_items": "20",
    }
    assert stack.slack.open_views(ADMIN) == []  # closed
    assert stack.slack.wait_for(
        lambda: "cost_spike_pct=80" in text_of(stack.slack.home_view(ADMIN) or {"blocks": []}), 10
    )


def test_non_admin_submitting_an_admin_modal_is_refused_and_nothing_changes(
    stack: Stack,
) -> None:
    mute(stack, "Refund questions")
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_thresholds", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)
    bob = stack.user(BOB, "bob")
    body = submit_view(bob, modal.id, {"cost_spike_pct": "80"}).json()
    assert body["response_action"] == "update"
    assert "Only workspace admins" in json.dumps(body["view"])
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}

    with pytest.raises(LookupError):  # no edit buttons on Bob's tab
        click_in_view(bob, home_of(stack, BOB), "home.unmute")
    forged = dict(home_of(stack, ADMIN))
    click_in_view(bob, forged, "home.unmute", matching=ALERT_CHANNEL)  # a forged click
    refusal = modal_after(stack, BOB, 0)
    assert "Only workspace admins" in json.dumps(refusal.view)
    assert len(stack.services.store.active_mutes(ALERT_CHANNEL, datetime.now(UTC))) == 1


def test_subscriptions_modal_offers_posthog_s_jobs_and_saves(stack: Stack) -> None:
    admin = stack.user(ADMIN, "admin")
    stack.services.store.subscribe("C0GENERAL", Level.GENERATION, None, ADMIN)
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_subscriptions", matching="C0GENERAL")
    modal = modal_after(stack, ADMIN, 0)
    assert stack.slack.wait_for(
        lambda: "Checkout assistant" in json.dumps(stack.slack.views[modal.id].view), 10
    )
    submit_view(admin, modal.id, {"keep.0": [], "level": "trace", "job": "Checkout assistant"})
    rows = [(r.level, r.job) for r in stack.services.store.subscriptions("C0GENERAL")]
    assert rows == [("trace", "Checkout assistant")]  # the generation one was unticked


def test_unmute_modal_and_all_thresholds_for_anyone(stack: Stack) -> None:
    mute(stack, "Refund questions")
    mute(stack, "Password resets")
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.unmute", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)
    empty = submit_view(admin, modal.id, {"unmute": []}).json()
    assert empty["errors"] == {"unmute": "Tick at least one cluster."}
    options = {
        o["text"]["text"]: o["value"]
        for block in stack.slack.views[modal.id].view["blocks"]
        for o in block.get("element", {}).get("options", [])
    }
    assert set(options) == {"Refund questions", "Password resets"}
    submit_view(admin, modal.id, {"unmute": [options["Refund questions"]]})
    left = stack.services.store.active_mutes(ALERT_CHANNEL, datetime.now(UTC))
    assert [m.title for m in left] == ["Password resets"]

    bob = stack.user(BOB, "bob")
    click_in_view(bob, home_of(stack, BOB), "home.all_thresholds", matching=ALERT_CHANNEL)
    listing = json.dumps(modal_after(stack, BOB, 0).view)
    assert "min_items=10" in listing and "quiet_summary=off" in listing


def test_fake_slack_views_are_as_strict_as_slack(stack: Stack) -> None:
    client = WebClient(token=stack.slack.bot_token, base_url=stack.slack.api_url)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": [section]}
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        client.views_open(trigger_id="123.made.up", view=modal)
    trigger = stack.slack.issue_trigger(ADMIN)
    client.views_open(trigger_id=trigger, view=modal)
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):  # used once only
        client.views_open(trigger_id=trigger, view=modal)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.views_publish(user_id=ADMIN, view={"type": "home", "blocks": [section] * 101})


def test_subscriptions_modal_still_works_when_posthog_is_down(stack: Stack) -> None:
    stack.posthog.faults.add(500, count=1000, path_contains="/")
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_subscriptions", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)
    assert "default alert channel" in json.dumps(modal.view)
    assert stack.slack.wait_for(
        lambda: "You can still pick a level" in json.dumps(stack.slack.views[modal.id].view), 30
    )
    stack.posthog.faults.clear()
    submit_view(admin, modal.id, {"level": "evaluation"})
    rows = [(r.level, r.job) for r in stack.services.store.subscriptions(ALERT_CHANNEL)]
    assert rows == [("evaluation", None)]


def test_a_forged_modal_for_a_bad_channel_changes_nothing(stack: Stack) -> None:
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_thresholds", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)
    stack.slack.views[modal.id].view["private_metadata"] = '{"channel": "<!channel>"}'
    response = submit_view(admin, modal.id, {"cost_spike_pct": "80"})
    assert response.json()["response_action"] == "update"
    assert "cannot be saved" in json.dumps(response.json()["view"])
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}
    assert stack.services.store.thresholds("<!channel>") == {}


def subscriptions_modal_of(stack: Stack, channel: str) -> FakeView:
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_subscriptions", matching=channel)
    modal = modal_after(stack, ADMIN, 0)
    assert stack.slack.wait_for(  # the job picker filled in from PostHog
        lambda: "Checkout assistant" in json.dumps(stack.slack.views[modal.id].view), 10
    )
    return stack.slack.views[modal.id]


def listed(modal: FakeView) -> list[str]:
    return [
        option["text"]["text"]
        for block in modal.view["blocks"]
        if str(block.get("block_id", "")).startswith("keep.")
        for option in block["element"]["options"]
    ]


def test_saving_the_subscriptions_modal_unchanged_keeps_all_twelve(stack: Stack) -> None:
    jobs = [f"Job {n:02d}" for n in range(12)]
    for job in jobs:
        stack.services.store.subscribe("C0GENERAL", Level.TRACE, job, ADMIN)
    modal = subscriptions_modal_of(stack, "C0GENERAL")
    assert len(listed(modal)) == 12  # two checkbox groups: Slack takes ten per group
    submit_view(stack.user(ADMIN, "admin"), modal.id, {})
    assert stack.slack.open_views(ADMIN) == []  # saved and closed
    rows = stack.services.store.subscriptions("C0GENERAL")
    assert sorted(row.job or "" for row in rows) == jobs


def test_a_subscription_added_while_the_modal_is_open_survives_its_save(stack: Stack) -> None:
    for job in ("Default - traces", "Refunds", "Search"):
        stack.services.store.subscribe("C0GENERAL", Level.TRACE, job, ADMIN)
    modal = subscriptions_modal_of(stack, "C0GENERAL")
    admin = stack.user(ADMIN, "admin")
    answer = admin.command('subscribe generation "Checkout assistant"', channel="C0GENERAL")
    assert answer.status_code == 200
    assert stack.slack.wait_for(
        lambda: len(stack.services.store.subscriptions("C0GENERAL")) == 4, 10
    )
    refunds = next(
        str(r.id) for r in stack.services.store.subscriptions("C0GENERAL") if r.job == "Refunds"
    )
    kept = [
        option["value"]
        for option in modal.view["blocks"][1]["element"]["options"]
        if option["value"] != refunds
    ]
    submit_view(admin, modal.id, {"keep.0": kept})  # Refunds unticked
    rows = {(r.level, r.job) for r in stack.services.store.subscriptions("C0GENERAL")}
    assert rows == {
        ("trace", "Default - traces"),
        ("trace", "Search"),
        ("generation", "Checkout assistant"),  # not in the modal: untouched
    }


@pytest.mark.parametrize(
    ("raised", "shown", "logged"),
    [
        (
            RuntimeError("database is locked"),
            "Something went wrong while saving (error id ",
            "slack.request.failed",
        ),
        (
            CommandError("Thresholds are being changed by someone else."),
            "by someone else",
            "slack.request.refused",
        ),
    ],
    ids=["bug", "known"],
)
def test_a_submission_that_fails_keeps_the_modal_open_and_says_why(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    raised: Exception,
    shown: str,
    logged: str,
) -> None:
    """Slack closes a modal on an empty 200 as if it had been saved: a failure must show."""
    caplog.set_level(logging.INFO, logger="bot.listeners.errors")
    admin = stack.user(ADMIN, "admin")
    click_in_view(admin, home_of(stack, ADMIN), "home.edit_thresholds", matching=ALERT_CHANNEL)
    modal = modal_after(stack, ADMIN, 0)

    def fail(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(stack.services.channel_settings, "set_thresholds", fail)
    response = submit_view(admin, modal.id, {"cost_spike_pct": "80"})

    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    ((field, problem),) = body["errors"].items()
    assert shown in problem
    still = stack.slack.views[modal.id]
    assert still.open and still.errors == {field: problem}  # the fake showed it, as Slack does
    assert logged in [record.getMessage() for record in caplog.records]


def test_a_failing_submission_of_a_modal_without_fields_is_answered_with_a_notice() -> None:
    view = {
        "type": "modal",
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "x"}}],
    }
    body = {"type": "view_submission", "view": view}
    answer = handle_error(RuntimeError("boom"), body, BoltContext({"services": None}))
    sent = json.loads(answer.body)
    assert sent["response_action"] == "update"
    assert "Something went wrong while saving" in json.dumps(sent["view"])
