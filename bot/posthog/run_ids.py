"""The day a clustering run's id names: a hint for the date range of a lookup by id.

PostHog has changed the id's shape over time, so any id that exists is a run; the shape only
narrows where to look (reference/posthog.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ID_DAY = re.compile(r"(?<![0-9])([0-9]{4})-?([0-9]{2})-?([0-9]{2})(?![0-9])")


def run_day(run_id: str) -> datetime | None:
    """The UTC day a run id names, if any: a hint, never a requirement.

    Formats seen: `{team}_{level}_{YYYYMMDD}_{HHMMSS}[_job][_label]` (current),
    `{team}_{YYYYMMDD}_{HHMMSS}` (before levels), `team_{team}_{YYYY-MM-DD}T…Z` (the first
    runs), and evaluation ids with the job before the time. The first valid date wins.
    """
    for match in _ID_DAY.finditer(run_id):
        try:
            year, month, day = (int(part) for part in match.groups())
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            continue
    return None
