"""Which conversations may get link cards, decided from the event and conversations.info on
the fake Slack (membership and sharing as Slack reports them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.slack.conversations import ConversationInfo, may_unfurl
from standins.slack.server import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def info(fake: FakeSlack, clock: list[float] | None = None) -> ConversationInfo:
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)
    now = clock if clock is not None else [0.0]
    return ConversationInfo(client, ttl=60, clock=lambda: now[0])


def test_a_link_still_in_the_composer_waits_for_its_post(fake: FakeSlack) -> None:
    event = {"channel": "COMPOSER", "source": "composer", "is_bot_user_member": True}
    assert not may_unfurl(event, info(fake), allow_external=True)
    assert fake.calls_to("conversations.info") == []


def test_without_the_event_s_flag_membership_comes_from_slack(fake: FakeSlack) -> None:
    outside = fake.create_channel("random", "C0RANDOM", member=False)
    conversations = info(fake)
    assert may_unfurl({"channel": "C0GENERAL"}, conversations, allow_external=False)
    assert not may_unfurl({"channel": outside}, conversations, allow_external=False)
    assert not may_unfurl({"channel": "C0NOSUCH"}, conversations, allow_external=True)


def test_answers_are_kept_for_the_ttl_then_asked_again(fake: FakeSlack) -> None:
    clock = [0.0]
    conversations = info(fake, clock)
    connect = fake.create_channel("acme", "C0ACME", external=True)
    assert conversations.get(connect) is not None
    clock[0] = 59.0
    assert conversations.get(connect) is not None
    assert len(fake.calls_to("conversations.info")) == 1
    fake.set_member(connect, False)  # the bot was removed
    clock[0] = 61.0
    found = conversations.get(connect)
    assert found is not None and found.member is False and found.external is True
    assert len(fake.calls_to("conversations.info")) == 2
