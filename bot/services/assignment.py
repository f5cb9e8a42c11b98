"""Each run's unsampled fresh items, assigned to the run's clusters by their summary embeddings.

One query per run (`bot.posthog.embeddings`, from the scheduler's budget) returns, for the
held-out sampled items and the unsampled items of the fresh period, the nearest cluster mean
(cosine distance), the second nearest and the cluster's radius. An item is assigned only when
the winner is clear: the second nearest is at least `margin` (relative) farther, and the item
lies within the cluster's radius (so an item that fits no cluster, as HDBSCAN's noise, stays
unassigned). The held-out items are assigned the same way and compared with their cluster in
the run: that agreement is reported with the result, and the items are `usable` only when it
is at least `min_agreement` over at least `min_held_out` assigned held-out items.

When the summaries or embeddings cannot be read (an older PostHog without the table, a key
without access, a timeout, a spent budget) the result says so (`AssignmentStatus.UNAVAILABLE`,
with the reason and its fix), the first time of each kind is logged, and nothing is raised:
the caller works on the run's sample alone, as before.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.domain.models import RunSummary
from bot.posthog.client import PostHogClient
from bot.posthog.embeddings import (
    DOCUMENT_TYPES,
    SUMMARY_EMBEDDING_MODEL,
    Probe,
    count_recent,
    fetch_probes,
)
from bot.posthog.errors import (
    PostHogAuthError,
    PostHogBadQuery,
    PostHogError,
    PostHogQueryDenied,
    PostHogQueryTimeout,
    PostHogRateLimited,
    PostHogUnavailable,
)

logger = logging.getLogger(__name__)

MARGIN = 0.05  # the second nearest cluster is at least 5 % farther than the nearest
MIN_AGREEMENT = 0.8
MIN_HELD_OUT = 20


class AssignmentStatus(StrEnum):
    ASSIGNED = "assigned"  # the query ran; `usable` says whether to count the items
    NO_DATA = "no_data"  # it ran, but this run has no embeddings or no cluster to assign to
    UNSUPPORTED = "unsupported"  # evaluation-level runs have no summaries
    UNAVAILABLE = "unavailable"  # the summaries or embeddings could not be read


class Unavailable(StrEnum):
    """Why the embeddings could not be read; each has its fix (`FIXES`)."""

    MISSING = "missing"
    DENIED = "denied"
    TIMEOUT = "timeout"
    BUDGET = "budget"
    FAILED = "failed"


FIXES = {
    Unavailable.MISSING: "this PostHog has no summary embeddings to query (a self-hosted version "
    "older than the document_embeddings table?). Fix: upgrade PostHog; until then alerts rest "
    "on each run's sample only.",
    Unavailable.DENIED: "the API key may not read the summary embeddings. Fix: give the key "
    "query:read on this project (and llm_analytics:read); until then alerts rest on each run's "
    "sample only.",
    Unavailable.TIMEOUT: "PostHog stopped the assignment query at its time limit. It usually "
    "passes when PostHog is less busy; alerts rest on the run's sample until it does.",
    Unavailable.BUDGET: "the query budget is spent for now; the next cycle tries again.",
    Unavailable.FAILED: "PostHog could not run the assignment query. Alerts rest on each run's "
    "sample until it can.",
}


@dataclass(frozen=True, slots=True)
class AssignedItem:
    """An unsampled fresh item given to `cluster_id`; `margin` is how much farther (relative)
    the second nearest cluster is."""

    item_id: str
    cluster_id: int
    item_time: datetime | None
    distance: float
    margin: float


@dataclass(frozen=True)
class Assignment:
    """One run's assignment. `agreement` is the share of the assigned held-out items given to
    their own cluster (None when none was assigned); `held_out_assigned` of `held_out` were."""

    run_id: str
    status: AssignmentStatus
    assigned: tuple[AssignedItem, ...] = ()
    unassigned: int = 0
    held_out: int = 0
    held_out_assigned: int = 0
    agreement: float | None = None
    usable: bool = False
    reason: Unavailable | None = None
    detail: str = ""

    @property
    def fix(self) -> str:
        return FIXES[self.reason] if self.reason is not None else ""

    def per_cluster(self) -> dict[int, int]:
        """Assigned items per cluster."""
        return dict(Counter(item.cluster_id for item in self.assigned))


def decide(probe: Probe, margin: float = MARGIN) -> int | None:
    """The cluster `probe` is assigned to, or None when there is no clear winner: the nearest
    cluster must be within its radius and the second nearest at least `margin` farther."""
    if probe.cluster_id is None or probe.distance is None:
        return None
    if probe.radius is not None and probe.distance > probe.radius:
        return None
    if probe.second is not None:
        if probe.second <= 0 or (probe.second - probe.distance) / probe.second < margin:
            return None
    return probe.cluster_id


def relative_margin(probe: Probe) -> float:
    if probe.distance is None or probe.second is None or probe.second <= 0:
        return 1.0 if probe.distance is not None else 0.0
    return (probe.second - probe.distance) / probe.second


def classify(error: PostHogError) -> Unavailable:
    if isinstance(error, PostHogRateLimited):
        return Unavailable.BUDGET
    if isinstance(error, PostHogAuthError | PostHogQueryDenied):
        return Unavailable.DENIED
    if isinstance(error, PostHogQueryTimeout):
        return Unavailable.TIMEOUT
    if isinstance(error, PostHogUnavailable) and "time" in str(error).lower():
        return Unavailable.TIMEOUT
    text = str(error).lower()
    if isinstance(error, PostHogBadQuery) and "document_embeddings" in text:
        return Unavailable.MISSING  # "Unknown table `document_embeddings`"
    return Unavailable.FAILED


def summarize(
    run_id: str,
    probes: list[Probe],
    *,
    margin: float = MARGIN,
    min_agreement: float = MIN_AGREEMENT,
    min_held_out: int = MIN_HELD_OUT,
) -> Assignment:
    """The assignment of one run from its probes (pure)."""
    if not probes or all(probe.cluster_id is None for probe in probes):
        return Assignment(run_id, AssignmentStatus.NO_DATA)
    assigned: list[AssignedItem] = []
    unassigned = held_out = held_assigned = agreeing = 0
    for probe in probes:
        cluster = decide(probe, margin)
        if probe.held_out:
            held_out += 1
            if cluster is not None:
                held_assigned += 1
                agreeing += cluster == probe.label
        elif cluster is None:
            unassigned += 1
        else:
            assert probe.distance is not None
            assigned.append(
                AssignedItem(
                    probe.item_id, cluster, probe.item_time, probe.distance, relative_margin(probe)
                )
            )
    agreement = agreeing / held_assigned if held_assigned else None
    usable = agreement is not None and agreement >= min_agreement and held_assigned >= min_held_out
    return Assignment(
        run_id,
        AssignmentStatus.ASSIGNED,
        assigned=tuple(assigned),
        unassigned=unassigned,
        held_out=held_out,
        held_out_assigned=held_assigned,
        agreement=agreement,
        usable=usable,
    )


@dataclass
class AssignmentService:
    """Assigns each new run's unsampled fresh items (module doc). Logs each kind of failure
    once per process; `last_unavailable` keeps the latest, for health reports."""

    client: PostHogClient
    model_name: str = SUMMARY_EMBEDDING_MODEL
    margin: float = MARGIN
    min_agreement: float = MIN_AGREEMENT
    last_unavailable: Assignment | None = None
    _logged: set[Unavailable] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def assign(self, run: RunSummary, *, fresh_from: datetime) -> Assignment:
        """`run`'s unsampled items first seen at or after `fresh_from` (the previous run's
        window end), assigned to its clusters; never raises a PostHog failure."""
        if run.level not in DOCUMENT_TYPES:
            return Assignment(run.run_id, AssignmentStatus.UNSUPPORTED)
        try:
            probes = fetch_probes(
                self.client, run, fresh_from=fresh_from, model_name=self.model_name
            )
        except PostHogError as error:
            return self._unavailable(run, error)
        result = summarize(run.run_id, probes, margin=self.margin, min_agreement=self.min_agreement)
        logger.info(
            "assignment.run",
            extra={
                "run_id": run.run_id,
                "status": result.status.value,
                "assigned": len(result.assigned),
                "unassigned": result.unassigned,
                "held_out": result.held_out,
                "agreement": result.agreement,
                "usable": result.usable,
            },
        )
        return result

    def _unavailable(self, run: RunSummary, error: PostHogError) -> Assignment:
        reason = classify(error)
        result = Assignment(
            run.run_id, AssignmentStatus.UNAVAILABLE, reason=reason, detail=str(error)
        )
        with self._lock:
            first = reason not in self._logged
            self._logged.add(reason)
            self.last_unavailable = result
        if first:
            logger.warning(
                "assignment.unavailable",
                extra={"run_id": run.run_id, "reason": reason.value, "error": str(error)},
            )
        return result


def embeddings_health(
    client: PostHogClient, since: datetime, model_name: str = ""
) -> tuple[bool, str]:
    """Whether the summary embeddings can be read (one query), and what to say: the counts
    since `since`, or why not and the fix. For `clusters-bot doctor`."""
    try:
        embeddings, summaries = count_recent(
            client, since, model_name=model_name or SUMMARY_EMBEDDING_MODEL
        )
    except PostHogError as error:
        reason = classify(error)
        return False, f"cannot be read ({error}); {FIXES[reason]}"
    if embeddings == 0:
        return False, (
            f"none in the last 7 days ({summaries} summaries). PostHog embeds the summaries of "
            "projects its hourly summarizer covers; until it does, alerts rest on each run's "
            "sample only."
        )
    return True, (
        f"{embeddings} summary embeddings and {summaries} summaries in the last 7 days: "
        "items a run did not sample can be assigned to its clusters"
    )


__all__ = [
    "AssignedItem",
    "Assignment",
    "AssignmentService",
    "AssignmentStatus",
    "Unavailable",
    "decide",
    "embeddings_health",
    "summarize",
]
