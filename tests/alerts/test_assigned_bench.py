"""The assigned-items bench on one series: both sides go through the same runs, the assigned
side's fresh slices are larger, and the section reports what was measured."""

from __future__ import annotations

import pytest

from bench.assigned import Bench, Pair, markdown, run_pair
from bench.sweep import KINDS, RUNS

ERRORS = next(k for k, kind in enumerate(KINDS) if kind.label == "errors")


@pytest.fixture(scope="module")
def pair() -> Pair:
    return run_pair(ERRORS, 1)


def test_both_sides_follow_the_same_runs_and_the_assigned_side_sees_more(pair: Pair) -> None:
    assert pair.sample.runs == pair.assigned.runs == RUNS - 1
    assert pair.runs == RUNS - 1 and pair.queries == pair.runs  # one assignment query a run
    assert min(pair.agreements) >= 0.8 and pair.usable == pair.runs
    assert pair.right >= 0.8 * pair.placed > 0
    assert sum(pair.fresh_with) > 1.3 * sum(pair.fresh_sampled)
    assert pair.sample.visible == pair.assigned.visible


def test_the_section_has_the_measures_and_a_row_per_kind(pair: Pair) -> None:
    text = markdown(Bench([pair], seeds=1, seconds=60.0, dimension=48))
    assert text.startswith("## Assigned items\n")
    assert "held-out agreement per run" in text and "fresh items per cluster" in text
    assert "the oracle's first run: with assigned" in text
    assert "the oracle, reading the same items, reaches it for" in text
    rows = [line for line in text.split("\n") if line.startswith("| ") and " / " in line]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows][-len(KINDS) - 1 :] == [
        *(kind.label for kind in KINDS),
        "all",
    ]
