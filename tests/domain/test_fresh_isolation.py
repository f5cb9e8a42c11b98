"""One odd cluster never costs a run: the cluster whose every item is fresh, and any test that
raises, cost only themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain import fresh
from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.fresh_base import Candidates
from bot.domain.models import Cluster, ClusteringRun, ClusterItem
from bot.domain.slices import ClusterSlices, slice_run
from bot.domain.thresholds import Thresholds
from tests.domain.test_fresh import STABLE
from tests.support.daily_runs import END, Topic, day_runs


def _resampled(cluster: Cluster) -> Cluster:
    """The same cluster as a run that sampled other items of the same days would hold it."""
    items = tuple(
        item if k % 8 == 0 else replace(item, item_id=f"p{item.item_id}")
        for k, item in enumerate(cluster.items)
    )
    return cluster.model_copy(update={"items": items})


def odd_runs() -> tuple[ClusteringRun, ClusteringRun]:
    """A high-volume pair (the runs share an eighth of their items) where "invoices" is all
    fresh in the current run and its predecessor, a few items the run did not sample again,
    backs the lineage by its title alone: a matched cluster with no older items."""
    previous, current = day_runs([Topic("invoices", 0, 30, in_previous=False), *STABLE])
    gone = tuple(
        ClusterItem(
            item_id=f"gone{i}",
            trace_id=f"gone{i}",
            rank=0,
            timestamp=END - timedelta(days=2),
            cost=0.01,
            latency=1.0,
            tokens=1000.0,
            errors=0,
        )
        for i in range(4)
    )
    clusters = (
        *(_resampled(c) for c in previous.clusters),
        Cluster(cluster_id=99, size=4, title="invoices", items=gone),
    )
    previous = previous.model_copy(
        update={"clusters": clusters, "total_items": previous.total_items + 4}
    )
    return previous, current


def test_a_matched_cluster_with_no_older_items_is_judged_like_any_other() -> None:
    previous, current = odd_runs()
    diff = diff_runs(previous, current)
    match = diff.match_for_current(0)
    assert match is not None and match.basis == "title"
    assert slice_run(diff).clusters[0].older == ()

    detection = fresh.detect(slice_run(diff), Thresholds())  # raised ZeroDivisionError

    assert detection.failures == ()
    (alert,) = detection.alerts
    assert (alert.kind, alert.title, alert.direction) == (AlertKind.SIZE_SHIFT, "invoices", 1)
    assert alert.before == 0.0 and alert.relative is None  # no older items: no ratio to show


def test_a_test_that_raises_costs_that_test_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    previous, current = day_runs(
        [Topic("refunds", 120, 20, fresh_cost=0.03), Topic("sql", 100, 45), *STABLE]
    )
    slices = slice_run(diff_runs(previous, current))
    healthy = fresh.detect(slices, Thresholds())
    assert {a.kind for a in healthy.alerts} == {AlertKind.COST_SPIKE, AlertKind.SIZE_SHIFT}

    def broken(found: Candidates, cs: ClusterSlices) -> None:
        found.tests += 3  # half done when it fails: none of it may stay
        found.observed[(cs.cluster.cluster_id, fresh.Family.COST)] = -1.0
        if cs.cluster.title == "sql":
            raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(fresh, "CLUSTER_TESTS", (("broken", broken), *fresh.CLUSTER_TESTS))
    detection = fresh.detect(slices, Thresholds())

    assert detection.alerts == healthy.alerts  # sql's own share test still ran
    # Six real clusters: five broken tests counted 3 each, the failed one counts as one test.
    assert detection.tests == healthy.tests + 5 * 3 + 1
    (failure,) = detection.failures
    sql = next(c.cluster_id for c in current.clusters if c.title == "sql")
    assert (failure.cluster_id, failure.test) == (sql, "broken")
    assert "ZeroDivisionError" in failure.error
    assert str(failure) == f"broken test of cluster {sql}: {failure.error}"
