"""The cluster map: a run's items at their 2-D coordinates, one colour per cluster.

PostHog gives every item an `x`/`y` in a per-run 2-D projection (UMAP) and every cluster a 2-D
centroid; the map draws what PostHog's scatter plot draws, sized to be read in Slack's preview
(about 360 px wide): big type, only the 12 largest clusters labelled (plus highlighted ones),
labels that would overlap dropped, no axes (projection coordinates mean nothing to a reader).

Highlighted clusters (an alert's cluster) get a dark outline and a halo; everything else fades.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from bot.charts.palette import (
    INK,
    LABEL_SIZE,
    MUTED_INK,
    NOTE_SIZE,
    OUTLIER_COLOUR,
    OUTLIER_HIGHLIGHT_COLOUR,
    TITLE_SIZE,
    cluster_style,
    plain,
    rendering,
    sheet,
    shorten,
    text_style,
    to_png,
)
from bot.domain.models import NOISE_CLUSTER_ID, Cluster, ClusteringRun

LABELLED_MAX = 12
LABEL_CHARS = 28
HEADING_CHARS = 52
LABEL_PAD_PX = 6.0
AXES_RECT = (0.01, 0.01, 0.98, 0.855)  # left, bottom, width, height (figure fractions)
LIMIT_PAD = 0.06  # of the data span, on each side
FADED_ALPHA = 0.25
NORMAL_ALPHA = 0.75

Floats = npt.NDArray[np.float64]
VAlign = Literal["bottom", "center", "top"]


@dataclass(frozen=True)
class _Points:
    cluster: Cluster
    x: Floats
    y: Floats

    @property
    def count(self) -> int:
        return int(self.x.size)

    def centre(self) -> tuple[float, float]:
        """The cluster's 2-D centroid as PostHog gives it, else the mean of its items."""
        cx, cy = self.cluster.centroid_x, self.cluster.centroid_y
        if cx is not None and cy is not None and math.isfinite(cx) and math.isfinite(cy):
            return float(cx), float(cy)
        return float(self.x.mean()), float(self.y.mean())


def render_cluster_map(
    run: ClusteringRun,
    *,
    highlight: Collection[int] = (),
    size: tuple[float, float] = (8, 6),
    dpi: int = 110,
) -> bytes | None:
    """A PNG of the run's clusters, or None when no item has coordinates."""
    points = _points(run)
    if not any(p.count for p in points):
        return None
    with rendering():
        figure, (ax,) = sheet("map", size, dpi, _frame)
        _draw(figure, ax, run, points, frozenset(highlight))
        return to_png(figure)


def _frame(figure: Figure) -> list[Axes]:
    """The map's one axes: no ticks, light spines (made once: `palette.sheet`)."""
    ax = figure.add_axes(AXES_RECT)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#DDDDDD")
    return [ax]


def _points(run: ClusteringRun) -> list[_Points]:
    """Finite coordinates per cluster; clusters in id order (which fixes their colours)."""
    out = []
    for cluster in sorted(run.clusters, key=lambda c: c.cluster_id):
        xs, ys = [], []
        for item in cluster.items:
            x, y = item.x, item.y
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y):
                xs.append(x)
                ys.append(y)
        out.append(_Points(cluster, np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)))
    return out


def _draw(
    figure: Figure, ax: Axes, run: ClusteringRun, points: list[_Points], highlight: frozenset[int]
) -> None:
    _set_limits(ax, points)

    drawn = [p for p in points if p.count]
    total = sum(p.count for p in drawn)
    marker_size = float(np.clip(24_000 / max(total, 1), 5.0, 30.0))
    present = {p.cluster.cluster_id for p in drawn}
    highlighted = highlight & present
    real = [p for p in points if not p.cluster.is_noise]
    styles = {p.cluster.cluster_id: cluster_style(i) for i, p in enumerate(real)}
    halos: dict[int, Ellipse] = {}

    for p in drawn:
        cid = p.cluster.cluster_id
        is_on = cid in highlighted
        faded = bool(highlighted) and not is_on
        if p.cluster.is_noise:
            colour = OUTLIER_HIGHLIGHT_COLOUR if is_on else OUTLIER_COLOUR
            ax.scatter(
                p.x,
                p.y,
                s=marker_size * (0.9 if is_on else 0.45),
                c=colour,
                marker="o",
                linewidths=0,
                alpha=FADED_ALPHA if faded else (0.9 if is_on else 0.6),
                zorder=3 if is_on else 1,
            )
            continue
        colour, marker = styles[cid]
        ax.scatter(
            p.x,
            p.y,
            s=marker_size * (1.5 if is_on else 1.0),
            c=colour,
            marker=marker,
            edgecolors=INK if is_on else "none",
            linewidths=0.6 if is_on else 0.0,
            alpha=FADED_ALPHA if faded else (0.95 if is_on else NORMAL_ALPHA),
            zorder=3 if is_on else 2,
        )
        if is_on:
            halos[cid] = _halo(ax, p)

    notes = _titles(figure, ax, run, drawn, highlighted)
    _labels(figure, ax, drawn, highlighted, styles, halos, notes)


def _set_limits(ax: Axes, points: Sequence[_Points]) -> None:
    xs = np.concatenate([p.x for p in points if p.count])
    ys = np.concatenate([p.y for p in points if p.count])
    for values, setter in ((xs, ax.set_xlim), (ys, ax.set_ylim)):
        low, high = float(values.min()), float(values.max())
        span = high - low
        pad = span * LIMIT_PAD if span > 0 else max(abs(low) * 0.1, 1.0)
        setter(low - pad, high + pad)


def _halo(ax: Axes, p: _Points) -> Ellipse:
    """A thick dark ellipse (on a white one) around most of the cluster's items."""
    cx, cy = p.centre()
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    min_w, min_h = (xlim[1] - xlim[0]) * 0.06, (ylim[1] - ylim[0]) * 0.06
    width = max(2.3 * float(np.percentile(np.abs(p.x - cx), 95)), min_w)
    height = max(2.3 * float(np.percentile(np.abs(p.y - cy), 95)), min_h)
    rings = [
        Ellipse((cx, cy), width, height, fill=False, edgecolor=colour, linewidth=line, zorder=4)
        for colour, line in (("white", 6.0), (INK, 2.8))
    ]
    for ring in rings:
        ax.add_patch(ring)
    return rings[0]


def _labels(
    figure: Figure,
    ax: Axes,
    drawn: Sequence[_Points],
    highlighted: frozenset[int],
    styles: dict[int, tuple[str, str]],
    halos: dict[int, Ellipse],
    notes: Sequence[Text],
) -> None:
    """Label highlighted clusters, then the largest ones, skipping labels that would overlap
    another label, a note, or a highlighted cluster's halo.

    A label sits on its cluster's centroid (a highlighted one just above its halo) in a white
    box edged in the cluster's colour, which ties the name to the dots.
    """
    ranked = sorted(
        (p for p in drawn if not p.cluster.is_noise or p.cluster.cluster_id in highlighted),
        key=lambda p: (-p.cluster.size, p.cluster.cluster_id),
    )
    chosen = [p for p in ranked if p.cluster.cluster_id in highlighted]
    chosen += [p for p in ranked if p.cluster.cluster_id not in highlighted][:LABELLED_MAX]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    placed: list[Bbox] = [note.get_window_extent(renderer).padded(LABEL_PAD_PX) for note in notes]
    frame = ax.get_window_extent(renderer)
    xlim = ax.get_xlim()
    halos_reserved = False
    for p in chosen:
        cid = p.cluster.cluster_id
        is_on = cid in highlighted
        if not is_on and not halos_reserved:  # highlighted labels are placed; keep halos clear
            placed += [ring.get_window_extent(renderer) for ring in halos.values()]
            halos_reserved = True
        cx, cy = p.centre()
        where = (cx - xlim[0]) / (xlim[1] - xlim[0])
        align = "left" if where < 0.2 else "right" if where > 0.8 else "center"
        edge = OUTLIER_HIGHLIGHT_COLOUR if p.cluster.is_noise else styles[cid][0]
        box = {
            "boxstyle": "round,pad=0.22",
            "facecolor": "white",
            "edgecolor": INK if is_on else edge,
            "linewidth": 2.2 if is_on else 1.6,
            "alpha": 0.95 if is_on else (0.6 if highlighted else 0.85),
        }
        name = "Outliers" if p.cluster.is_noise else p.cluster.title
        spots: list[tuple[float, VAlign]] = [(cy, "center")]
        if is_on and cid in halos:
            half = halos[cid].height / 2
            spots = [(cy + half, "bottom"), (cy - half, "top"), (cy, "center")]
        text = ax.text(
            cx,
            cy,
            shorten(name, LABEL_CHARS) or f"Cluster {cid}",
            **text_style(
                LABEL_SIZE + (1.0 if is_on else 0.0),
                color=MUTED_INK if highlighted and not is_on else INK,
                ha=align,
                va="center",
                fontweight="bold" if is_on else "normal",
                zorder=6 if is_on else 5,
                clip_on=False,
                bbox=box,
            ),
        )
        if not _place(text, spots, renderer, placed, frame) and not is_on:
            text.remove()


def _place(
    text: Text,
    spots: Sequence[tuple[float, VAlign]],
    renderer: RendererBase,
    placed: list[Bbox],
    frame: Bbox,
) -> bool:
    """Move `text` to the first spot where it fits in the frame and overlaps no placed label,
    trying each spot also nudged up to three lines up or down and half its width sideways,
    nearest first; False (left at the first spot) if none fits.

    A spot is `(y in data coordinates, vertical alignment)`.
    """
    x = text.get_position()[0]
    transform = text.get_transform()
    for y, va in spots:
        text.set_position((x, y))
        text.set_verticalalignment(va)
        base = text.get_window_extent(renderer).padded(LABEL_PAD_PX)
        # Keep the whole label inside the frame sideways.
        inward = max(frame.x0 - base.x0, 0.0) - max(base.x1 - frame.x1, 0.0)
        base = base.translated(inward, 0)
        dy, dx = base.height * 1.05, base.width * 0.5
        for nx, ny in sorted(
            ((i * dx, j * dy) for i in (0, 1, -1) for j in (0, 1, -1, 2, -2, 3, -3)),
            key=lambda n: abs(n[0]) / dx + abs(n[1]) / dy,
        ):
            box = base.translated(nx, ny)
            fits = frame.x0 <= box.x0 and box.x1 <= frame.x1
            fits = fits and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if fits and not any(box.overlaps(other) for other in placed):
                anchor = transform.transform((x, y))
                moved = transform.inverted().transform((anchor[0] + inward + nx, anchor[1] + ny))
                text.set_position((float(moved[0]), float(moved[1])))
                placed.append(box)
                return True
    text.set_position((x, spots[0][0]))
    text.set_verticalalignment(spots[0][1])
    return False


def _titles(
    figure: Figure,
    ax: Axes,
    run: ClusteringRun,
    drawn: Sequence[_Points],
    highlighted: frozenset[int],
) -> list[Text]:
    """The heading above the map; returns the notes drawn inside it (labels avoid them)."""
    heading = shorten(f"{run.level.value} · {run.job_label}", HEADING_CHARS)
    figure.text(
        0.015, 0.97, heading, **text_style(TITLE_SIZE, color=INK, fontweight="bold", va="top")
    )
    clusters = sum(1 for c in run.clusters if not c.is_noise)
    parts = [_window(run), f"{run.total_items:,} items", f"{clusters} clusters"]
    figure.text(
        0.015,
        0.91,
        plain(" · ".join(parts)),
        **text_style(NOTE_SIZE + 1, color=MUTED_INK, va="top"),
    )
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
    notes = []
    outliers = next((p for p in drawn if p.cluster.is_noise), None)
    if outliers is not None:
        note = ax.text(
            0.99,
            0.015,
            f"grey: {outliers.count:,} outliers",
            transform=ax.transAxes,
            **text_style(NOTE_SIZE, color=MUTED_INK, ha="right", va="bottom", zorder=7, bbox=box),
        )
        notes.append(note)
    if len(highlighted) == 1:
        (cid,) = highlighted
        cluster = next(p.cluster for p in drawn if p.cluster.cluster_id == cid)
        label = "outliers" if cid == NOISE_CLUSTER_ID else shorten(cluster.title, 40)
        note = ax.text(
            0.01,
            0.015,
            f"outlined: {label}",
            transform=ax.transAxes,
            **text_style(NOTE_SIZE, color=INK, ha="left", va="bottom", zorder=7, bbox=box),
        )
        notes.append(note)
    return notes


def _window(run: ClusteringRun) -> str:
    start, end = run.window_start, run.window_end
    if start is not None and end is not None:
        return f"{_day(start)} – {_day(end)} {end:%Y}"
    return f"run {_day(run.timestamp)} {run.timestamp:%Y}"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b}"
