"""The trend chart: gaps for missing values, the alert marked, odd inputs never raise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.charts import palette
from bot.charts.trend import TrendPoint, _money, _pct, render_trend, series
from tests.support.charts import decode, stats

START = datetime(2026, 11, 1, tzinfo=UTC)


def points(n: int = 10, *, seed: int = 0) -> list[TrendPoint]:
    rng = np.random.default_rng(seed)
    return [
        TrendPoint(
            run_id=f"run-{i}",
            window_end=START + timedelta(days=i + (i // 4)),  # a skipped day now and then
            share=float(0.12 + rng.normal(0, 0.01)),
            avg_cost=float(0.006 + rng.normal(0, 0.0004)) * (2.2 if i == n - 1 else 1.0),
            error_rate=float(abs(rng.normal(0.02, 0.01))),
        )
        for i in range(n)
    ]


def test_png_of_the_expected_size() -> None:
    png = render_trend(points(), title="Document retrieval", alert_run_id="run-9")
    assert decode(png).shape == (660, 880, 3)


def test_same_points_same_picture() -> None:
    a = render_trend(points(seed=1), title="t", alert_run_id="run-9")
    b = render_trend(points(seed=1), title="t", alert_run_id="run-9")
    c = render_trend(points(seed=2), title="t", alert_run_id="run-9")
    assert stats(a).close_to(stats(b))
    assert not stats(a).close_to(stats(c))


def test_missing_values_are_gaps_not_zeros() -> None:
    pts = points(6)
    pts[2] = TrendPoint(pts[2].run_id, pts[2].window_end, None, None, None)
    pts[4] = TrendPoint(pts[4].run_id, pts[4].window_end, 0.1, math.nan, 0.0)
    plotted = series(pts)
    share, cost, errors = (plotted[k] for k in ("Share of run", "Avg cost per item", "Error rate"))
    assert list(np.ma.getmaskarray(share)) == [False, False, True, False, False, False]
    assert list(np.ma.getmaskarray(cost)) == [False, False, True, False, True, False]
    assert errors[4] == 0.0 and not np.ma.getmaskarray(errors)[4]  # a real zero stays zero
    assert share[4] == pytest.approx(10.0)  # percent
    # Drawn, a gap is not a zero: the two pictures differ.
    zeros = list(pts)
    zeros[2] = TrendPoint(pts[2].run_id, pts[2].window_end, 0.0, 0.0, 0.0)
    gap_png = render_trend(pts, title="t", alert_run_id=None)
    zero_png = render_trend(zeros, title="t", alert_run_id=None)
    assert not stats(gap_png).close_to(stats(zero_png))


def test_the_alert_run_is_marked() -> None:
    pts = points()
    marked = render_trend(pts, title="t", alert_run_id="run-9")
    unmarked = render_trend(pts, title="t", alert_run_id=None)
    elsewhere = render_trend(pts, title="t", alert_run_id="not-in-the-lineage")
    assert not stats(marked).close_to(stats(unmarked))
    assert stats(elsewhere).close_to(stats(unmarked))

    # The marker is orange (Okabe-Ito vermillion): the marked picture has red-dominant pixels.
    def orange(png: bytes) -> int:
        rgb = decode(png)[:, :, :3]
        return int(((rgb[:, :, 0] > 0.7) & (rgb[:, :, 2] < 0.3)).sum())

    assert orange(marked) > orange(unmarked) + 200


def _no_dates(pts: list[TrendPoint]) -> list[TrendPoint]:
    return [TrendPoint(p.run_id, None, p.share, p.avg_cost, p.error_rate) for p in pts]


DEGENERATE = [
    pytest.param([], id="no points"),
    pytest.param(points(1), id="one point"),
    pytest.param([TrendPoint(f"r{i}", None, None, None, None) for i in range(5)], id="all missing"),
    pytest.param(_no_dates(points(5)), id="no window ends"),
    pytest.param(
        [TrendPoint(f"r{i}", START, 0.1, 0.01, 0.0) for i in range(3)], id="same window end"
    ),
    pytest.param(
        [TrendPoint(f"r{i}", START + timedelta(days=i), 0.0, 0.0, 0.0) for i in range(4)],
        id="all zero",
    ),
    pytest.param(
        [
            TrendPoint("a", START, math.inf, -math.inf, math.nan),
            TrendPoint("b", START + timedelta(days=1), 1e9, 1e9, 1e9),
        ],
        id="wild values",
    ),
    pytest.param(points(40), id="many runs"),
    pytest.param(
        [
            TrendPoint("a", START, None, 0.01, None),
            TrendPoint("b", START + timedelta(days=1), 0.2, None, 0.1),
            TrendPoint("c", START + timedelta(days=3), None, 0.02, None),
        ],
        id="isolated points",
    ),
]


@pytest.mark.parametrize("pts", DEGENERATE)
def test_degenerate_inputs_still_give_a_png(pts: list[TrendPoint]) -> None:
    alert = pts[-1].run_id if pts else None
    png = render_trend(pts, title="🚀 $x$ <!here>\n" + "y" * 200, alert_run_id=alert)
    assert decode(png).shape == (660, 880, 3)


def _drawn(pts: list[TrendPoint]) -> bytes:
    return render_trend(pts, title="A cluster", alert_run_id=pts[-1].run_id if pts else None)


@pytest.mark.parametrize("pts", DEGENERATE)
def test_the_sheet_keeps_nothing_of_the_last_chart(
    pts: list[TrendPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Charts of a kind are drawn on one wiped figure (`palette.sheet`): each is the same PNG,
    byte for byte, as on a new figure, whatever was drawn before it."""
    monkeypatch.setattr(palette, "_sheets", {})
    alone = _drawn(pts)
    monkeypatch.setattr(palette, "_sheets", {})
    full = _drawn(points(7, seed=2))
    assert _drawn(pts) == alone
    assert _drawn(points(7, seed=2)) == full


def test_value_labels() -> None:
    assert _money(0.0141, None) == "$0.0141"
    assert _money(0.008, 3) == "$0.008"
    assert _money(12.5, None) == "$12.50"
    assert _money(0.0, None) == "$0"
    assert _pct(10.13, None) == "10.1%"
    assert _pct(1.5, 1) == "1.5%"
    assert _pct(12.0, 0) == "12%"
