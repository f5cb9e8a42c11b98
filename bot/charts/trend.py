"""The trend chart: one cluster's share, cost per item and error rate over its recent runs.

Three small stacked panels over the runs of one cluster lineage (the cluster matched run to run,
`bot.services.charts.lineage`), oldest left. A value that is not known is a gap in the line,
never a zero: runs without metrics leave a hole, and an isolated point still shows as a dot.
The alert's run is marked by a vertical line across all three panels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from bot.charts.palette import (
    ALERT_COLOUR,
    INK,
    LABEL_SIZE,
    LINE_COLOUR,
    MUTED_INK,
    NOTE_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    rendering,
    sheet,
    shorten,
    text_style,
    to_png,
)
from bot.charts.points import TrendPoint

TITLE_CHARS = 60
TICKS_MAX = 8
SPINE_COLOUR = "#BBBBBB"
GRID_COLOUR = "#EEEEEE"
# The panels' look, set while they are made (tick_params and grid calls on every panel after
# would restyle each tick again): small dark ticks, left and bottom spines in light grey, a
# light horizontal grid under the lines.
STYLE: dict[RcKeyType, Any] = {
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": SPINE_COLOUR,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": GRID_COLOUR,
    "grid.linewidth": 1.0,
    "axes.axisbelow": True,
}


@dataclass(frozen=True)
class _Panel:
    name: str
    value: Callable[[TrendPoint], float | None]
    scale: float
    label: Callable[[float, int | None], str]  # (value, decimal places or None: automatic)


def _places(step: float) -> int:
    """The fewest decimal places that write every multiple of `step` exactly."""
    for places in range(7):
        if abs(round(step, places) - step) <= 1e-9 * max(1.0, abs(step)):
            return places
    return 6


def _significant(value: float) -> int:
    """Decimal places that show `value` to about three significant digits."""
    if value == 0 or not math.isfinite(value):
        return 0
    return min(6, max(0, 2 - math.floor(math.log10(abs(value)))))


def _pct(value: float, places: int | None) -> str:
    if places is None:
        places = min(_significant(value), 1)
    return f"{value:.{places}f}%"


def _money(value: float, places: int | None) -> str:
    if places is None:
        places = max(2, _significant(value))
    return f"${value:,.{places}f}" if value else "$0"


PANELS = (
    _Panel("Share of run", lambda p: p.share, 100.0, _pct),
    _Panel("Avg cost per item", lambda p: p.avg_cost, 1.0, _money),
    _Panel("Error rate", lambda p: p.error_rate, 100.0, _pct),
)


def render_trend(
    points: Sequence[TrendPoint],
    *,
    title: str,
    alert_run_id: str | None,
    size: tuple[float, float] = (8, 6),
    dpi: int = 110,
) -> bytes:
    """A PNG of the three panels; points oldest first."""
    with rendering(STYLE):
        figure, axes = sheet("trend", size, dpi, _panels)
        xs, ticks = _positions(points)
        alert = next((i for i, p in enumerate(points) if p.run_id == alert_run_id), None)
        for ax, panel in zip(axes, PANELS, strict=True):
            _draw_panel(ax, panel, points, xs, alert)
        _x_axis(axes[-1], xs, ticks, alert)
        if alert is not None:
            axes[0].text(
                xs[alert],
                1.04,
                "this alert",
                transform=axes[0].get_xaxis_transform(),
                **text_style(NOTE_SIZE, color=ALERT_COLOUR, ha="center", va="bottom"),
            )
        figure.text(
            0.015,
            0.975,
            shorten(title, TITLE_CHARS) or "Cluster trend",
            **text_style(TITLE_SIZE, color=INK, fontweight="bold", va="top"),
        )
        runs = f"{len(points)} run{'s' if len(points) != 1 else ''} of this cluster, oldest left"
        figure.text(0.015, 0.92, runs, **text_style(NOTE_SIZE + 1, color=MUTED_INK, va="top"))
        return to_png(figure)


def _panels(figure: Figure) -> list[Axes]:
    """The three stacked panels, sharing their x axis (made once: `palette.sheet`)."""
    figure.subplots_adjust(left=0.13, right=0.965, top=0.835, bottom=0.075, hspace=0.34)
    axes = list(figure.subplots(len(PANELS), 1, sharex=True, squeeze=False)[:, 0])
    for ax in axes:
        # The panels have no axis labels: placing them (away from every sibling's tick
        # labels, measured at each draw) would be work for nothing.
        ax.xaxis.set_label_coords(0.5, 0.0)
        ax.yaxis.set_label_coords(0.0, 0.5)
    return axes


def _positions(points: Sequence[TrendPoint]) -> tuple[list[float], list[str]]:
    """x of each point and its tick label: window end dates when every run has a distinct
    one (runs can skip days, and the gaps should show), else run numbers."""
    ends = [p.window_end for p in points]
    if ends and all(e is not None for e in ends) and len(set(ends)) == len(ends):
        dated = [e for e in ends if e is not None]
        return [e.timestamp() / 86_400 for e in dated], [f"{e.day} {e:%b}" for e in dated]
    return [float(i) for i in range(len(points))], [f"run {i + 1}" for i in range(len(points))]


def series(points: Sequence[TrendPoint]) -> dict[str, np.ma.MaskedArray[Any, Any]]:
    """What each panel plots, by panel name, in display units: a missing value is masked."""
    return {panel.name: _values(panel, points) for panel in PANELS}


def _values(panel: _Panel, points: Sequence[TrendPoint]) -> np.ma.MaskedArray[Any, Any]:
    raw = [panel.value(p) for p in points]
    scaled = [v * panel.scale if v is not None and math.isfinite(v) else np.nan for v in raw]
    return np.ma.masked_invalid(np.array(scaled, dtype=float))


def _draw_panel(
    ax: Axes, panel: _Panel, points: Sequence[TrendPoint], xs: list[float], alert: int | None
) -> None:
    values = _values(panel, points)
    ax.text(
        0.0,
        1.02,
        panel.name,
        transform=ax.transAxes,
        **text_style(LABEL_SIZE, color=INK, fontweight="bold", ha="left", va="bottom"),
    )
    if alert is not None:
        ax.axvline(xs[alert], color=ALERT_COLOUR, linewidth=2.0, linestyle="--", zorder=1)
    if values.count() == 0:
        ax.text(
            0.5,
            0.5,
            "no data",
            transform=ax.transAxes,
            **text_style(NOTE_SIZE + 1, color=MUTED_INK, ha="center", va="center"),
        )
        ax.set_yticks([])
        ax.set_ylim(0, 1)
        return
    ax.plot(xs, values, color=LINE_COLOUR, linewidth=2.4, marker="o", markersize=5.5, zorder=3)
    missing = np.ma.getmaskarray(values)
    if alert is not None and not missing[alert]:
        ax.plot([xs[alert]], [values[alert]], "o", color=ALERT_COLOUR, markersize=8.5, zorder=4)
    top = float(values.max())
    ceiling = top * 1.3 if top > 0 else (1.0 if panel.scale > 1 else 0.01)
    ax.set_ylim(0, ceiling)
    ticks = [float(t) for t in MaxNLocator(nbins=3, min_n_ticks=2).tick_values(0, ceiling)]
    ticks = [t for t in ticks if 0 <= t <= ceiling * 1.0001]
    places = _places(ticks[1] - ticks[0]) if len(ticks) > 1 else 2
    ax.set_yticks(ticks, [panel.label(t, places) for t in ticks])
    last = int(np.flatnonzero(~missing)[-1])
    ax.annotate(
        panel.label(float(values[last]), None),
        (xs[last], float(values[last])),
        xytext=(0, 7),
        textcoords="offset points",
        **text_style(
            NOTE_SIZE + 1,
            color=INK,
            ha="center",
            va="bottom",
            fontweight="bold",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85},
        ),
    )


def _x_axis(ax: Axes, xs: list[float], labels: list[str], alert: int | None) -> None:
    if not xs:
        ax.set_xticks([])
        return
    keep = set(range(0, len(xs), max(1, math.ceil(len(xs) / TICKS_MAX))))
    keep.add(len(xs) - 1)
    if alert is not None:
        keep.add(alert)
    chosen = sorted(keep)
    ax.set_xticks([xs[i] for i in chosen], [labels[i] for i in chosen])
    span = xs[-1] - xs[0]
    pad = span * 0.06 if span > 0 else 1.0
    ax.set_xlim(xs[0] - pad, xs[-1] + pad)
