"""Axes on a :class:`~ipdmeta.report.canvas.Canvas`: scales, ticks, their labels, and a
layout that measures every label so that none is cut at the figure's edge.

A panel's frame is laid out once, from the text it will carry: the widest y tick label,
the tallest x tick label, the axis labels, the title and a legend. Data are then placed in
the box that is left, with :meth:`Panel.x` and :meth:`Panel.y` mapping data to points.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ipdmeta.report.canvas import LINE_SPACING, Canvas, MarkerShape, Stroke, text_height, text_width

EDGE = 5.0  # points of white around everything drawn (matplotlib's 0.07 in)
TICK_LENGTH = 3.5
TICK_PAD = 3.5  # between a tick and its label
LABEL_PAD = 4.0  # between the tick labels and the axis label
FONT_SIZE = 10.0
SPINE = Stroke("#000000", 0.8)
MINUS = "\N{MINUS SIGN}"


@dataclass(frozen=True)
class Scale:
    """Data from ``lo`` to ``hi`` along an axis; ``log`` for a logarithmic one;
    ``inverted`` puts ``lo`` at the top (or right)."""

    lo: float
    hi: float
    log: bool = False
    inverted: bool = False

    def fraction(self, values: object) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        if self.log:
            v, lo, hi = np.log10(v), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        f = (v - lo) / (hi - lo)
        return 1.0 - f if self.inverted else f


@dataclass(frozen=True)
class Axis:
    scale: Scale
    ticks: Sequence[float] = ()
    labels: Sequence[str] = ()
    title: str = ""
    tick_size: float = FONT_SIZE


def padded(values: Sequence[float] | np.ndarray, margin: float = 0.05) -> tuple[float, float]:
    """The range of ``values`` widened by ``margin`` of itself at each end (as matplotlib
    leaves around data)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    if hi == lo:
        half = abs(lo) * 0.1 or 1.0
        return lo - half, hi + half
    span = hi - lo
    return lo - margin * span, hi + margin * span


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round-numbered ticks (steps of 1, 2, 2.5 or 5 times a power of 10) within
    [lo, hi], at most ``most`` + 1 of them."""
    raw = (hi - lo) / max(most, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1.0, 2.0, 2.5, 5.0, 10.0) if s * magnitude >= raw * 0.999)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Ticks with as many decimals as their step needs, and a true minus sign."""
    if len(ticks) == 0:
        return []
    steps = np.diff(ticks) if len(ticks) > 1 else np.array([abs(ticks[0]) or 1.0])
    step = float(np.min(np.abs(steps)))
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, step):
        decimals += 1
    labels = []
    for value in ticks:
        text = f"{value:.{decimals}f}"
        if float(text) == 0:
            text = text.lstrip("-")
        labels.append(text.replace("-", MINUS))
    return labels


def linear_axis(
    values: Sequence[float] | np.ndarray, title: str = "", *, length: float = 300.0
) -> Axis:
    """An axis around ``values`` (padded by 5 %) with round-numbered ticks, about one per
    50 points of ``length``."""
    return axis_between(*padded(values), title, length=length)


def axis_between(
    lo: float, hi: float, title: str = "", *, length: float = 300.0, inverted: bool = False
) -> Axis:
    """An axis from exactly ``lo`` to ``hi`` with round-numbered ticks inside."""
    ticks = nice_ticks(lo, hi, most=max(3, min(8, int(length // 50))))
    return Axis(Scale(lo, hi, inverted=inverted), ticks, tick_labels(ticks), title)


def category_axis(
    labels: Sequence[str],
    title: str = "",
    *,
    tick_size: float = FONT_SIZE,
    first_at_top: bool = True,
) -> Axis:
    """Categories at 0, 1, ..., the first at the top of a vertical axis (or the bottom)."""
    n = len(labels)
    scale = Scale(-0.6, n - 0.4, inverted=first_at_top)
    return Axis(scale, list(range(n)), list(labels), title, tick_size)


@dataclass(frozen=True)
class Panel:
    """A frame drawn on a canvas, and the map from its data to points."""

    canvas: Canvas
    left: float
    top: float
    right: float
    bottom: float
    xaxis: Axis
    yaxis: Axis

    def x(self, values: object) -> np.ndarray:
        return self.left + self.xaxis.scale.fraction(values) * (self.right - self.left)

    def y(self, values: object) -> np.ndarray:
        # A vertical scale's fraction runs upward; "inverted" puts lo at the top.
        return self.bottom - self.yaxis.scale.fraction(values) * (self.bottom - self.top)

    # Drawing in data coordinates.

    def hline(
        self, y: float, stroke: Stroke, x0: float | None = None, x1: float | None = None
    ) -> None:
        left = self.left if x0 is None else float(self.x(x0))
        right = self.right if x1 is None else float(self.x(x1))
        yy = float(self.y(y))
        self.canvas.line(left, yy, right, yy, stroke)

    def vline(
        self, x: float, stroke: Stroke, y0: float | None = None, y1: float | None = None
    ) -> None:
        top = self.top if y1 is None else float(self.y(y1))
        bottom = self.bottom if y0 is None else float(self.y(y0))
        xx = float(self.x(x))
        self.canvas.line(xx, top, xx, bottom, stroke)

    def segments(self, x0: object, x1: object, y0: object, y1: object, stroke: Stroke) -> None:
        """A line from (x0, y0) to (x1, y1) for each element (scalars are repeated)."""
        ends = np.broadcast_arrays(self.x(x0), self.y(y0), self.x(x1), self.y(y1))
        for a, b, c, d in zip(*(np.atleast_1d(e) for e in ends), strict=True):
            self.canvas.line(float(a), float(b), float(c), float(d), stroke)

    def points(
        self,
        x: object,
        y: object,
        *,
        shape: MarkerShape = "o",
        size: float | Sequence[float] = 4.0,
        fill: str | Sequence[str] = "#000000",
        edge: Stroke | None = None,
        opacity: float = 1.0,
    ) -> None:
        xs, ys = np.atleast_1d(self.x(x)), np.atleast_1d(self.y(y))
        sizes = np.broadcast_to(np.asarray(size, dtype=float), xs.shape)
        fills = [fill] * xs.size if isinstance(fill, str) else list(fill)
        for a, b, s, f in zip(xs, ys, sizes, fills, strict=True):
            if np.isfinite(a) and np.isfinite(b):
                self.canvas.marker(
                    float(a), float(b), shape=shape, size=float(s), fill=f, edge=edge,
                    opacity=opacity,
                )  # fmt: skip

    def line(self, x: object, y: object, stroke: Stroke) -> None:
        self.canvas.path(zip(self.x(x), self.y(y), strict=True), stroke=stroke)

    def polygon(self, x: object, y: object, fill: str, stroke: Stroke | None = None) -> None:
        self.canvas.path(
            zip(self.x(x), self.y(y), strict=True), closed=True, fill=fill, stroke=stroke
        )


@dataclass(frozen=True)
class LegendEntry:
    label: str
    fill: str
    shape: MarkerShape | None = None  # a marker; None: a filled square patch
    edge: str = "#555555"


def legend_width(entries: Sequence[LegendEntry], title: str = "", size: float = FONT_SIZE) -> float:
    if not entries:
        return 0.0
    widest = max(text_width(e.label, size) for e in entries)
    return max(widest + 1.6 * size + 6.0, text_width(title, size)) + 10.0


def draw_legend(
    canvas: Canvas, x: float, top: float, entries: Sequence[LegendEntry], title: str = "",
    size: float = FONT_SIZE,
) -> None:  # fmt: skip
    step = LINE_SPACING * size * 1.15
    y = top + 0.6 * size
    if title:
        canvas.text(x, y, title, size=size, valign="center")
        y += step
    for entry in entries:
        cx = x + 0.6 * size
        if entry.shape is None:
            canvas.rect(
                cx - 0.5 * size, y - 0.35 * size, size, 0.7 * size, fill=entry.fill,
                stroke=Stroke(entry.edge, 0.5),
            )  # fmt: skip
        else:
            canvas.marker(
                cx, y, shape=entry.shape, size=0.8 * size, fill=entry.fill,
                edge=Stroke(entry.edge, 0.4),
            )  # fmt: skip
        canvas.text(x + 1.6 * size, y, entry.label, size=size, valign="center")
        y += step


def panel(
    canvas: Canvas,
    xaxis: Axis,
    yaxis: Axis,
    *,
    region: tuple[float, float, float, float] | None = None,
    title: str = "",
    title_size: float = FONT_SIZE,
    right_reserve: float = 0.0,
    spines: bool = True,
) -> Panel:
    """Lay out and draw a frame within ``region`` (left, top, right, bottom; the whole
    canvas by default): axes, ticks and labels outside the data's box, ``right_reserve``
    points kept free on the right (for a legend)."""
    left0, top0, right0, bottom0 = region or (0.0, 0.0, canvas.width, canvas.height)
    left0, top0, right0, bottom0 = left0 + EDGE, top0 + EDGE, right0 - EDGE, bottom0 - EDGE
    # Titles longer than the region are wrapped at spaces, so that they fit it.
    xaxis = dataclasses.replace(xaxis, title=wrapped(xaxis.title, FONT_SIZE, right0 - left0))
    yaxis = dataclasses.replace(yaxis, title=wrapped(yaxis.title, FONT_SIZE, bottom0 - top0))
    title = wrapped(title, title_size, right0 - left0)
    tick = TICK_LENGTH if spines else 0.0
    ysize, xsize = yaxis.tick_size, xaxis.tick_size
    ytick_width = max((text_width(t, ysize) for t in yaxis.labels), default=0.0)
    xtick_height = max((text_height(t, xsize) for t in xaxis.labels), default=0.0)
    ylabel = text_height(yaxis.title, FONT_SIZE) + LABEL_PAD if yaxis.title else 0.0
    xlabel = text_height(xaxis.title, FONT_SIZE) + LABEL_PAD if xaxis.title else 0.0
    titled = text_height(title, title_size) + 6.0 if title else 0.0

    left = left0 + ylabel + ytick_width + TICK_PAD + tick
    bottom = bottom0 - xlabel - xtick_height - TICK_PAD - tick
    top = top0 + max(titled, 0.6 * ysize)
    right = right0 - right_reserve
    # x tick labels are centred on their ticks: keep the outermost ones inside.
    fractions = xaxis.scale.fraction(xaxis.ticks) if len(xaxis.ticks) else np.array([])
    widths = [text_width(t, xsize) for t in xaxis.labels]
    for f, w in zip(fractions, widths, strict=True):
        if f > 1e-9:
            right = min(right, left + (right0 - right_reserve - left - w / 2) / f)
        left = max(left, left0 + w / 2 - f * (right - left))
    frame = Panel(canvas, left, top, right, bottom, xaxis, yaxis)
    if len(xaxis.labels) > 2:
        frame = _thinned(frame, widths)
    _draw_frame(frame, title, title_size, spines, (left0, top0, right0, bottom0))
    return frame


def wrapped(text: str, size: float, width: float) -> str:
    """``text`` with its lines broken at spaces where they are wider than ``width``."""
    lines = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            trial = f"{current} {word}" if current else word
            if current and text_width(trial, size) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return "\n".join(lines)


def _centred(centre: float, width: float, low: float, high: float) -> float:
    """``centre`` moved as little as needed for a text of ``width`` to lie in [low, high]."""
    return min(max(centre, low + width / 2), max(high - width / 2, low + width / 2))


def _thinned(frame: Panel, widths: list[float]) -> Panel:
    """The frame with every other (third, ...) x tick label blanked, counted from the
    last, when neighbouring labels would touch (a log axis of many decades)."""
    centres = frame.x(frame.xaxis.ticks)
    labels = list(frame.xaxis.labels)
    for every in range(1, len(labels)):
        kept = sorted(range(len(labels) - 1, -1, -every))
        gaps = [
            (centres[b] - widths[b] / 2) - (centres[a] + widths[a] / 2)
            for a, b in itertools.pairwise(kept)
        ]
        if min(gaps, default=1.0) >= 4.0:
            shown = [label if i in kept else "" for i, label in enumerate(labels)]
            axis = dataclasses.replace(frame.xaxis, labels=shown)
            return dataclasses.replace(frame, xaxis=axis)
    return frame


def _draw_frame(
    frame: Panel,
    title: str,
    title_size: float,
    spines: bool,
    region: tuple[float, float, float, float],
) -> None:
    """Axes, ticks and labels around ``frame``; titles are centred on the data's box, or as
    near it as keeps them inside ``region`` (long tick labels can push the box aside)."""
    left0, top0, right0, bottom0 = region
    canvas = frame.canvas
    tick = TICK_LENGTH if spines else 0.0
    if spines:
        canvas.line(frame.left, frame.top, frame.left, frame.bottom, SPINE)
        canvas.line(frame.left, frame.bottom, frame.right, frame.bottom, SPINE)
    xs: Any = frame.x(frame.xaxis.ticks) if len(frame.xaxis.ticks) else []
    for x, label in zip(xs, frame.xaxis.labels, strict=True):
        if tick:
            canvas.line(float(x), frame.bottom, float(x), frame.bottom + tick, SPINE)
        if not label:
            continue
        canvas.text(
            float(x), frame.bottom + tick + TICK_PAD, label, size=frame.xaxis.tick_size,
            anchor="middle", valign="top",
        )  # fmt: skip
    ys: Any = frame.y(frame.yaxis.ticks) if len(frame.yaxis.ticks) else []
    for y, label in zip(ys, frame.yaxis.labels, strict=True):
        if tick:
            canvas.line(frame.left - tick, float(y), frame.left, float(y), SPINE)
        canvas.text(
            frame.left - tick - TICK_PAD, float(y), label, size=frame.yaxis.tick_size,
            anchor="end", valign="center",
        )  # fmt: skip
    middle = (frame.left + frame.right) / 2
    if frame.xaxis.title:
        width = text_width(frame.xaxis.title, FONT_SIZE)
        canvas.text(
            _centred(middle, width, left0, right0), bottom0, frame.xaxis.title,
            anchor="middle", valign="bottom",
        )  # fmt: skip
    if frame.yaxis.title:
        height = text_width(frame.yaxis.title, FONT_SIZE)  # its length, turned upright
        canvas.text(
            left0, _centred((frame.top + frame.bottom) / 2, height, top0, bottom0),
            frame.yaxis.title, anchor="middle", valign="top", rotate=90.0,
        )  # fmt: skip
    if title:
        width = text_width(title, title_size)
        canvas.text(
            _centred(middle, width, left0, right0), frame.top - 6.0, title, size=title_size,
            anchor="middle", valign="bottom",
        )  # fmt: skip
