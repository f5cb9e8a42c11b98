"""Assigned items in a run's fresh slices, on literal daily runs: the value tests read them with
the sampled items and alerts count them; the share tests' counts stay those of the sample."""

from __future__ import annotations

from bot.domain.alerts import AlertKind, Family
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect
from bot.domain.models import ClusteringRun, ClusterItem
from bot.domain.slices import RunSlices, slice_run
from bot.domain.thresholds import Thresholds
from bot.rendering.evidence import assigned_note
from tests.support.daily_runs import Topic, day_runs

STABLE = [
    Topic("billing", 260, 45),
    Topic("support", 200, 35),
    Topic("search", 180, 30),
    Topic("emails", 150, 25),
    Topic("noise", 100, 17),
]
SAMPLED = 4  # of the erroring topic's 30 fresh items, the run sampled these


def split() -> tuple[RunSlices, tuple[ClusterItem, ...]]:
    """A run whose erroring topic kept `SAMPLED` of its 30 fresh items; the other 24 apart."""
    previous, current = day_runs([Topic("refunds", 120, 30, fresh_error_rate=0.6), *STABLE])
    refunds = current.clusters[0]
    unsampled = tuple(i for i in refunds.items if "-f" in i.item_id)[SAMPLED:]
    kept = tuple(i for i in refunds.items if i not in unsampled)
    cluster = refunds.model_copy(update={"items": kept, "size": len(kept)})
    run: ClusteringRun = current.model_copy(update={"clusters": (cluster, *current.clusters[1:])})
    return slice_run(diff_runs(previous, run)), unsampled


def test_the_error_alert_rests_on_the_assigned_items_too_and_counts_them() -> None:
    slices, unsampled = split()
    plain = {a.kind: a for a in detect(slices, Thresholds()).alerts}

    enlarged = slices.with_assigned({0: unsampled}, 0.9)
    found = {a.kind: a for a in detect(enlarged, Thresholds()).alerts}

    alert = found[AlertKind.ERROR_HEAVY]
    assert alert.title == "refunds" and alert.items_after is not None
    assert 0 < alert.assigned_items <= len(unsampled)
    assert alert.items_after - alert.assigned_items <= SAMPLED
    earlier = plain.get(AlertKind.ERROR_HEAVY)  # the sample alone: the last two days at most
    assert (earlier.items_after or 0 if earlier is not None else 0) < alert.items_after
    # The share tests saw the same counts: the same share alerts (the run sampled few of the
    # topic's fresh items here, so its share fell), none of them counting assigned items.
    shares = [a for a in found.values() if a.kind.family is Family.SHARE]
    assert shares == [a for a in plain.values() if a.kind.family is Family.SHARE]
    assert enlarged.agreement == 0.9 and enlarged.assigned_total == len(unsampled)
    note = assigned_note(alert, enlarged.diff.current)
    assert note == (
        f" · rests on {alert.items_after} fresh items, {alert.assigned_items} of them "
        "assigned by embedding"
    )


def test_shares_count_the_sample_only() -> None:
    slices, unsampled = split()
    enlarged = slices.with_assigned({0: unsampled, 99: unsampled}, 0.9)  # 99: no such cluster

    assert enlarged.fresh_total == slices.fresh_total
    assert enlarged.counts(slices.cutoff) == slices.counts(slices.cutoff)
    assert enlarged.older_days() == slices.older_days()
    assert enlarged.share(0, fresh=True) == slices.share(0, fresh=True)
    assert enlarged.clusters[0].fresh == slices.clusters[0].fresh
    assert enlarged.clusters[0].since(slices.cutoff) == slices.clusters[0].fresh + unsampled
    assert enlarged.assigned_total == len(unsampled)  # the unknown cluster's are left out
    assert 99 not in enlarged.clusters


def test_an_alert_without_assigned_items_says_nothing_of_them() -> None:
    slices, _ = split()
    previous, current = day_runs([Topic("refunds", 120, 30, fresh_error_rate=0.6), *STABLE])
    (alert,) = detect(slice_run(diff_runs(previous, current)), Thresholds()).alerts
    assert alert.assigned_items == 0
    assert assigned_note(alert, current) == ""
    assert slices.assigned_total == 0
