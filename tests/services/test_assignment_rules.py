"""The assignment's decision (margin and radius) and its calibration, on hand-made probes."""

from __future__ import annotations

import pytest

from bot.posthog.embeddings import Probe
from bot.services.assignment import AssignmentStatus, decide, summarize


def probe(
    item: str = "i",
    *,
    cluster: int | None = 1,
    distance: float = 0.2,
    second: float | None = 0.4,
    radius: float | None = 0.3,
    label: int | None = None,
) -> Probe:
    return Probe(item, label, label is not None, None, cluster, distance, second, radius)


@pytest.mark.parametrize(
    ("distance", "second", "radius", "expected"),
    [
        (0.20, 0.40, 0.30, 1),  # clear winner, inside the radius
        (0.20, 0.205, 0.30, None),  # the second nearest is as near: no clear winner
        (0.20, 0.2106, 0.30, 1),  # just over the 5 % margin
        (0.35, 0.60, 0.30, None),  # outside the cluster's radius: fits no cluster
        (0.20, None, 0.30, 1),  # a run with one cluster: the radius alone decides
    ],
)
def test_decide_needs_a_clear_winner_within_the_radius(
    distance: float, second: float | None, radius: float, expected: int | None
) -> None:
    assert decide(probe(distance=distance, second=second, radius=radius)) == expected


def test_agreement_counts_only_the_held_out_items_that_were_assigned() -> None:
    probes = [probe(f"h{k}", label=1) for k in range(18)]
    probes += [probe("wrong1", label=2), probe("wrong2", label=-1)]
    probes += [probe("unsure", label=1, second=0.2)]  # not assigned: not counted
    probes += [probe("u1"), probe("u2", cluster=3), probe("u3", distance=0.5, second=0.9)]
    result = summarize("run", probes, min_held_out=20)
    assert result.status is AssignmentStatus.ASSIGNED
    assert (result.held_out, result.held_out_assigned) == (21, 20)
    assert result.agreement == pytest.approx(18 / 20)
    assert result.usable
    assert [a.item_id for a in result.assigned] == ["u1", "u2"]
    assert result.unassigned == 1
    assert result.per_cluster() == {1: 1, 3: 1}


def test_low_agreement_or_too_few_held_out_items_are_not_usable() -> None:
    mixed = [probe(f"h{k}", label=1 if k % 2 else 2) for k in range(40)]
    assert not summarize("run", mixed).usable
    few = [probe(f"h{k}", label=1) for k in range(5)]
    result = summarize("run", few)
    assert result.agreement == 1.0 and not result.usable


def test_a_run_without_embeddings_or_clusters_has_no_data() -> None:
    assert summarize("run", []).status is AssignmentStatus.NO_DATA
    lone = [probe(cluster=None, label=1)]
    assert summarize("run", lone).status is AssignmentStatus.NO_DATA
