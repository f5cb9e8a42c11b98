"""diff_runs: one-to-one cluster matching across runs with unstable ids and titles."""

from __future__ import annotations

import pytest

from bot.domain.compare import ClusterMatch, diff_runs
from tests.support.factories import ids, make_cluster, make_noise, make_run


def pairs(matches: tuple[ClusterMatch, ...]) -> set[tuple[int, int]]:
    return {(m.previous.cluster_id, m.current.cluster_id) for m in matches}


def carried(prefix: str, shared: int, new: int) -> tuple[str, ...]:
    """`shared` ids of the previous run's cluster `prefix` plus `new` ids never seen before."""
    return ids(prefix, shared) + ids(f"{prefix}-new", new)


PREVIOUS = make_run(
    make_cluster(0, title="SQL generation for dashboards", item_ids=ids("sql", 100)),
    make_cluster(1, title="RAG document retrieval", item_ids=ids("rag", 80)),
    make_cluster(2, title="Billing and refund requests", item_ids=ids("bill", 60)),
    make_noise(item_ids=ids("noise", 20)),
    run_id="run-1",
)


def test_diff_runs_identical_runs_match_one_to_one_with_full_confidence() -> None:
    diff = diff_runs(PREVIOUS, PREVIOUS)

    assert pairs(diff.matches) == {(0, 0), (1, 1), (2, 2)}
    assert all(m.confidence == pytest.approx(1.0) for m in diff.matches)
    assert [m.shared_items for m in diff.matches] == [100, 80, 60]
    assert diff.new == () and diff.vanished == ()
    assert diff.shared_items == 240
    assert diff.item_overlap == pytest.approx(1.0)


def test_diff_runs_reshuffled_ids_paraphrased_titles_and_35pct_overlap_still_match() -> None:
    current = make_run(
        make_cluster(7, title="Users asking for dashboard SQL", item_ids=carried("sql", 35, 65)),
        make_cluster(
            3, title="Answering questions from documents", item_ids=carried("rag", 28, 52)
        ),
        make_cluster(0, title="Customer billing support", item_ids=carried("bill", 21, 39)),
        make_noise(item_ids=ids("noise-new", 20)),
        run_id="run-2",
    )

    diff = diff_runs(PREVIOUS, current)

    assert pairs(diff.matches) == {(0, 7), (1, 3), (2, 0)}
    assert all(m.confidence > 0.85 for m in diff.matches)
    assert diff.match_for_previous(0).shared_items == 35  # type: ignore[union-attr]
    assert diff.new == () and diff.vanished == ()


def test_diff_runs_membership_churn_lowers_confidence_but_keeps_the_match() -> None:
    # 20 % of the shared items moved between the two clusters.
    previous = make_run(
        make_cluster(0, title="Alpha", item_ids=ids("a", 50)),
        make_cluster(1, title="Beta", item_ids=ids("b", 50)),
    )
    current = make_run(
        make_cluster(0, title="Gamma", item_ids=ids("a", 40) + ids("b", 10, start=40)),
        make_cluster(1, title="Delta", item_ids=ids("b", 40) + ids("a", 10, start=40)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 0), (1, 1)}
    assert all(0.6 < m.confidence < 0.85 for m in diff.matches)


def test_diff_runs_items_moving_in_or_out_of_noise_do_not_dilute_the_match() -> None:
    previous = make_run(
        make_cluster(0, title="Alpha", item_ids=ids("a", 50)),
        make_noise(item_ids=ids("n", 20)),
    )
    current = make_run(
        make_cluster(4, title="Omega", item_ids=ids("a", 40) + ids("n", 20)),
        make_noise(item_ids=ids("a", 10, start=40)),
    )

    (match,) = diff_runs(previous, current).matches

    assert match.overlap == pytest.approx(1.0)
    assert match.shared_items == 40


def test_diff_runs_split_matches_the_larger_part_and_reports_the_smaller_as_a_split() -> None:
    previous = make_run(make_cluster(0, title="Support questions", item_ids=ids("s", 200)))
    current = make_run(
        make_cluster(5, title="Password reset help", item_ids=ids("s", 120)),
        make_cluster(6, title="Account deletion requests", item_ids=ids("s", 80, start=120)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 5)}
    assert diff.new == ()
    (split,) = diff.splits
    assert (split.previous.cluster_id, split.kept.cluster_id, split.part.cluster_id) == (0, 5, 6)
    assert diff.vanished == ()


def test_diff_runs_merge_matches_the_larger_predecessor_and_reports_the_smaller_as_merged() -> None:
    previous = make_run(
        make_cluster(0, title="Password reset help", item_ids=ids("p", 120)),
        make_cluster(1, title="Account deletion requests", item_ids=ids("d", 80)),
    )
    current = make_run(
        make_cluster(9, title="Account support", item_ids=ids("p", 120) + ids("d", 80))
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 9)}
    assert diff.vanished == ()
    (merge,) = diff.merges
    assert (merge.absorbed.cluster_id, merge.kept.cluster_id, merge.into.cluster_id) == (1, 0, 9)
    assert diff.new == ()


def test_diff_runs_a_new_cluster_of_new_items_is_new_not_a_split() -> None:
    previous = make_run(make_cluster(0, title="Support questions", item_ids=ids("s", 200)))
    current = make_run(
        make_cluster(5, title="Support questions", item_ids=ids("s", 200)),
        make_cluster(6, title="Invoice extraction", item_ids=ids("x", 40)),
    )

    diff = diff_runs(previous, current)

    assert [c.cluster_id for c in diff.new] == [6]
    assert diff.splits == ()


def test_match_basis_says_what_backs_the_match() -> None:
    previous = make_run(make_cluster(0, title="Refund requests", item_ids=ids("r", 40)))
    by_items = make_run(
        make_cluster(3, title="Customers asking for money back", item_ids=ids("r", 40))
    )
    # Runs a week apart share no items: only a clear title can tie their clusters.
    by_title = make_run(make_cluster(4, title="Refund requests", item_ids=ids("x", 40)))

    items_match = diff_runs(previous, by_items).match_for_current(3)
    title_match = diff_runs(previous, by_title).match_for_current(4)

    assert items_match is not None and items_match.basis == "shared items"
    assert title_match is not None and title_match.basis == "title"


def test_lineage_is_the_predecessors_other_items_only_where_the_match_has_a_basis() -> None:
    previous = make_cluster(0, item_ids=[*ids("kept", 6), *ids("gone", 4)])
    current = make_cluster(3, item_ids=[*ids("kept", 6), *ids("new", 5)])

    def match(shared: int, overlap: float, title: float) -> ClusterMatch:
        return ClusterMatch(
            previous=previous,
            current=current,
            confidence=0.5,
            shared_items=shared,
            overlap=overlap,
            title_similarity=title,
        )

    backed = match(6, 0.6, 0.1)
    assert backed.basis == "shared items"
    assert tuple(i.item_id for i in backed.lineage) == ids("gone", 4)
    assert tuple(i.item_id for i in match(0, 0.0, 0.9).lineage) == ids("gone", 4)  # by its title
    unbacked = match(1, 0.1, 0.2)
    assert unbacked.basis is None and unbacked.lineage == ()
