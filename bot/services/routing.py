"""Which channels hear about a run, and under which thresholds."""

from __future__ import annotations

import logging
from collections import defaultdict

from bot.domain.models import RunSummary
from bot.domain.thresholds import Thresholds
from bot.store.ports import Subscriptions

logger = logging.getLogger(__name__)

QUIET_SUMMARY = "quiet_summary"


class Routing:
    """Which channels hear about a run: their subscriptions, else the default alert channel."""

    def __init__(self, store: Subscriptions, default_channel: str | None) -> None:
        self.store = store
        self.default_channel = default_channel

    def channels_for(self, run: RunSummary) -> list[str]:
        by_channel: dict[str, list[tuple[str | None, str | None, bool]]] = defaultdict(list)
        for row in self.store.subscriptions():
            by_channel[row.channel].append((row.level, row.job, row.active))
        channels = [
            channel
            for channel, rows in by_channel.items()
            if any(active and _matches(level, job, run) for level, job, active in rows)
        ]
        if self.default_channel and self.default_channel not in by_channel:
            channels.insert(0, self.default_channel)
        return channels


def _matches(level: str | None, job: str | None, run: RunSummary) -> bool:
    if level is not None and level != run.level.value:
        return False
    if job is None:
        return True
    needle = job.casefold()
    return needle in (run.job_id.casefold(), run.job_name.casefold())


def thresholds_for(settings: dict[str, str]) -> Thresholds:
    """A channel's thresholds. A stored value that no longer validates (or a threshold that no
    longer exists) is left at its default; the others still apply."""
    thresholds = Thresholds()
    for name, value in settings.items():
        if name == QUIET_SUMMARY:
            continue
        try:
            thresholds = thresholds.with_overrides({name: value})
        except ValueError:
            logger.warning("alerts.thresholds.invalid", extra={"name": name, "value": value})
    return thresholds
