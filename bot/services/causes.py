"""The likely causes of alerts, from one PostHog query per run (`bot/domain/causes.py`).

All the alerted clusters of a run share one query for their items' traits, drawn from the
query budget; when the budget is short or PostHog fails, alerts go out without causes (the
"Why?" button asks again later).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bot.domain.alerts import Alert
from bot.domain.causes import Factor, ItemTraits, explain
from bot.domain.compare import diff_runs
from bot.domain.kinds import KINDS
from bot.domain.models import ClusteringRun, ClusterItem
from bot.domain.run_view import RunView
from bot.domain.slices import ClusterSlices
from bot.posthog.errors import PostHogError
from bot.posthog.queries import ID_CHUNK
from bot.posthog.traits import Queries, fetch_item_traits
from bot.services.errors import CommandError
from bot.services.runs import RunRepository

logger = logging.getLogger(__name__)

BASELINE_PER_CLUSTER = 200
"""Baseline items asked per cluster: enough for the tests, and several clusters fit one query."""
EVENT_MARGIN = timedelta(hours=2)  # a trace's events can end after the window does
EXPLAINED = tuple(kind for kind, spec in KINDS.items() if spec.cause is not None)
"""The kinds whose causes are looked for (`KindSpec.cause`)."""

_EMPTY = ItemTraits("", "")
Sides = tuple[tuple[ClusterItem, ...], tuple[ClusterItem, ...]]


class CauseService:
    def __init__(self, client: Queries, runs: RunRepository | None = None) -> None:
        self.client = client
        self.runs = runs  # for "Why?" on any cluster
        # The last run's traits: its other channels reuse them (only items not yet asked
        # for, if a channel alerts on other clusters, cost one more query).
        self._run_id = ""
        self._known: dict[str, ItemTraits] = {}
        self._lock = threading.Lock()  # "Why?" clicks run in the work pool

    def for_alerts(self, view: RunView, alerts: Sequence[Alert]) -> dict[str, list[Factor]]:
        """Causes by alert key, for every alert that has some; one query for all of them."""
        sides = {
            a.key: _sides(view, a.cluster_id, a.since, run_wide=a.kind.spec.no_past)
            for a in alerts
            if a.kind in EXPLAINED and a.cluster_id is not None
        }
        traits = self._traits(view, sides.values())
        found = {}
        for alert in alerts:
            if alert.key not in sides or not traits:
                continue
            fresh, baseline = (_known(side, traits) for side in sides[alert.key])
            factors = explain(alert.kind, fresh, baseline)
            if factors:
                found[alert.key] = factors
        return found

    def for_cluster(self, view: RunView, cluster_id: int) -> list[Factor]:
        """Whatever moved in a cluster that did not alert ("Why?"): every kind of change is
        asked, the strongest factors kept. One query; a short budget is the user's to hear
        (raised), not a silent "nothing stands out"."""
        sides = _sides(view, cluster_id, None)
        traits = self._traits(view, [sides], quiet=False)
        if not traits:
            return []
        fresh, baseline = (_known(side, traits) for side in sides)
        found: dict[tuple[str, str], Factor] = {}
        for kind in EXPLAINED:
            for factor in explain(kind, fresh, baseline):
                found.setdefault((factor.dimension, factor.value), factor)
        return sorted(found.values(), key=lambda f: -f.explains)[:3]

    def why(self, run_id: str, cluster_id: int) -> tuple[ClusteringRun, list[Factor] | None]:
        """The "Why?" button: the run (stored, no query) and what moved in the cluster;
        `None` when the run has no predecessor to compare with."""
        if self.runs is None:
            raise CommandError("Causes are not available here.")
        run = self.runs.get(run_id)
        if run.cluster(cluster_id) is None:
            raise CommandError(f"Cluster {cluster_id} is not in run `{run_id}`.")
        previous = self.runs.previous(run)
        if previous is None:
            return run, None
        return run, self.for_cluster(RunView.of(diff_runs(previous, run)), cluster_id)

    def _traits(
        self, view: RunView, sides: Iterable[Sides], *, quiet: bool = True
    ) -> dict[str, ItemTraits]:
        """Traits of the sides' items, from the last run's cache or one query. `quiet`: a
        PostHog failure (a short budget included) gives `{}` instead of raising."""
        with self._lock:
            try:
                return self._fetch(view, sides)
            except PostHogError as error:
                if not quiet:
                    raise
                run_id = view.diff.current.run_id
                logger.info("causes.skipped", extra={"run_id": run_id, "error": repr(error)})
                return {}

    def _fetch(self, view: RunView, sides: Iterable[Sides]) -> dict[str, ItemTraits]:
        run, previous = view.diff.current, view.diff.previous
        if run.run_id != self._run_id:
            self._run_id, self._known = run.run_id, {}
        wanted = list(dict.fromkeys(i.item_id for pair in sides for side in pair for i in side))
        ids = [i for i in wanted if i not in self._known]
        start = previous.window_start or run.window_start
        end = run.window_end
        if ids and start is not None and end is not None:
            window = (start, end + EVENT_MARGIN)
            found = fetch_item_traits(self.client, run.level, ids[:ID_CHUNK], window)
            self._known.update(found)
            # Items PostHog has no events for are not asked again.
            self._known.update((i, _EMPTY) for i in ids[:ID_CHUNK] if i not in found)
        return {
            i: self._known[i] for i in wanted if i in self._known and self._known[i] is not _EMPTY
        }


def _sides(
    view: RunView, cluster_id: int | None, since: datetime | None, *, run_wide: bool = False
) -> Sides:
    """The fresh and baseline items the alert's test compared (the fresh items after the cut
    point it rests on, else the whole fresh slice, against older items and the lineage). A new
    cluster has next to no past of its own: its baseline (`run_wide`) is the older traffic of
    the whole run, every k-th item."""
    slices: ClusterSlices | None = (
        view.slices.clusters.get(cluster_id) if cluster_id is not None else None
    )
    if slices is None:
        return (), ()
    fresh = slices.since(since) if since is not None else slices.fresh
    baseline = slices.baseline
    if run_wide:
        older = [i for c in view.slices.clusters.values() for i in c.older]
        baseline = tuple(older[:: max(1, len(older) // BASELINE_PER_CLUSTER)])
    return fresh, baseline[:BASELINE_PER_CLUSTER]


def _known(items: Sequence[ClusterItem], traits: dict[str, ItemTraits]) -> list[ItemTraits]:
    return [traits[i.item_id] for i in items if i.item_id in traits]
