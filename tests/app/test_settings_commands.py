"""Settings from Slack (subscriptions, thresholds, mutes): admins change, anyone reads; and
what each question costs in PostHog queries, cold and cached."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import Level, SeriesKey
from bot.store.store import Mute
from standins.slack.server import Message
from standins.stack import ALERT_CHANNEL, Stack
from tests.support.alerting import load, make_world, parents
from tests.support.blocks import all_text


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(database_url=f"sqlite:///{tmp_path / 'bot.db'}") as running:
        load(running, make_world())
        running.slack.add_user("U0ADMIN", "admin")
        running.slack.set_admin("U0ADMIN")
        yield running


def say(stack: Stack, user_id: str, text: str, channel: str = ALERT_CHANNEL) -> str:
    user = stack.user(user_id)
    before = len([m for m in stack.slack.messages(channel) if m.ephemeral_for == user_id])
    assert user.command(text, channel=channel).status_code == 200

    def answers() -> list[Message]:
        return [m for m in stack.slack.messages(channel) if m.ephemeral_for == user_id]

    assert stack.slack.wait_for(lambda: len(answers()) > before, 20), text
    return all_text(answers()[-1])


def test_non_admins_cannot_change_settings_but_can_read_them(stack: Stack) -> None:
    for text in (
        "subscribe trace",
        "unsubscribe",
        "thresholds cost_spike_pct=80",
        "mute 1",
        "unmute 1",
        "thresholds reset",
    ):
        assert "Only workspace admins" in say(stack, "U0BOB", text), text
    assert "cost_spike_pct=50" in say(stack, "U0BOB", "thresholds")
    assert "every level and job" in say(stack, "U0BOB", "subscriptions")
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}


def test_admin_sets_thresholds_with_validation(stack: Stack) -> None:
    answer = say(stack, "U0ADMIN", "thresholds cost_spike_pct=80 min_items=20")
    assert "Thresholds updated" in answer and "cost_spike_pct=80.0" in answer
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {
        "cost_spike_pct": "80",
        "min_items": "20",
    }
    bad = say(stack, "U0ADMIN", "thresholds cost_spike_pct=abc")
    assert "cost_spike_pct" in bad and "must be a number" in bad
    unknown = say(stack, "U0ADMIN", "thresholds nonsense=1")
    assert "nonsense" in unknown and "cost_spike_pct" in unknown  # lists the valid names
    assert stack.services.store.thresholds(ALERT_CHANNEL)["cost_spike_pct"] == "80"
    assert "reset" in say(stack, "U0ADMIN", "thresholds reset")
    assert stack.services.store.thresholds(ALERT_CHANNEL) == {}


def test_raised_thresholds_silence_the_alerts(stack: Stack) -> None:
    assert stack.services.alerts.run_cycle(dry_run=True).alerts >= 3  # the defaults alert
    answer = say(
        stack,
        "U0ADMIN",
        "thresholds cost_spike_pct=10000 error_rate_pct=100 size_shift_points=100 "
        "new_cluster_pct=100 vanished_cluster_pct=100 latency_spike_pct=10000 "
        # a fresh slice of a few items can be all errors (100%): ask for more items than any
        # slice holds before cost, latency or errors are judged
        "outlier_growth_points=100 min_fresh_items=100000",
    )
    assert "Thresholds updated" in answer
    stack.services.alerts.run_cycle()
    assert [all_text(m) for m in parents(stack)] == []


def test_subscriptions_route_and_opt_out(stack: Stack) -> None:
    ops = stack.slack.create_channel("llm-ops", "C0OPS")
    assert "now gets alerts" in say(stack, "U0ADMIN", 'subscribe trace "Checkout assistant"', ops)
    assert "Checkout assistant" in say(stack, "U0BOB", "subscriptions", ops)
    assert "no longer gets alerts" in say(stack, "U0ADMIN", "unsubscribe")  # the default channel
    stack.services.alerts.run_cycle()
    assert parents(stack) == []
    in_ops = [m for m in stack.slack.messages(ops) if not m.ephemeral_for]
    assert len(in_ops) == 1 and "Checkout assistant" in all_text(in_ops[0])


def test_mute_command_and_button(stack: Stack) -> None:
    stack.services.alerts.run_cycle()
    parent = parents(stack)[0]
    detail = stack.slack.thread(ALERT_CHANNEL, parent.ts)[0]
    refused = stack.user("U0BOB")
    assert refused.click(detail, "clusters.mute.24").status_code == 200

    def refusals() -> list[Message]:
        seen = stack.slack.messages(ALERT_CHANNEL) + stack.slack.thread(ALERT_CHANNEL, parent.ts)
        return [m for m in seen if m.ephemeral_for == "U0BOB"]

    assert stack.slack.wait_for(lambda: bool(refusals()), 20)
    assert "Only workspace admins" in all_text(refusals()[-1])
    admin = stack.user("U0ADMIN")
    assert admin.click(detail, "clusters.mute.168").status_code == 200
    assert stack.slack.wait_for(
        lambda: any("muted" in m.text for m in stack.slack.thread(ALERT_CHANNEL, parent.ts)), 20
    )
    note = next(m for m in stack.slack.thread(ALERT_CHANNEL, parent.ts) if "muted" in m.text)
    assert "<@U0ADMIN>" in note.text
    mutes = say(stack, "U0BOB", "mutes")
    assert "set by U0ADMIN" in mutes
    assert "Unmuted" in say(
        stack, "U0ADMIN", "unmute " + mutes.split("• ")[1].split(" until")[0][:20]
    )
    assert "No mute matches" in say(stack, "U0ADMIN", "unmute nothing-like-this")


def test_unmute_by_id_means_that_cluster_of_the_newest_run_not_the_id_in_any_run(
    stack: Stack,
) -> None:
    """Cluster ids change every run: `unmute 1` lifts the mute on cluster 1 as `mute 1` resolves
    it, and leaves a mute that an older run's cluster 1 (another cluster) still holds."""
    store, clock = stack.services.store, stack.services.channel_settings.clock
    until = clock() + timedelta(days=2)
    older = Mute(ALERT_CHANNEL, "an-older-run", 1, "Gone since then", until, "U0ADMIN")
    store.mute(older, SeriesKey(Level.TRACE, "an-older-job"))

    assert "No mute matches `1`" in say(stack, "U0ADMIN", "unmute 1")
    assert [m.title for m in store.active_mutes(ALERT_CHANNEL, clock())] == ["Gone since then"]

    assert "Muted" in say(stack, "U0ADMIN", "mute 1")
    assert len(store.active_mutes(ALERT_CHANNEL, clock())) == 2
    assert "Unmuted 1 cluster" in say(stack, "U0ADMIN", "unmute 1")
    assert [m.title for m in store.active_mutes(ALERT_CHANNEL, clock())] == ["Gone since then"]
    assert "Unmuted 1 cluster" in say(stack, "U0ADMIN", "unmute gone since")
    assert store.active_mutes(ALERT_CHANNEL, clock()) == []


def test_queries_per_command_cold_and_cached(stack: Stack) -> None:
    """A cold `latest` loads its run once; within RUN_LIST_CACHE_SECONDS a question reuses the
    run list, so cached answers cost no query at all."""

    def cost(text: str) -> int:
        before = len(stack.posthog.hogql_log)
        say(stack, "U0Q", text)
        return len(stack.posthog.hogql_log) - before

    assert cost("latest") == 2  # the run list, then the run (metrics embedded)
    assert cost("latest") == 0
    assert cost("runs") == 0
    assert cost("top cost") == 1  # the two other jobs' latest runs, in one query
    assert cost("top cost") == 0
    assert cost("show 0") == 2  # the representative items' numbers and titles
    assert cost("show 0") == 0


def test_subscribe_joins_a_public_channel_and_asks_for_an_invite_in_a_private_one(
    stack: Stack,
) -> None:
    public = stack.slack.create_channel("llm-public", "C0PUBSUB", member=False)
    answer = say(stack, "U0ADMIN", "subscribe", public)
    assert "now gets alerts" in answer and "joined this channel" in answer
    assert stack.slack.channels[public].is_member
    private = stack.slack.create_channel("llm-private", "G0PRIVSUB", member=False, private=True)
    answer = say(stack, "U0ADMIN", "subscribe", private)
    assert "now gets alerts" in answer and "/invite @clusters-bot" in answer
    assert not stack.slack.channels[private].is_member
    assert [c.params["channel"] for c in stack.slack.calls_to("conversations.join")] == [public]
    stack.services.alerts.run_cycle()  # the joined channel gets its alerts
    assert [m for m in stack.slack.messages(public) if not m.ephemeral_for]
