"""Redelivered events are recognised by event_id for a while, within a bounded memory."""

from __future__ import annotations

from bot.slack.deliveries import SeenEvents


def test_an_event_is_taken_once_within_the_ttl() -> None:
    now = [0.0]
    seen = SeenEvents(ttl=600, clock=lambda: now[0])
    assert seen.take("Ev1") is True
    now[0] = 599.0
    assert seen.take("Ev1") is False  # Slack's last retry comes about 5 minutes later
    now[0] = 1200.0
    assert seen.take("Ev1") is True  # long forgotten: a new event as far as we can tell


def test_the_oldest_are_forgotten_past_the_limit() -> None:
    seen = SeenEvents(limit=3, clock=lambda: 0.0)
    assert all(seen.take(f"Ev{n}") for n in range(4))
    assert seen.take("Ev3") is False and seen.take("Ev2") is False
    assert seen.take("Ev0") is True  # pushed out by Ev3
