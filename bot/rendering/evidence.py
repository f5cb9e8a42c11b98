"""What an alert's fresh items are made of, in words: how many of them the run did not sample
but were assigned to the cluster by their summary embedding (`services/assigned_items.py`)."""

from __future__ import annotations

from bot.domain.alerts import Alert
from bot.domain.models import RunSummary
from bot.rendering.answers import item_noun


def assigned_note(alert: Alert, run: RunSummary) -> str:
    """ " · rests on 41 fresh traces, 17 of them assigned by embedding", or "" when none was."""
    if not alert.assigned_items or alert.items_after is None:
        return ""
    return (
        f" · rests on {alert.items_after} fresh {item_noun(run)}, {alert.assigned_items} of "
        "them assigned by embedding"
    )
