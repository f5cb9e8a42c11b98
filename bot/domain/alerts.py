"""The vocabulary of alerts: what changed (`AlertKind`, described in `kinds.py`), how urgent
(`Severity`), and the `Alert` itself, as both the fresh-slice detector (`fresh.py`) and the
run-to-run rules (`rules.py`) produce it. Pure data."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.domain.kinds import FAMILIES, ORDER, AlertKind, Family
from bot.domain.models import Frozen

__all__ = ["Alert", "AlertKind", "Family", "Severity", "alert_order"]


class Severity(StrEnum):
    """Ordered by urgency: `Severity.CRITICAL > Severity.WARNING > Severity.INFO`."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """2 for critical, 1 for warning, 0 for info."""
        return {"critical": 2, "warning": 1, "info": 0}[self.value]

    # str's own comparisons would order the names alphabetically; compare by rank instead.
    def __lt__(self, other: str) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: str) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: str) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: str) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


class Alert(Frozen):
    """One change worth a message.

    `cluster_id` is the cluster in the current run (`None` for a vanished cluster);
    `previous_cluster_id` the one in the previous run (`None` when there is none). `before` and
    `after` are what the rule compared, in the kind's unit (`KindSpec.unit`: USD per item for
    cost, seconds for latency, tokens per item, fractions for error rates and shares; medians
    of the items for the fresh-slice value alerts); `None` where the cluster is not in that
    run. `items_before`/`items_after` are the counts behind them.

    `fresh` says how the change was measured: `True` when the items newer than the previous
    run's window (the fresh slice) were compared with the older items of the same cluster
    lineage (the baseline); `False` when two whole runs were compared. `test` names the
    significance test behind `p_value`; `direction` is +1 for a rise, -1 for a fall;
    `match_basis` says what ties the cluster to its predecessor ("shared items" or "title").

    For fresh-slice share alerts `before` is the cluster's share of the older items, `after`
    its share of the fresh ones, and `relative` how it moved *against the rest of the traffic*:
    its fresh/older ratio over the median ratio of all clusters (`fresh_shares.py`), near 1
    for a stable cluster however much others surge (`None`: it had no older items).
    """

    kind: AlertKind
    severity: Severity
    cluster_id: int | None
    previous_cluster_id: int | None
    title: str
    current_run_id: str
    previous_run_id: str
    before: float | None = None
    after: float | None = None
    items_before: int | None = None
    items_after: int | None = None
    p_value: float | None = None
    match_confidence: float | None = None
    match_basis: str | None = None
    test: str | None = None
    fresh: bool = False
    window: str | None = None  # the hours a fresh-slice alert rests on, in words (fresh.py)
    since: datetime | None = None  # ...and where they start
    direction: int = 1
    part: str | None = None  # what moved behind a cost alert: "price per token", "tokens per item"
    relative: float | None = None  # a share's move against the rest of the traffic (x3, x0.3)
    # Of `items_after`, how many were not sampled by the run but assigned to the cluster by
    # their summary embedding (value alerts only: shares count sampled items, slices.py).
    assigned_items: int = 0

    @property
    def key(self) -> str:
        """Stable identity for exactly-once delivery: one alert per kind, run and cluster."""
        cluster = self.cluster_id if self.cluster_id is not None else self.previous_cluster_id
        return f"{self.kind}:{self.current_run_id}:{cluster}"

    @property
    def change(self) -> float | None:
        """`after - before` (percentage points as a fraction for rates and shares)."""
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def ratio(self) -> float | None:
        """`after / before`; `None` when either is missing or `before` is 0."""
        if self.before is None or self.after is None or self.before == 0:
            return None
        return self.after / self.before


def alert_order(alert: Alert) -> tuple[int, int, float, str]:
    """Most severe first; then by kind (`kinds.KINDS` order); then the biggest change first
    (as a ratio for the families sized that way); then by key."""
    family = alert.kind.family
    if family is not None and FAMILIES[family].relative:
        magnitude = alert.ratio or 0.0
    elif alert.change is not None:
        magnitude = abs(alert.change)
    else:
        magnitude = alert.after if alert.after is not None else alert.before or 0.0
    return (-alert.severity.rank, ORDER[alert.kind], -magnitude, alert.key)
