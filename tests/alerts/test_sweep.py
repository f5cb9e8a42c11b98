"""The alert-quality sweep of `make bench` (bench/sweep.py), on one seed per setting: its report
has one row per setting and the issue's columns, a failing detector is counted and not fatal,
and its section can be rewritten in docs/benchmarks.md alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bench.sweep
from bench.doc import replace_section
from bench.sweep import KINDS, RUNS, SETTINGS, Sweep, measure_sweep, run_one
from bench.sweep_report import rows, sweep_markdown, targets
from bot.domain.thresholds import Thresholds

SOME_KINDS = ("errors",)
CELL = re.compile(r"^(\d+) · (\d+) / (\d+)$")


@pytest.fixture(scope="module")
def sweep() -> Sweep:
    return measure_sweep(1, processes=1, kinds=SOME_KINDS)


def test_one_row_per_setting_with_a_cell_per_kind(sweep: Sweep) -> None:
    table = rows(sweep)
    assert [row["setting"] for row in table] == [s.name for s in SETTINGS]
    assert len(sweep.outcomes) == len(SETTINGS) * len(SOME_KINDS)
    for row in table:
        for kind in KINDS:
            match = CELL.match(row[kind.label])
            assert match, row[kind.label]
            first, within, visible = (int(g) for g in match.groups())
            assert first <= within <= visible <= (kind.label in SOME_KINDS)
        assert 0.0 <= row["false alerts per run"] <= 10.0
        assert isinstance(row["failed runs"], int)
        assert isinstance(row["stable alerted while others moved"], int)
    assert all(o.runs == RUNS - 1 for o in sweep.outcomes)


def test_the_section_shows_the_table_and_the_targets(sweep: Sweep) -> None:
    text = sweep_markdown(sweep)
    lines = text.splitlines()
    assert lines[0] == "## Alert quality"
    table = [line for line in lines if line.startswith("| ")]
    # Two tables (the bot's, then the oracle's): a header, a rule and one row per setting each.
    assert len(table) == 2 * (2 + len(SETTINGS))
    assert "| false alerts per run |" in table[0] and "| failed runs |" in table[0]
    oracle = table[2 + len(SETTINGS) :]
    assert oracle[0].startswith("| setting | cost by price |") and "(scan " in oracle[2]
    assert "; bot " in oracle[2]
    assert targets(sweep)[0][0] == "no run fails, at any setting"
    assert sum(
        line.startswith("- ") and line.endswith(("met.", "**missed**.")) for line in lines
    ) == len(targets(sweep))


def test_settings_differ_only_in_their_axis() -> None:
    default = SETTINGS[0]
    for setting in SETTINGS[1:-1]:
        differing = [
            name
            for name in ("traces_per_day", "items", "misplaced", "topics", "latency_by_tokens")
            if getattr(setting, name) != getattr(default, name)
        ]
        assert len(differing) == 1, setting


def test_a_run_whose_detection_raises_is_counted_and_the_series_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = bench.sweep.detect
    calls = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("float division by zero")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bench.sweep, "detect", flaky)
    outcome = run_one(SETTINGS[0], KINDS[3], 0, Thresholds())
    assert outcome.failed == 1
    assert outcome.runs == RUNS - 1 and len(calls) >= 2
    assert any("ZeroDivisionError" in e for e in outcome.examples)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        measure_sweep(1, processes=1, settings=["no such setting"])


def test_the_quality_section_is_rewritten_alone(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n## Results\n\nrows\n\n## Alert quality\n\nold\n\n## Causes\n\nc\n"
    )
    replace_section(doc, "## Alert quality\n\nnew table\n")
    assert doc.read_text() == (
        "# Benchmarks\n\n## Results\n\nrows\n\n## Alert quality\n\nnew table\n\n## Causes\n\nc\n"
    )
    other = tmp_path / "empty.md"
    replace_section(other, "## Alert quality\n\nx\n")
    assert other.read_text() == "## Alert quality\n\nx\n"


def test_stable_clusters_count_as_alerted_because_others_moved_only_beyond_their_usual_rate() -> (
    None
):
    def outcome(kind: str, share_alerts: int) -> bench.sweep.Outcome:
        moving = kind in ("traffic up", "traffic stopped", "new traffic")
        return bench.sweep.Outcome(
            "default", kind, 0, runs=5, runs_after=3, share_alerts=share_alerts,
            moved_alerts=share_alerts if moving else 0,
        )  # fmt: skip

    def met(moved: int) -> bool:
        still = [outcome("cost by price", 1) for _ in range(10)]  # 10 alerts in 30 runs
        after_move = [outcome("traffic up", moved)] + [outcome("new traffic", 0) for _ in range(9)]
        sweep = Sweep(1, still + after_move, 0.0, 1)
        (target,) = [t for t in targets(sweep) if "because others moved" in t[0]]
        return target[1]

    # At the same rate (10 in 30 runs) 10 are expected; 16 is within 2 sigma, 17 is not.
    assert met(10) and met(16)
    assert not met(17)
