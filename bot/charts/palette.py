"""What the charts share: colour-blind-safe colours, font sizes, safe text, PNG output.

Colours: Okabe & Ito's eight-colour set (without black, kept for outlines and text), then Paul
Tol's "muted" scheme for more clusters. Beyond those, colours repeat with a different marker
shape, so no two of the first 56 clusters look alike. Outliers are always light grey.

Text drawn in a chart is untrusted (titles are written by an LLM, job names by users). It is
drawn with mathtext off (a `$` in a title stays a dollar sign) and reduced to characters the
bundled font has, so a title full of emoji or CJK renders as what it can, never as a warning.

Matplotlib is used through its object API with the Agg canvas only: no pyplot, no global
figure state, nothing to display. Its shared caches (fonts, text layout) are not documented as
thread-safe, so renders are serialised by `rendering()` (a render takes well under a second).
"""

from __future__ import annotations

import struct
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

RENDER_LOCK = threading.Lock()

OKABE_ITO = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
)
# Paul Tol's "muted" scheme, less the colours too close to an Okabe-Ito one (cyan, sand).
TOL_MUTED = (
    "#332288",  # indigo
    "#882255",  # wine
    "#117733",  # green
    "#999933",  # olive
    "#CC6677",  # rose
    "#44AA99",  # teal
    "#AA4499",  # purple
)
CLUSTER_COLOURS: tuple[str, ...] = OKABE_ITO + TOL_MUTED
MARKERS = ("o", "s", "^", "D")
OUTLIER_COLOUR = "#BBBBBB"
OUTLIER_HIGHLIGHT_COLOUR = "#555555"
INK = "#222222"  # text, outlines, the alert marker
MUTED_INK = "#666666"
ALERT_COLOUR = "#D55E00"
LINE_COLOUR = "#0072B2"

FONT_FAMILY = "DejaVu Sans"  # bundled with matplotlib: the same glyphs on every machine
TITLE_SIZE = 15.0
LABEL_SIZE = 12.5
TICK_SIZE = 11.0
NOTE_SIZE = 10.5

ELLIPSIS = "…"


def cluster_style(index: int) -> tuple[str, str]:
    """`(colour, marker)` of the index-th real cluster of a run (clusters in id order)."""
    colours = len(CLUSTER_COLOURS)
    return CLUSTER_COLOURS[index % colours], MARKERS[(index // colours) % len(MARKERS)]


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """Code points that both the regular and the bold bundled font can draw."""
    from matplotlib import font_manager, ft2font

    points: frozenset[int] | None = None
    for weight in ("normal", "bold"):
        props = font_manager.FontProperties(family=FONT_FAMILY, weight=weight)
        path = font_manager.findfont(props, fallback_to_default=True)
        charmap = frozenset(ft2font.FT2Font(path).get_charmap())
        points = charmap if points is None else points & charmap
    return points or frozenset(range(32, 127))


def plain(text: str) -> str:
    """One line of text the font can draw: controls and unknown glyphs go, spaces collapse."""
    drawable = _drawable()
    kept = []
    for char in text:
        if unicodedata.category(char).startswith(("C", "Z")):
            kept.append(" ")
        elif ord(char) in drawable:
            kept.append(char)
    return " ".join("".join(kept).split())


def shorten(text: str, limit: int) -> str:
    """`plain(text)` cut to at most `limit` characters, ending in an ellipsis when cut."""
    flat = plain(text)
    if len(flat) <= limit:
        return flat
    return flat[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def text_style(size: float, **extra: Any) -> dict[str, Any]:
    """Keyword arguments for `Axes.text` and friends: our font, no mathtext."""
    return {"fontsize": size, "family": FONT_FAMILY, "parse_math": False, **extra}


@contextmanager
def rendering(style: Mapping[RcKeyType, Any] | None = None) -> Iterator[None]:
    """Held while a chart is built and drawn: one render at a time, text without hinting, and
    the chart's own `style` (rcParams its axes, ticks and grid are made with, which costs less
    than restyling them after).

    Unhinted, FreeType skips the font's hinting program for every glyph measured and drawn
    (about a third of a map's text CPU); at our sizes (10-15 pt at 110 dpi) glyphs move by a
    fraction of a pixel.
    """
    params: dict[RcKeyType, Any] = {"text.hinting": "no_hinting", **(style or {})}
    with RENDER_LOCK, mpl.rc_context(params):
        yield


class _Canvas(FigureCanvasAgg):
    """An Agg canvas that draws on the renderer the last chart of its size drew on.

    `draw` clears the renderer before drawing, so nothing of an earlier chart shows; what
    carries over is the pixel buffer's allocation and matplotlib's text metrics, which it
    caches per renderer (the same tick labels, panel names and notes in every chart). Used
    under `RENDER_LOCK` only, like everything here.
    """

    def get_renderer(self) -> RendererAgg:
        global _renderer
        width, height = self.get_width_height(physical=True)
        key = (width, height, self.figure.dpi)
        if _renderer is None or _renderer[0] != key:
            made = RendererAgg(width, height, self.figure.dpi)  # type: ignore[no-untyped-call]
            _renderer = (key, made)
        self.renderer = renderer = _renderer[1]
        return renderer


_renderer: tuple[tuple[int, int, float], RendererAgg] | None = None


def new_figure(size: tuple[float, float], dpi: int) -> Figure:
    figure = Figure(figsize=size, dpi=dpi, facecolor="white")
    _Canvas(figure)
    return figure


def sheet(
    kind: str,
    size: tuple[float, float],
    dpi: int,
    make_axes: Callable[[Figure], Sequence[Axes]],
) -> tuple[Figure, tuple[Axes, ...]]:
    """A figure and its axes for one kind of chart: made by `make_axes` the first time, and
    wiped of the last chart's lines, texts, patches and collections every time after.

    Making axes (their ticks, spines and grid, styled by the rcParams in force) is about two
    fifths of a trend's CPU and the same for every chart of a kind, so it is done once. What
    a chart shows it sets on every draw (limits, ticks, every artist), so a chart drawn on a
    wiped sheet is the same PNG, byte for byte, as one drawn on a new figure. Under
    `RENDER_LOCK` only, like everything here.
    """
    key = (kind, size, dpi)
    made = _sheets.get(key)
    if made is None:
        figure = new_figure(size, dpi)
        made = _sheets[key] = (figure, tuple(make_axes(figure)))
        return made
    figure, axes = made
    for ax in axes:
        for artist in (*ax.lines, *ax.texts, *ax.patches, *ax.collections, *ax.images):
            artist.remove()
    for artist in list(figure.texts):
        artist.remove()
    return made


_sheets: dict[tuple[str, tuple[float, float], int], tuple[Figure, tuple[Axes, ...]]] = {}


def to_png(figure: Figure) -> bytes:
    """The figure drawn on its Agg canvas, as an 8-bit RGB PNG: rows unfiltered, compressed at
    zlib level 1, no metadata.

    Charts are mostly flat colour, which deflate compresses well without PNG's row filters:
    this takes under half the CPU of matplotlib's `savefig` through Pillow (adaptive filters,
    level 1) for files about a tenth smaller (bench/lean.py). Every figure has an opaque white
    face (`sheet`), so the alpha channel would only add a quarter to what deflate reads.
    """
    canvas = figure.canvas
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())  # type: ignore[attr-defined]
    height, width, _ = pixels.shape
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None on every row
    rows[:, 1:] = pixels[:, :, :3].reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.data, 1)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
