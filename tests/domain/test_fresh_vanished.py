"""A cluster of the previous run that nothing in this run continues: a test like the others,
not a sure alert (a small cluster often dissolves when the sample is redrawn)."""

from __future__ import annotations

from bot.domain.alerts import AlertKind
from bot.domain.compare import diff_runs
from bot.domain.fresh import detect
from bot.domain.models import ClusteringRun
from bot.domain.slices import slice_run
from bot.domain.thresholds import Thresholds
from tests.support.daily_runs import Topic, day_runs


def without(run: ClusteringRun, title: str) -> ClusteringRun:
    """`run` with the cluster `title` dropped (its items not sampled, or lost in clustering)."""
    kept = tuple(c for c in run.clusters if c.title != title)
    return run.model_copy(update={"clusters": kept, "total_items": sum(c.size for c in kept)})


def vanished(topics: list[Topic], gone: str) -> list[tuple[float | None, str]]:
    previous, current = day_runs(topics)
    slices = slice_run(diff_runs(previous, without(current, gone)))
    detection = detect(slices, Thresholds())
    return [(a.p_value, a.title) for a in detection.alerts if a.kind is AlertKind.VANISHED_CLUSTER]


def test_a_large_cluster_missing_from_a_large_fresh_slice_is_reported_with_its_p_value() -> None:
    stable = [Topic(f"t{k}", 200, 33) for k in range(6)]
    ((p_value, title),) = vanished([Topic("refunds", 150, 25), *stable], "refunds")

    assert title == "refunds"
    # 150 of 1,350 older items (11 %): none of ~200 fresh items is about 1e-10 by chance.
    assert p_value is not None and p_value < 1e-6


def test_a_small_cluster_missing_from_a_small_sample_is_not_reported() -> None:
    # 4 % of a 500-item run: about 3 of its ~70 fresh items were due, none is a 5 % chance,
    # which Benjamini-Hochberg over the run's tests does not pass.
    stable = [Topic(f"t{k}", 70, 11) for k in range(6)]
    assert vanished([Topic("refunds", 18, 3), *stable], "refunds") == []
