"""The bench's lean-cycle section: its targets are read from the measured points, and the
section says what was measured, before and after."""

from __future__ import annotations

from typing import Any

from bench.harness import Measured
from bench.lean import ChartCpu, Lean, LeanPoint, chart_cpu, lean_markdown, marginal_cpu, targets


def point(
    series: int,
    peak_mb: float,
    cpu: float,
    *,
    runs: int | None = None,
    cpus: tuple[float, ...] = (),
) -> LeanPoint:
    result: dict[str, Any] = {
        "wall": 10.0,
        "rss_before_kb": 100 * 1024,
        "cpu": cpu,
        "process_cpu": cpu + 1.5,
        "runs_processed": series if runs is None else runs,
    }
    measured = Measured(result, 12, 0, 0, int(peak_mb * 1024), 11.0)
    return LeanPoint(series, 1500, measured, cpus)


def test_a_cycle_flat_in_series_meets_every_target() -> None:
    lean = Lean([point(10, 180, 2.0), point(30, 200, 6.0)])  # 1.11x; 6 s / 30 runs = 0.2 s
    assert [met for _, met, _ in targets(lean)] == [True, True, True]


def test_a_cycle_that_grows_with_series_misses_the_memory_targets() -> None:
    lean = Lean([point(10, 197, 3.4), point(30, 284, 11.1)])
    by_name = {target.split(" (")[0]: (met, evidence) for target, met, evidence in targets(lean)}
    ratio = by_name["peak RSS at 30 series within 1.2x of 10"]
    assert ratio == (False, "284 / 197 MB = 1.44x")
    assert by_name["peak RSS at 30 series under 250 MB"][0] is False
    cpu = next(v for k, v in by_name.items() if k.startswith("CPU per new run"))
    assert cpu[0] is False  # 11.1 s / 30 runs = 0.37 s
    assert marginal_cpu(lean.points) == (11.1 - 3.4) / 20


def test_the_section_shows_before_and_after_and_the_charts_share() -> None:
    lean = Lean([point(10, 177, 3.6), point(30, 195, 10.9)], no_charts=point(30, 179, 4.9))
    text = lean_markdown(lean)
    assert text.startswith("## A lean cycle as evidence grows\n")
    assert "| 30 | 284 MB, 11.11 s (0.37 s/run), 12.67 s, 30 q | 195 MB, 10.90 s" in text
    assert "| 30, CHARTS=off | - | 179 MB, 4.90 s (0.16 s/run)" in text
    assert "costs 6.00 s of the command here (55%)" in text
    assert "1.10x - met" in text
    assert "machine_probe" not in text  # no probe measured: nothing said of the machine
    probed = lean_markdown(Lean(lean.points, lean.no_charts, probe=0.29))
    assert "(`bench.lean.machine_probe`) took 0.29 s." in probed
    assert "on its sheet" not in text  # no chart measured: nothing said of them
    charted = lean_markdown(
        Lean(lean.points, lean.no_charts, charts=[ChartCpu("trend", 0.08, 0.05)])
    )
    assert "a trend takes 50 ms of CPU on its sheet against 80 ms on a new figure" in charted


def test_the_chart_measure_draws_both_kinds_both_ways() -> None:
    # Which way is cheaper is for `make bench` to say, not a timed assertion here.
    measured = chart_cpu(renders=1)
    assert [c.kind for c in measured] == ["trend", "cluster map"]
    assert all(c.new_figure > 0 and c.sheet > 0 for c in measured)


def test_a_repeated_point_says_its_range() -> None:
    lean = Lean([point(10, 170, 3.0), point(30, 175, 9.0, cpus=(8.4, 9.0, 10.5))])
    (cpu,) = [evidence for target, _, evidence in targets(lean) if target.startswith("CPU")]
    assert cpu.endswith("the median of 3 first checks, which took 0.28-0.35 s a run)")
    once = Lean([point(10, 170, 3.0), point(30, 175, 9.0)])
    assert "median" not in next(e for t, _, e in targets(once) if t.startswith("CPU"))
