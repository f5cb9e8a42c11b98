"""A run's fresh slices enlarged with its assigned items, for the alert cycle.

After slicing, for a trace or generation run with a fresh slice: one query assigns the run's
unsampled fresh items to its clusters (`AssignmentService`), and when the held-out agreement
makes them usable, one more query reads the assigned items' own values
(`posthog/item_values.py`); each cluster's fresh slice then holds them as assigned items
(`domain/slices.py`, which says what the tests do with them). Two queries per run at most,
from the scheduler's budget.

When the embeddings cannot be read, the agreement is too low, or the values query fails, the
view is returned as it was: alerts rest on the run's sample, exactly as without assignment.
When PostHog has no embeddings table or the key may not read it (`PAUSING`), which no run
changes, no run is assigned for `PAUSE` after it: an older self-hosted PostHog costs one
query per `PAUSE`, not one per run.
What happened is kept in the store's heartbeat table (row `assignment`, JSON: the latest
runs' agreement and counts, and the latest reason the embeddings could not be read), where
`/clusters show` and the Home tab's health read it from any process.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.models import ClusterItem, RunSummary
from bot.domain.run_view import RunView
from bot.posthog.client import PostHogClient
from bot.posthog.errors import PostHogError
from bot.posthog.item_values import ITEM_VALUES, fetch_item_values
from bot.services.assignment import (
    Assignment,
    AssignmentService,
    AssignmentStatus,
    Unavailable,
)
from bot.store.ports import Heartbeats

logger = logging.getLogger(__name__)

PAUSE = timedelta(hours=6)
PAUSING = frozenset({Unavailable.MISSING, Unavailable.DENIED})

ASSIGNMENT_BEAT = "assignment"
KEPT_RUNS = 300  # runs whose assignment the heartbeat row remembers (about a month of 10 jobs)


@dataclass(frozen=True)
class RunAssignment:
    """What the assignment of one run came to, as `/clusters show` reports it."""

    run_id: str
    status: str
    agreement: float | None = None
    held_out: int = 0
    assigned: int = 0
    used: bool = False
    reason: str = ""

    @property
    def line(self) -> str:
        """One line for people: the agreement and whether the items were used."""
        if self.status == AssignmentStatus.UNAVAILABLE.value:
            return f"Unsampled items: not assigned (embeddings unavailable: {self.reason})"
        if self.agreement is None:
            return "Unsampled items: none could be assigned"
        used = "counted in alerts" if self.used else "not used (agreement below 80 %)"
        return (
            f"Unsampled items: {self.assigned} assigned by embedding, {used}; held-out "
            f"agreement {self.agreement:.0%} over {self.held_out} sampled items"
        )


@dataclass(frozen=True)
class AssignmentHealth:
    """The latest runs' assignments and the latest reason nothing could be read."""

    runs: dict[str, RunAssignment]
    unavailable: str = ""
    fix: str = ""
    at: datetime | None = None


def read_assignments(store: Heartbeats) -> AssignmentHealth:
    beat = store.heartbeat(ASSIGNMENT_BEAT)
    if beat is None:
        return AssignmentHealth({})
    try:
        detail = json.loads(beat[1] or "{}")
        runs = {rid: RunAssignment(rid, **fields) for rid, fields in detail["runs"].items()}
        return AssignmentHealth(runs, detail.get("unavailable", ""), detail.get("fix", ""), beat[0])
    except (ValueError, TypeError, KeyError, AttributeError):
        return AssignmentHealth({}, at=beat[0])


def record_assignment(store: Heartbeats, result: Assignment, used: bool) -> None:
    """Keep what `result` came to for `/clusters show` and the Home tab (module docstring)."""
    beat = store.heartbeat(ASSIGNMENT_BEAT)
    try:
        detail: dict[str, Any] = json.loads(beat[1]) if beat and beat[1] else {}
        runs: dict[str, Any] = dict(detail.get("runs", {}))
    except (ValueError, TypeError, AttributeError):
        detail, runs = {}, {}
    runs.pop(result.run_id, None)
    runs[result.run_id] = {
        "status": result.status.value,
        "agreement": result.agreement,
        "held_out": result.held_out_assigned,
        "assigned": len(result.assigned),
        "used": used,
        "reason": result.reason.value if result.reason else "",
    }
    detail["runs"] = dict(list(runs.items())[-KEPT_RUNS:])
    if result.status is AssignmentStatus.UNAVAILABLE:
        detail["unavailable"], detail["fix"] = result.detail[:300], result.fix
    elif result.status is AssignmentStatus.ASSIGNED:
        detail["unavailable"], detail["fix"] = "", ""
    store.beat(ASSIGNMENT_BEAT, json.dumps(detail))


@dataclass
class FreshEnlarger:
    """Adds each new run's assigned items to its fresh slices (module docstring)."""

    assigner: AssignmentService
    client: PostHogClient
    store: Heartbeats | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    paused_until: datetime | None = None

    def enlarge(self, view: RunView, run: RunSummary) -> RunView:
        """`view` with the run's usable assigned items in its fresh slices, or `view` itself."""
        slices = view.slices
        if not slices.usable or run.level not in ITEM_VALUES or run.window_end is None:
            return view
        if self.paused_until is not None and self.clock() < self.paused_until:
            return view
        result = self.assigner.assign(run, fresh_from=slices.cutoff)
        if result.reason in PAUSING:
            self.paused_until = self.clock() + PAUSE
        used = False
        try:
            if not result.usable or not result.assigned:
                return view
            try:
                values = fetch_item_values(
                    self.client,
                    run.level,
                    [item.item_id for item in result.assigned],
                    (slices.cutoff, run.window_end),
                )
            except PostHogError as error:
                logger.warning(
                    "assignment.values_failed", extra={"run_id": run.run_id, "error": str(error)}
                )
                return view
            by_cluster: dict[int, list[ClusterItem]] = defaultdict(list)
            for item in result.assigned:
                found = values.get(item.item_id)
                if found is not None and item.cluster_id in slices.clusters:
                    by_cluster[item.cluster_id].append(
                        found.as_item(run.level, timestamp=item.item_time)
                    )
            used = bool(by_cluster)
            return view.with_assigned(
                {cid: tuple(items) for cid, items in by_cluster.items()}, result.agreement
            )
        finally:
            if self.store is not None and result.status is not AssignmentStatus.UNSUPPORTED:
                record_assignment(self.store, result, used)
