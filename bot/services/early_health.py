"""Early warnings' health, where every process can read it: the scheduler's check records when
it last ran and whether it is paused (the summary embeddings cannot be read: why, and until
when); the Home tab and `clusters-bot doctor` read it back, with the interval from the settings
and the open warnings counted in the store.

It lives in the store's heartbeat table (row `early`, a JSON detail), like the detector's
failures (bot/services/detector_health.py): the web process reads what the scheduler wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.services.assignment import FIXES, Unavailable
from bot.store.ports import Heartbeats
from bot.views import EarlyHealth

EARLY_BEAT = "early"


@dataclass(frozen=True)
class EarlyPause:
    """The checks rest until `until`: the embeddings cannot be read (`reason`, with its fix)."""

    until: datetime
    reason: Unavailable


def record_early_check(store: Heartbeats, at: datetime, pause: EarlyPause | None) -> None:
    """Remember that a check ran at `at`, and the pause it is under, if any."""
    detail: dict[str, str] = {"at": at.isoformat()}
    if pause is not None:
        detail |= {"paused_until": pause.until.isoformat(), "reason": pause.reason.value}
    store.beat(EARLY_BEAT, json.dumps(detail))


def read_early_health(
    store: Heartbeats, interval: timedelta | None, open_warnings: int, now: datetime
) -> EarlyHealth:
    """The recorded check and pause, with `interval` and `open_warnings` as given; a pause
    over by `now` is not reported."""
    beat = store.heartbeat(EARLY_BEAT)
    if beat is None:
        return EarlyHealth(interval, open_warnings=open_warnings)
    try:
        detail = json.loads(beat[1] or "{}")
        last = datetime.fromisoformat(detail["at"]) if detail.get("at") else beat[0]
        if not detail.get("paused_until"):
            return EarlyHealth(interval, last, open_warnings)
        until = datetime.fromisoformat(detail["paused_until"])
        why = FIXES[Unavailable(detail.get("reason", "failed"))]
    except (ValueError, TypeError, AttributeError, KeyError):
        return EarlyHealth(interval, last_check=beat[0], open_warnings=open_warnings)
    if until <= now:
        return EarlyHealth(interval, last, open_warnings)
    return EarlyHealth(interval, last, open_warnings, until, why)
