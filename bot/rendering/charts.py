"""The words that go with charts in a thread: an upload's caption and the notices.

A caption quotes a cluster title (LLM-written), so it is escaped here, once, like every other
message; the chart service only draws and uploads (bot/services/charts.py).
"""

from __future__ import annotations

from bot.slack.escape import SafeMrkdwn, md

NO_MAP = "No map for this run: PostHog stored no 2-D coordinates for its items."


def chart_caption(alert: str, title: str, *, vanished: bool = False) -> SafeMrkdwn:
    """The comment above an alert's charts: "Cost spike: <title>"."""
    caption = md("{}: {}", alert, title) if title else md("{}", alert)
    return md("{}{}", caption, " (as it was in the run before)" if vanished else "")


def chart_notice(reason: str) -> SafeMrkdwn:
    """The one line a thread gets when its chart could not be drawn or uploaded."""
    return md("Couldn't attach the chart: {}", reason)


def no_map_notice() -> SafeMrkdwn:
    return md("{}", NO_MAP)
