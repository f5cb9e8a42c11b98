"""diff_runs: one-to-one cluster matching across runs with unstable ids and titles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.compare import MIN_MATCH_CONFIDENCE, ClusterMatch, diff_runs, text_similarity
from bot.domain.models import NOISE_CLUSTER_ID, ClusteringRun
from tests.domain.factories import ids, make_cluster, make_noise, make_run


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


def test_diff_runs_split_matches_the_larger_part_and_reports_the_smaller_as_new() -> None:
    previous = make_run(make_cluster(0, title="Support questions", item_ids=ids("s", 200)))
    current = make_run(
        make_cluster(5, title="Password reset help", item_ids=ids("s", 120)),
        make_cluster(6, title="Account deletion requests", item_ids=ids("s", 80, start=120)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 5)}
    assert [c.cluster_id for c in diff.new] == [6]
    assert diff.vanished == ()


def test_diff_runs_merge_matches_the_larger_predecessor_and_reports_the_smaller_as_vanished() -> (
    None
):
    previous = make_run(
        make_cluster(0, title="Password reset help", item_ids=ids("p", 120)),
        make_cluster(1, title="Account deletion requests", item_ids=ids("d", 80)),
    )
    current = make_run(
        make_cluster(9, title="Account support", item_ids=ids("p", 120) + ids("d", 80))
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 9)}
    assert [c.cluster_id for c in diff.vanished] == [1]
    assert diff.new == ()


def test_diff_runs_noise_is_never_matched_to_a_real_cluster() -> None:
    # The previous run's outliers became a real cluster: that cluster is new, not "noise".
    previous = make_run(
        make_cluster(0, title="Alpha", item_ids=ids("a", 50)),
        make_noise(item_ids=ids("n", 30)),
    )
    current = make_run(
        make_cluster(0, title="Alpha", item_ids=ids("a", 50)),
        make_cluster(1, title="Outliers", item_ids=ids("n", 30)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 0)}
    assert [c.cluster_id for c in diff.new] == [1]
    assert all(not m.previous.is_noise and not m.current.is_noise for m in diff.matches)
    assert NOISE_CLUSTER_ID not in {c.cluster_id for c in diff.vanished}


def test_diff_runs_noise_delta_reports_both_shares() -> None:
    previous = make_run(make_cluster(0, size=90), make_noise(size=10))
    current = make_run(make_cluster(0, size=80), make_noise(size=20))

    noise = diff_runs(previous, current).noise

    assert noise is not None
    assert noise.previous_share == pytest.approx(0.1)
    assert noise.current_share == pytest.approx(0.2)
    assert noise.change == pytest.approx(0.1)


def test_diff_runs_noise_absent_in_both_is_none_and_absent_in_one_has_no_share() -> None:
    without = make_run(make_cluster(0, size=90))
    with_noise = make_run(make_cluster(0, size=90), make_noise(size=10))

    assert diff_runs(without, without).noise is None
    one_sided = diff_runs(without, with_noise).noise
    assert one_sided is not None
    assert one_sided.previous_share is None and one_sided.current_share == pytest.approx(0.1)
    assert one_sided.change is None


def test_diff_runs_unrelated_clusters_are_new_and_vanished() -> None:
    previous = make_run(make_cluster(0, title="RAG document retrieval", item_ids=ids("a", 50)))
    current = make_run(make_cluster(0, title="Image captioning", item_ids=ids("b", 50)))

    diff = diff_runs(previous, current)

    assert diff.matches == ()
    assert [c.title for c in diff.new] == ["Image captioning"]
    assert [c.title for c in diff.vanished] == ["RAG document retrieval"]
    assert diff.shared_items == 0 and diff.item_overlap == 0.0


def test_diff_runs_without_shared_items_matches_by_title_alone() -> None:
    previous = make_run(
        make_cluster(0, title="SQL generation for dashboards", item_ids=ids("a", 50)),
        make_cluster(1, title="RAG document retrieval", item_ids=ids("b", 50)),
    )
    current = make_run(
        make_cluster(3, title="RAG document retrieval", item_ids=ids("c", 50)),
        make_cluster(4, title="Generating SQL for dashboards", item_ids=ids("d", 50)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(1, 3), (0, 4)}
    assert diff.match_for_previous(1).confidence == pytest.approx(1.0)  # type: ignore[union-attr]


def test_diff_runs_strong_overlap_evidence_outweighs_a_similar_title() -> None:
    previous = make_run(
        make_cluster(0, title="Billing questions", item_ids=ids("a", 60)),
        make_cluster(1, title="Refund requests", item_ids=ids("b", 60)),
    )
    current = make_run(
        make_cluster(0, title="Refund requests", item_ids=ids("a", 60)),
        make_cluster(1, title="Billing questions", item_ids=ids("b", 60)),
    )

    assert pairs(diff_runs(previous, current).matches) == {(0, 0), (1, 1)}


def test_diff_runs_fallback_titles_never_match_on_text() -> None:
    previous = make_run(make_cluster(3, title="Cluster 3", item_ids=ids("a", 50)))
    current = make_run(make_cluster(3, title="Cluster 3", item_ids=ids("b", 50)))

    diff = diff_runs(previous, current)

    assert diff.matches == ()
    assert text_similarity(previous.clusters[0], current.clusters[0]) == 0.0


def test_diff_runs_is_one_to_one_when_two_clusters_compete() -> None:
    previous = make_run(make_cluster(0, title="Alpha", item_ids=ids("a", 100)))
    current = make_run(
        make_cluster(1, title="Alpha", item_ids=ids("a", 60)),
        make_cluster(2, title="Alpha", item_ids=ids("a", 40, start=60)),
    )

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 1)}
    assert [c.cluster_id for c in diff.new] == [2]


def test_diff_runs_matches_and_new_clusters_are_ordered_by_size() -> None:
    previous = make_run(
        make_cluster(0, title="Small", item_ids=ids("s", 20)),
        make_cluster(1, title="Large", item_ids=ids("l", 80)),
    )
    current = make_run(
        make_cluster(0, title="Large", item_ids=ids("l", 80)),
        make_cluster(1, title="Small", item_ids=ids("s", 20)),
        make_cluster(2, title="Fresh one", item_ids=ids("f", 10)),
        make_cluster(3, title="Fresh two", item_ids=ids("g", 30)),
    )

    diff = diff_runs(previous, current)

    assert [m.current.title for m in diff.matches] == ["Large", "Small"]
    assert [c.title for c in diff.new] == ["Fresh two", "Fresh one"]


def test_run_diff_match_lookups_by_either_side() -> None:
    current = make_run(
        make_cluster(5, title="SQL generation for dashboards", item_ids=ids("sql", 100)),
        run_id="run-2",
    )

    diff = diff_runs(PREVIOUS, current)

    assert diff.match_for_previous(0) == diff.match_for_current(5)
    assert diff.match_for_previous(0) is not None
    assert diff.match_for_previous(1) is None
    assert diff.match_for_current(0) is None


def test_diff_runs_empty_runs_give_an_empty_diff() -> None:
    diff = diff_runs(make_run(), make_run())

    assert (diff.matches, diff.new, diff.vanished, diff.noise) == ((), (), (), None)


def test_text_similarity_paraphrases_score_above_unrelated_titles() -> None:
    sql = make_cluster(title="SQL generation for dashboards")
    paraphrase = make_cluster(title="Generating SQL queries for dashboard insights")
    unrelated = make_cluster(title="RAG document retrieval")

    assert text_similarity(sql, paraphrase) >= MIN_MATCH_CONFIDENCE
    assert text_similarity(sql, unrelated) < MIN_MATCH_CONFIDENCE


def test_diff_runs_lookalike_titles_without_shared_items_do_not_match_while_runs_overlap() -> None:
    # A topic that stopped and an unrelated one that started share no items. Had they been one
    # topic, about 90 % of their items would be shared here, so the titles alone (0.53) are
    # not enough.
    stable = make_cluster(0, title="Stable", item_ids=ids("s", 200))
    previous = make_run(stable, make_cluster(1, title="Image captioning", item_ids=ids("g", 20)))
    current = make_run(stable, make_cluster(1, title="Invoice extraction", item_ids=ids("n", 20)))

    diff = diff_runs(previous, current)

    assert pairs(diff.matches) == {(0, 0)}
    assert [c.title for c in diff.new] == ["Invoice extraction"]
    assert [c.title for c in diff.vanished] == ["Image captioning"]


@given(
    st.lists(st.integers(0, 5), min_size=0, max_size=60),
    st.lists(st.integers(-1, 5), min_size=0, max_size=60),
)
def test_diff_runs_accounts_for_every_real_cluster_exactly_once(
    previous_labels: list[int], current_labels: list[int]
) -> None:
    # Item i goes to cluster previous_labels[i] in the previous run and current_labels[i] in
    # the current one (-1 is noise); titles repeat to make text matches possible too.
    def run(labels: list[int]) -> ClusteringRun:
        members: dict[int, list[str]] = {}
        for index, label in enumerate(labels):
            members.setdefault(label, []).append(f"i{index}")
        return make_run(
            *(
                make_cluster(label, title=f"Topic {label % 2}", item_ids=items)
                for label, items in sorted(members.items())
            )
        )

    previous, current = run(previous_labels), run(current_labels)

    diff = diff_runs(previous, current)

    previous_ids = [m.previous.cluster_id for m in diff.matches] + [
        c.cluster_id for c in diff.vanished
    ]
    current_ids = [m.current.cluster_id for m in diff.matches] + [c.cluster_id for c in diff.new]
    assert sorted(previous_ids) == sorted(c.cluster_id for c in previous.clusters if not c.is_noise)
    assert sorted(current_ids) == sorted(c.cluster_id for c in current.clusters if not c.is_noise)
    assert all(0.0 <= m.confidence <= 1.0 for m in diff.matches)
