"""The detector's own failures, where every process can read them: a test of one cluster that
raised (`fresh.detect` isolates it) is logged by the alert cycle and counted here, for
`/metrics` (`clusters_bot_detector_failures_total`) and the Home tab's health.

The count lives in the store's heartbeat table (row `detector`, a JSON detail), since the web
process that serves both reads what the scheduler process wrote; no schema change needed. Two
schedulers recording at the same instant can lose one increment: the count is for noticing a
failing test, not for accounting."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.fresh_base import TestFailure
from bot.store.ports import Heartbeats

logger = logging.getLogger(__name__)

DETECTOR_BEAT = "detector"


@dataclass(frozen=True)
class DetectorFailures:
    """How many detector tests failed since the store began, and the latest one."""

    total: int = 0
    last: str = ""
    run_id: str = ""
    at: datetime | None = None


def read_failures(store: Heartbeats) -> DetectorFailures:
    beat = store.heartbeat(DETECTOR_BEAT)
    if beat is None:
        return DetectorFailures()
    try:
        detail = json.loads(beat[1] or "{}")
        return DetectorFailures(
            int(detail.get("total", 0)),
            str(detail.get("last", "")),
            str(detail.get("run", "")),
            beat[0],
        )
    except (ValueError, TypeError, AttributeError):
        return DetectorFailures(at=beat[0])


def record_failures(store: Heartbeats, run_id: str, failures: Sequence[TestFailure]) -> None:
    """Log each failed test with its run, cluster and test, and add them to the count."""
    if not failures:
        return
    for failure in failures:
        logger.error(
            "alerts.detector.test_failed",
            extra={
                "run_id": run_id,
                "cluster_id": failure.cluster_id,
                "test": failure.test,
                "error": failure.error,
            },
        )
    total = read_failures(store).total + len(failures)
    detail = {"total": total, "last": str(failures[-1])[:300], "run": run_id}
    store.beat(DETECTOR_BEAT, json.dumps(detail))
