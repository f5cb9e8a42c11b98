"""The table of alert kinds covers every kind and family, and its stored names never change."""

from __future__ import annotations

from bot.domain.alerts import Alert, alert_order
from bot.domain.kinds import FAMILIES, KINDS, AlertKind, Family
from tests.support.factories import make_alert

STORED = {
    "cost_spike",
    "error_heavy",
    "latency_spike",
    "pass_rate_drop",
    "fail_share_growth",
    "size_shift",
    "new_cluster",
    "traffic_stopped",
    "vanished_cluster",
    "outlier_growth",
}


def test_every_kind_and_family_has_its_row() -> None:
    assert set(KINDS) == set(AlertKind)
    assert set(FAMILIES) == set(Family)
    assert {k.family for k in AlertKind} - {None} == set(Family)  # no family without a kind


def test_the_stored_values_of_the_kinds_are_kept() -> None:
    assert STORED <= {kind.value for kind in AlertKind}


def test_labels_are_distinct() -> None:
    labels = [spec.label for spec in KINDS.values()]
    assert len(set(labels)) == len(labels)


def _alert(kind: AlertKind, cluster_id: int = 1) -> Alert:
    return make_alert(
        kind, cluster_id=cluster_id, previous_cluster_id=cluster_id, before=0.1, after=0.3
    )


def test_alerts_of_one_severity_are_listed_in_the_table_order() -> None:
    alerts = [_alert(kind, i) for i, kind in enumerate(reversed(list(AlertKind)))]
    assert [a.kind for a in sorted(alerts, key=alert_order)] == list(KINDS)
