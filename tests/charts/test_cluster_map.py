"""The cluster map: a valid, deterministic PNG; highlights show; odd runs never raise."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import pytest

from bot.charts import palette
from bot.charts.cluster_map import AXES_RECT, LIMIT_PAD, render_cluster_map
from bot.charts.palette import CLUSTER_COLOURS, MARKERS, cluster_style, plain, shorten
from bot.domain.models import NOISE_CLUSTER_ID, Cluster, ClusteringRun
from tests.support.charts import decode, map_run, stats
from tests.support.factories import make_item, make_run

SIZE, DPI = (8, 6), 110
WIDTH, HEIGHT = 880, 660


def test_png_of_the_expected_size() -> None:
    png = render_cluster_map(map_run())
    assert png is not None
    assert decode(png).shape == (HEIGHT, WIDTH, 3)


def test_same_run_same_picture() -> None:
    first = render_cluster_map(map_run(seed=3))
    again = render_cluster_map(map_run(seed=3))
    assert first is not None and again is not None
    assert stats(first).close_to(stats(again))
    other = render_cluster_map(map_run(seed=4))
    assert other is not None
    assert not stats(first).close_to(stats(other))


def test_colours_follow_cluster_ids_not_payload_order() -> None:
    run = map_run(seed=5)
    shuffled = list(run.clusters)
    random.Random(1).shuffle(shuffled)
    reordered = run.model_copy(update={"clusters": tuple(shuffled)})
    a, b = render_cluster_map(run), render_cluster_map(reordered)
    assert a is not None and b is not None
    assert np.array_equal(decode(a), decode(b))


def test_palette_is_distinct_then_changes_marker() -> None:
    assert len(set(CLUSTER_COLOURS)) == len(CLUSTER_COLOURS)
    styles = [cluster_style(i) for i in range(len(CLUSTER_COLOURS) * len(MARKERS))]
    assert len(set(styles)) == len(styles)
    assert cluster_style(0) == (CLUSTER_COLOURS[0], MARKERS[0])


def _pixel(run: ClusteringRun, x: float, y: float) -> tuple[int, int]:
    """Row and column of data point (x, y) in the map, as render_cluster_map lays it out."""
    xs = [i.x for c in run.clusters for i in c.items if i.x is not None]
    ys = [i.y for c in run.clusters for i in c.items if i.y is not None]
    left, bottom, width, height = AXES_RECT

    def frac(v: float, values: list[float]) -> float:
        low, high = min(values), max(values)
        pad = (high - low) * LIMIT_PAD
        return (v - (low - pad)) / ((high + pad) - (low - pad))

    col = (left + width * frac(x, xs)) * WIDTH
    row = (1 - (bottom + height * frac(y, ys))) * HEIGHT
    return round(row), round(col)


def _window(pixels: np.ndarray[Any, Any], at: tuple[int, int], r: int = 45) -> np.ndarray[Any, Any]:
    row, col = at
    return pixels[max(row - r, 0) : row + r, max(col - r, 0) : col + r, :3]


def test_highlight_outlines_its_cluster_and_fades_the_rest() -> None:
    run = map_run(seed=7, clusters=4, spread=0.5)
    target = run.cluster(2)
    other = run.cluster(0)
    assert target is not None and other is not None
    plain_png = render_cluster_map(run)
    lit_png = render_cluster_map(run, highlight=[2])
    assert plain_png is not None and lit_png is not None
    before, after = decode(plain_png), decode(lit_png)
    assert target.centroid_x is not None and target.centroid_y is not None
    assert other.centroid_x is not None and other.centroid_y is not None
    here = _pixel(run, target.centroid_x, target.centroid_y)
    there = _pixel(run, other.centroid_x, other.centroid_y)
    changed = np.abs(_window(after, here) - _window(before, here)).mean()
    assert changed > 0.02
    # Dark outline and edges: the highlighted cluster gets darker ...
    assert _window(after, here).mean() < _window(before, here).mean()
    # ... and another cluster fades toward white.
    assert _window(after, there).mean() > _window(before, there).mean()


def test_highlighting_the_outliers_or_an_unknown_cluster() -> None:
    run = map_run(seed=8)
    assert render_cluster_map(run, highlight=[NOISE_CLUSTER_ID]) is not None
    unknown = render_cluster_map(run, highlight=[99])
    plain_png = render_cluster_map(run)
    assert unknown is not None and plain_png is not None
    assert stats(unknown).close_to(stats(plain_png))


def _run_of(*clusters: Cluster) -> ClusteringRun:
    return make_run(*clusters)


def _cluster(cid: int, coords: list[tuple[float | None, float | None]], **kw: Any) -> Cluster:
    items = tuple(make_item(f"{cid}-{i}", rank=i, x=x, y=y) for i, (x, y) in enumerate(coords))
    return Cluster(
        cluster_id=cid, size=max(len(items), 1), title=kw.pop("title", f"T{cid}"), items=items, **kw
    )


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(_run_of(), id="no clusters"),
        pytest.param(_run_of(_cluster(0, [])), id="no items"),
        pytest.param(_run_of(_cluster(0, [(None, None), (None, 1.0)])), id="no coordinates"),
        pytest.param(
            _run_of(_cluster(0, [(math.nan, 1.0), (math.inf, 2.0), (1.0, -math.inf)])),
            id="only non-finite coordinates",
        ),
    ],
)
def test_no_map_without_coordinates(run: ClusteringRun) -> None:
    assert render_cluster_map(run) is None


def _many(n: int, clusters: int, seed: int = 2) -> ClusteringRun:
    return map_run(seed=seed, clusters=clusters, items=n, spread=0.3)


EMOJI_TITLE = "🚀 <!channel> $x^2$ \\frac{1}{2} 請求書の抽出\n\tnew\x00line " + "x" * 300


@pytest.mark.parametrize(
    "run, highlight",
    [
        pytest.param(_run_of(_cluster(0, [(1.0, 2.0)])), (), id="one item"),
        pytest.param(_run_of(_cluster(0, [(1.0, 1.0)] * 30)), (0,), id="all at one point"),
        pytest.param(_run_of(_cluster(0, [(float(i), 0.0) for i in range(20)])), (0,), id="flat"),
        pytest.param(map_run(seed=1, clusters=1), (0,), id="one cluster"),
        pytest.param(
            _run_of(_cluster(NOISE_CLUSTER_ID, [(float(i % 7), float(i % 5)) for i in range(80)])),
            (NOISE_CLUSTER_ID,),
            id="all outliers",
        ),
        pytest.param(
            _run_of(
                _cluster(0, [(1.0, 1.0), (None, 2.0), (math.nan, 3.0), (2.0, 2.0)]),
                _cluster(1, [(None, None)]),
                _cluster(2, [(5.0, 5.0), (6.0, 5.5)], centroid_x=math.nan, centroid_y=None),
            ),
            (1, 2),
            id="mixed missing coordinates",
        ),
        pytest.param(
            _run_of(_cluster(0, [(1.0, 1.0), (2.0, 3.0)], title=EMOJI_TITLE)),
            (0,),
            id="hostile title",
        ),
        pytest.param(_run_of(_cluster(0, [(1.0, 1.0), (2.0, 3.0)], title="")), (0,), id="no title"),
        pytest.param(
            _run_of(_cluster(0, [(1e12, -1e12), (-1e12, 1e12)], centroid_x=1e15, centroid_y=0.0)),
            (0,),
            id="huge coordinates",
        ),
        pytest.param(_many(5000, 12), (3,), id="5000 items"),
        pytest.param(_many(4000, 200), (150, NOISE_CLUSTER_ID), id="200 clusters"),
    ],
)
def test_degenerate_runs_still_give_a_png(run: ClusteringRun, highlight: tuple[int, ...]) -> None:
    png = render_cluster_map(run, highlight=highlight)
    assert png is not None
    assert decode(png).shape == (HEIGHT, WIDTH, 3)


def test_other_sizes() -> None:
    png = render_cluster_map(map_run(), size=(4, 3), dpi=90)
    assert png is not None
    assert decode(png).shape == (270, 360, 3)


def test_titles_are_cut_and_made_drawable() -> None:
    assert shorten("Structured extraction from receipts", 28) == "Structured extraction from…"
    assert len(shorten("x" * 100, 28)) == 28
    assert shorten("short", 28) == "short"
    assert plain("🚀 Launch\n\tday\x00 🎉") == "Launch day"
    assert plain("$5 <b>") == "$5 <b>"


def test_measure_a_1500_item_run(record_property: Any) -> None:
    """Not a limit: the numbers go into the report (`-rP` or the junit XML)."""
    run = map_run(seed=11, clusters=9, items=1500)
    render_cluster_map(run)  # warm the font cache
    started = time.perf_counter()
    png = render_cluster_map(run, highlight=[3])
    elapsed = time.perf_counter() - started
    assert png is not None
    record_property("render_seconds", round(elapsed, 3))
    record_property("png_bytes", len(png))
    print(f"cluster map, 1500 items: {elapsed * 1000:.0f} ms, {len(png) / 1024:.0f} KiB")


@pytest.mark.parametrize("highlight", [(), (2,), (NOISE_CLUSTER_ID,), (0, 3)])
def test_the_sheet_keeps_nothing_of_the_last_map(
    highlight: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maps are drawn on one wiped figure (`palette.sheet`): each is the same PNG, byte for
    byte, as on a new figure, whatever map was drawn before it."""
    run, other = map_run(seed=3, clusters=7), map_run(seed=8, clusters=3, outliers=0.0)
    monkeypatch.setattr(palette, "_sheets", {})
    alone = render_cluster_map(run, highlight=highlight)
    assert render_cluster_map(other, highlight=(1,)) is not None
    assert render_cluster_map(run, highlight=highlight) == alone
