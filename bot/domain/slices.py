"""Cutting a run into recent windows and their baselines, cluster by cluster. Pure.

The detector (`fresh.py`) tests each window of a cluster against its baseline; this module only
decides which items are which (module docstring of `fresh.py` for why).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.compare import ClusterMatch, RunDiff
from bot.domain.models import Cluster, ClusterItem

MIN_SLICE = 20
"""Fewer fresh (or older) items than this in the whole run and there is no slice to speak of."""
DAY_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class Window:
    """One recent window of a cluster and what it is held against: `recent` are the cluster's
    items newer than the window's start, `baseline` its own items and its predecessor's at or
    before the window's baseline end; `older` counts only its own (for shares), `recent_total`
    and `older_total` the whole run's items on each side."""

    name: str
    recent: tuple[ClusterItem, ...]
    baseline: tuple[ClusterItem, ...]
    older: int
    recent_total: int
    older_total: int


@dataclass(frozen=True, slots=True)
class ClusterSlices:
    cluster: Cluster
    fresh: tuple[ClusterItem, ...]
    older: tuple[ClusterItem, ...]
    lineage: tuple[ClusterItem, ...] = ()
    match: ClusterMatch | None = None
    windows: tuple[Window, ...] = ()

    @property
    def baseline(self) -> tuple[ClusterItem, ...]:
        return self.older + self.lineage


@dataclass(frozen=True)
class RunSlices:
    """A run cut at `cutoff` (the previous run's window end), cluster by cluster."""

    diff: RunDiff
    cutoff: datetime
    fresh_total: int
    older_total: int
    clusters: dict[int, ClusterSlices] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Evaluation runs stamp every item with the window end, and a run right after a long
        gap has nothing older: then there is no fresh slice, and whole runs are compared."""
        return self.fresh_total >= MIN_SLICE and self.older_total >= MIN_SLICE

    def share(self, cluster_id: int, *, fresh: bool) -> float:
        slices = self.clusters.get(cluster_id)
        total = self.fresh_total if fresh else self.older_total
        if slices is None or total == 0:
            return 0.0
        return len(slices.fresh if fresh else slices.older) / total


@dataclass(frozen=True, slots=True)
class _Spec:
    """A window: recent items are newer than `start`; its baseline is older than `base_end`
    and, when `hours` is set, from the same hours of the day as the recent items (an anchor and
    a length), so that traffic that follows the time of day is held against like hours."""

    name: str
    start: datetime
    base_end: datetime
    hours: tuple[datetime, float] | None = None

    def recent(self, item: ClusterItem) -> bool:
        return _after(item, self.start)

    def baseline(self, item: ClusterItem) -> bool:
        if _after(item, self.base_end):
            return False
        if self.hours is None:
            return True
        anchor, length = self.hours
        if item.timestamp is None:
            return False
        return (item.timestamp - anchor).total_seconds() % DAY_SECONDS < length


def slice_run(diff: RunDiff) -> RunSlices:
    """Split `diff.current` at the previous run's window end (module docstring).

    Three windows are tested against what came before them: the fresh slice; its newer half
    against the same hours of the older days (a change that began during the day fills that
    half, but only part of the whole slice); and the last two days, cut where the run before
    the previous one ended (a change that began before the previous run fills both days of
    this run, against the older days alone)."""
    previous, current = diff.previous, diff.current
    cutoff = previous.window_end or previous.timestamp
    end = current.window_end or current.timestamp
    specs = [_Spec("fresh", cutoff, cutoff)]
    if end > cutoff:
        step = end - cutoff
        half = cutoff + step / 2
        specs.append(_Spec("newest half", half, cutoff, (half, (step / 2).total_seconds())))
        specs.append(_Spec("two days", cutoff - step, cutoff - step))
    everything = [i for c in current.clusters for i in c.items]
    totals = [
        (
            sum(1 for i in everything if spec.recent(i)),
            sum(1 for i in everything if spec.baseline(i)),
        )
        for spec in specs
    ]
    clusters: dict[int, ClusterSlices] = {}
    for cluster in current.clusters:
        fresh = tuple(i for i in cluster.items if _after(i, cutoff))
        older = tuple(i for i in cluster.items if not _after(i, cutoff))
        match = None if cluster.is_noise else diff.match_for_current(cluster.cluster_id)
        lineage: tuple[ClusterItem, ...] = ()
        if match is not None and match.basis is not None:
            mine = cluster.item_ids
            lineage = tuple(i for i in match.previous.items if i.item_id not in mine)
        windows = tuple(
            Window(
                spec.name,
                tuple(i for i in cluster.items if spec.recent(i)),
                tuple(i for i in (*cluster.items, *lineage) if spec.baseline(i)),
                sum(1 for i in cluster.items if spec.baseline(i)),
                recent_total,
                older_total,
            )
            for spec, (recent_total, older_total) in zip(specs, totals, strict=True)
        )
        clusters[cluster.cluster_id] = ClusterSlices(cluster, fresh, older, lineage, match, windows)
    fresh_total, older_total = totals[0]
    return RunSlices(diff, cutoff, fresh_total, older_total, clusters)


def _after(item: ClusterItem, moment: datetime) -> bool:
    """Newer than `moment`; an item without a timestamp counts as old (reference/alerting.md)."""
    return item.timestamp is not None and item.timestamp > moment
