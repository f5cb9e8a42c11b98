"""The moment tests generate their data around: noon (UTC) of the day before the real today.

The code under test reads the real clock (its look-back windows, the local PostHog's `now()`),
so the data must move with it: a fixed date breaks the suite a week later. Noon of yesterday is
always 12-36 hours in the past, and every run of the suite sees the same hour of the day, so the
generated worlds differ between days only by their date. `make test` also runs a fast tier under
`faketime` far ahead to prove that no test depends on the day.

The controller of a parallel run fixes the moment in `CLUSTERS_BOT_TEST_NOW` before its workers
start, so a run that crosses midnight still has one `NOW`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

VARIABLE = "CLUSTERS_BOT_TEST_NOW"


def _yesterday_noon() -> datetime:
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


def _now() -> datetime:
    fixed = os.environ.get(VARIABLE)
    if fixed:
        return datetime.fromisoformat(fixed).astimezone(UTC)
    moment = _yesterday_noon()
    os.environ[VARIABLE] = moment.isoformat()
    return moment


NOW = _now()
