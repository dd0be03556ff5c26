"""A figure as a list of shapes in points (1/72 inch, origin at the top left), written as
SVG for the HTML report and drawn from the same shapes into a PNG for Word.

The report's figures used to be laid out and drawn twice each by matplotlib (SVG, then a
300 dpi PNG): about 10 CPU seconds for the example's 17 figures, most of a run. Here the
layout is computed once, from the font's own metrics, and both files follow it: the SVG
is written as text, and Skia (skia-python) draws the PNG. Text is measured and drawn with
DejaVu Sans, which ships with matplotlib, so every machine lays figures out alike; a
browser without it falls back to Arial or Helvetica, both narrower, for the SVG's text.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import struct
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Literal

Anchor = Literal["start", "middle", "end"]
VAlign = Literal["baseline", "top", "center", "bottom"]
MarkerShape = Literal["o", "s", "D", "X"]

FONT_FAMILY = "DejaVu Sans, Arial, Helvetica, sans-serif"
LINE_SPACING = 1.2  # a line of text takes 1.2 times its size, as matplotlib sets it


@dataclass(frozen=True)
class Stroke:
    colour: str = "#000000"
    width: float = 0.8
    dash: tuple[float, ...] = ()


@dataclass(frozen=True)
class _Path:
    points: tuple[tuple[float, float], ...]
    closed: bool
    fill: str | None
    stroke: Stroke | None
    opacity: float


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str | None
    stroke: Stroke | None
    radius: float


@dataclass(frozen=True)
class _Marker:
    x: float
    y: float
    shape: MarkerShape
    size: float  # width of the marker, points
    fill: str
    edge: Stroke | None
    opacity: float


@dataclass(frozen=True)
class _Text:
    x: float
    y: float  # the baseline
    text: str
    size: float
    anchor: Anchor
    bold: bool
    colour: str
    rotate: float  # degrees, counter-clockwise, about (x, y)


Shape = _Path | _Rect | _Marker | _Text


@dataclass
class Canvas:
    """A figure ``width`` x ``height`` points; shapes are drawn in the order added."""

    width: float
    height: float
    shapes: list[Shape] = field(default_factory=list)

    @classmethod
    def inches(cls, width: float, height: float) -> Canvas:
        return cls(72.0 * width, 72.0 * height)

    @property
    def width_inches(self) -> float:
        return self.width / 72.0

    def line(self, x0: float, y0: float, x1: float, y1: float, stroke: Stroke) -> None:
        self.shapes.append(_Path(((x0, y0), (x1, y1)), False, None, stroke, 1.0))

    def path(
        self,
        points: Iterable[tuple[float, float]],
        *,
        closed: bool = False,
        fill: str | None = None,
        stroke: Stroke | None = None,
        opacity: float = 1.0,
    ) -> None:
        points = tuple((float(x), float(y)) for x, y in points)
        if len(points) >= 2:
            self.shapes.append(_Path(points, closed, fill, stroke, opacity))

    def rect(
        self,
        x: float,
        y: float,
        width: float,
        height: float,
        *,
        fill: str | None = None,
        stroke: Stroke | None = None,
        radius: float = 0.0,
    ) -> None:
        self.shapes.append(_Rect(x, y, width, height, fill, stroke, radius))

    def marker(
        self,
        x: float,
        y: float,
        *,
        shape: MarkerShape = "o",
        size: float = 4.0,
        fill: str = "#000000",
        edge: Stroke | None = None,
        opacity: float = 1.0,
    ) -> None:
        self.shapes.append(_Marker(float(x), float(y), shape, size, fill, edge, opacity))

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 10.0,
        anchor: Anchor = "start",
        valign: VAlign = "baseline",
        bold: bool = False,
        colour: str = "#000000",
        rotate: float = 0.0,
    ) -> None:
        """``text`` (lines split at newlines) placed by ``anchor`` and ``valign`` at
        (x, y); rotated text (by 90 degrees) is placed as if it were not, then turned
        about (x, y)."""
        lines = text.split("\n")
        first = first_baseline(len(lines), size, valign)
        step = LINE_SPACING * size
        for i, line in enumerate(lines):
            offset = first + i * step
            if rotate:  # a quarter turn: the lines stack along x instead of y
                turn = math.radians(rotate)
                dx, dy = offset * math.sin(turn), offset * math.cos(turn)
            else:
                dx, dy = 0.0, offset
            self.shapes.append(_Text(x + dx, y + dy, line, size, anchor, bold, colour, rotate))

    def text_extents(self) -> list[tuple[str, float, float, float, float]]:
        """Every text's box as drawn: (text, left, top, right, bottom), in points."""
        return [
            (shape.text, *_text_box(shape)) for shape in self.shapes if isinstance(shape, _Text)
        ]

    def bounds(self) -> tuple[float, float, float, float]:
        """The box (left, top, right, bottom) of everything drawn, strokes included."""
        boxes = [_shape_box(shape) for shape in self.shapes]
        if not boxes:
            return 0.0, 0.0, 0.0, 0.0
        lefts, tops, rights, bottoms = zip(*boxes, strict=True)
        return min(lefts), min(tops), max(rights), max(bottoms)

    def to_svg(self) -> str:
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(self.width)}pt" '
            f'height="{_num(self.height)}pt" viewBox="0 0 {_num(self.width)} '
            f'{_num(self.height)}" font-family="{FONT_FAMILY}">',
            f'<rect width="{_num(self.width)}" height="{_num(self.height)}" fill="#ffffff"/>',
        ]
        parts += [_svg(shape) for shape in self.shapes]
        parts.append("</svg>")
        return "\n".join(parts)

    def to_png(self, dpi: float) -> bytes:
        """The figure drawn at ``dpi`` on white: a PNG that records its resolution."""
        import skia

        scale = dpi / 72.0
        width, height = math.ceil(self.width * scale), math.ceil(self.height * scale)
        pixels = _scratch_pixels(height, width)  # Skia draws straight into this array
        surface = skia.Surface(pixels, colorType=skia.kRGBA_8888_ColorType)
        canvas = surface.getCanvas()
        canvas.clear(skia.ColorWHITE)
        canvas.scale(scale, scale)
        for shape in self.shapes:
            _draw(canvas, shape)
        del canvas, surface
        return _png(pixels, dpi)


# Each thread's pixel buffer, reused from figure to figure. A new 300 dpi buffer of 10-20
# MB is a page fault per 4 kB page when first written, which cost more than drawing: the
# example's 17 figures took 0.38 s to draw into new arrays and 0.05 s into one reused.
_SCRATCH = threading.local()


def _scratch_pixels(height: int, width: int) -> Any:
    """A height x width x 4 array of this thread's buffer, grown when too small."""
    import numpy as np

    size = height * width * 4
    buffer = getattr(_SCRATCH, "pixels", None)
    if buffer is None or buffer.size < size:
        buffer = _SCRATCH.pixels = np.empty(size, dtype=np.uint8)
    return buffer[:size].reshape(height, width, 4)


def _png(pixels: Any, dpi: float) -> bytes:
    """An 8-bit PNG of the height x width x 3 (RGB) or x 4 (RGBA) array ``pixels`` that
    records ``dpi``.

    Written here rather than by Pillow, whose encoder tries each of PNG's row filters on
    every row (1.13 s for the example's figures). Every row is unfiltered (PNG's filter
    0), and the rows go to the compressor a few at a time through one small buffer that
    adds each row's filter byte: the pixels are not copied whole. The compressor is
    ISA-L's deflate (isal) where installed, zlib otherwise: both at level 1, which ISA-L
    does six times faster than zlib, to files about as large. Skia's pixels are RGBA,
    written as they are: dropping the (opaque) alpha would be another copy.
    """
    import numpy as np

    height, width, channels = pixels.shape
    flat = np.ascontiguousarray(pixels).reshape(height, width * channels)
    per_chunk = max(1, _ROWS_BYTES // (width * channels + 1))
    rows = np.empty((min(per_chunk, height), width * channels + 1), dtype=np.uint8)
    rows[:, 0] = 0  # each row's filter: none
    compressor = _deflate().compressobj(1)
    parts = []
    for start in range(0, height, per_chunk):
        count = min(per_chunk, height - start)
        rows[:count, 1:] = flat[start : start + count]
        parts.append(compressor.compress(rows[:count].data))
    parts.append(compressor.flush())
    per_metre = round(dpi / 0.0254)
    colour_type = {3: 2, 4: 6}[channels]  # truecolour, truecolour with alpha
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _chunk(b"IDAT", b"".join(parts)),
            _chunk(b"IEND", b""),
        ]
    )


_ROWS_BYTES = 1 << 18  # the rows handed to the compressor at a time: a few hundred kB


@functools.cache
def _deflate() -> Any:
    """The zlib-compatible module that compresses PNGs: isal_zlib, or zlib."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib
    return isal_zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# ---- text metrics ------------------------------------------------------------------------


def load_fonts() -> None:
    """Import Skia and read the fonts now: worker processes forked afterwards inherit them
    instead of each doing it again (about 0.1 s each)."""
    _typeface(False)
    _typeface(True)


def _font_file(bold: bool) -> str:
    spec = importlib.util.find_spec("matplotlib")  # its data, without importing it
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib, whose DejaVu Sans the figures use, is not installed")
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return str(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / name)


@functools.cache
def _typeface(bold: bool) -> Any:
    import skia

    # An empty font manager loads the one file; the default one first scans the system's
    # fonts through fontconfig (0.6 s).
    typeface = skia.FontMgr.New_Custom_Empty().makeFromFile(_font_file(bold))
    if typeface is None:
        raise RuntimeError(f"could not read the font {_font_file(bold)}")
    return typeface


@functools.cache
def _font(size: float, bold: bool) -> Any:
    import skia

    font = skia.Font(_typeface(bold), size)
    # Unhinted, with fractional advances, as browsers lay text out: widths then scale
    # with the size and agree with the SVG's text.
    font.setSubpixel(True)
    font.setLinearMetrics(True)
    font.setHinting(skia.FontHinting.kNone)
    font.setEdging(skia.Font.Edging.kAntiAlias)
    return font


@functools.cache
def _metrics(bold: bool) -> tuple[float, float]:
    """Ascent and descent of the font, as fractions of its size."""
    metrics = _font(100.0, bold).getMetrics()
    return -metrics.fAscent / 100.0, metrics.fDescent / 100.0


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in points of the longest line of ``text``."""
    font = _font(float(size), bold)
    return max(font.measureText(line) for line in text.split("\n"))


def text_height(text: str, size: float) -> float:
    """Height in points of ``text``'s lines, from the top of the first to the bottom of
    the last."""
    lines = text.count("\n") + 1
    ascent, descent = _metrics(False)
    return (lines - 1) * LINE_SPACING * size + (ascent + descent) * size


def first_baseline(lines: int, size: float, valign: VAlign) -> float:
    """Offset from the anchor point to the first line's baseline."""
    ascent, descent = _metrics(False)
    block = (lines - 1) * LINE_SPACING * size + (ascent + descent) * size
    top = {"top": 0.0, "center": -block / 2, "bottom": -block, "baseline": -ascent * size}
    return top[valign] + ascent * size


def _anchored(anchor: Anchor, width: float) -> float:
    """Where a text of ``width`` starts, relative to its anchor point."""
    return {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]


def _text_box(text: _Text) -> tuple[float, float, float, float]:
    width = text_width(text.text, text.size, text.bold)
    ascent, descent = _metrics(text.bold)
    shift = _anchored(text.anchor, width)
    # Unrotated box relative to the baseline point, then turned with the text.
    left, right = shift, shift + width
    top, bottom = -ascent * text.size, descent * text.size
    if not text.rotate:
        return text.x + left, text.y + top, text.x + right, text.y + bottom
    turn = math.radians(-text.rotate)  # SVG's y points down
    cos, sin = math.cos(turn), math.sin(turn)
    corners = [(u * cos - v * sin, u * sin + v * cos) for u in (left, right) for v in (top, bottom)]
    xs, ys = [text.x + c[0] for c in corners], [text.y + c[1] for c in corners]
    return min(xs), min(ys), max(xs), max(ys)


def _shape_box(shape: Shape) -> tuple[float, float, float, float]:
    if isinstance(shape, _Text):
        return _text_box(shape)
    if isinstance(shape, _Marker):
        half = shape.size / 2 + (shape.edge.width / 2 if shape.edge else 0.0)
        return shape.x - half, shape.y - half, shape.x + half, shape.y + half
    if isinstance(shape, _Rect):
        xs = [shape.x, shape.x + shape.width]
        ys = [shape.y, shape.y + shape.height]
    else:
        xs = [x for x, _ in shape.points]
        ys = [y for _, y in shape.points]
    half = shape.stroke.width / 2 if shape.stroke else 0.0
    return min(xs) - half, min(ys) - half, max(xs) + half, max(ys) + half


# ---- SVG ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _stroke_attributes(stroke: Stroke | None) -> str:
    if stroke is None:
        return ' stroke="none"'
    text = f' stroke="{stroke.colour}" stroke-width="{_num(stroke.width)}"'
    if stroke.dash:
        text += f' stroke-dasharray="{" ".join(_num(d) for d in stroke.dash)}"'
    return text


def _svg(shape: Shape) -> str:
    if isinstance(shape, _Text):
        attributes = f'x="{_num(shape.x)}" y="{_num(shape.y)}" font-size="{_num(shape.size)}"'
        if shape.anchor != "start":
            attributes += f' text-anchor="{shape.anchor}"'
        if shape.bold:
            attributes += ' font-weight="bold"'
        if shape.colour != "#000000":
            attributes += f' fill="{shape.colour}"'
        if shape.rotate:
            attributes += (
                f' transform="rotate({_num(-shape.rotate)} {_num(shape.x)} {_num(shape.y)})"'
            )
        # Leading spaces indent list items in a box; SVG would collapse them.
        return f'<text {attributes} xml:space="preserve">{escape(shape.text, quote=False)}</text>'
    if isinstance(shape, _Path):
        d = "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in shape.points)
        if shape.closed:
            d += " Z"
        fill = shape.fill or "none"
        opacity = f' opacity="{_num(shape.opacity)}"' if shape.opacity < 1 else ""
        return f'<path d="{d}" fill="{fill}"{_stroke_attributes(shape.stroke)}{opacity}/>'
    if isinstance(shape, _Rect):
        radius = f' rx="{_num(shape.radius)}"' if shape.radius else ""
        return (
            f'<rect x="{_num(shape.x)}" y="{_num(shape.y)}" width="{_num(shape.width)}" '
            f'height="{_num(shape.height)}"{radius} fill="{shape.fill or "none"}"'
            f"{_stroke_attributes(shape.stroke)}/>"
        )
    return _svg_marker(shape)


def _marker_outline(shape: _Marker) -> list[tuple[float, float]]:
    """The outline of a square, diamond or X marker, centred on the origin."""
    h = shape.size / 2
    if shape.shape == "s":
        return [(-h, -h), (h, -h), (h, h), (-h, h)]
    if shape.shape == "D":
        return [(0, -h), (h, 0), (0, h), (-h, 0)]
    t = h / 3  # the X's arm half-thickness
    arm = [(-h + t, -h), (0, -t), (h - t, -h), (h, -h + t), (t, 0), (h, h - t)]
    return [*arm, (h - t, h), (0, t), (-h + t, h), (-h, h - t), (-t, 0), (-h, -h + t)]


def _svg_marker(shape: _Marker) -> str:
    style = f' fill="{shape.fill}"{_stroke_attributes(shape.edge)}'
    if shape.opacity < 1:
        style += f' opacity="{_num(shape.opacity)}"'
    if shape.shape == "o":
        return (
            f'<circle cx="{_num(shape.x)}" cy="{_num(shape.y)}" r="{_num(shape.size / 2)}"{style}/>'
        )
    d = "M" + " L".join(
        f"{_num(shape.x + u)} {_num(shape.y + v)}" for u, v in _marker_outline(shape)
    )
    return f'<path d="{d} Z"{style}/>'


# ---- PNG (Skia) --------------------------------------------------------------------------


@functools.cache
def _colour(colour: str) -> int:
    value = int(colour.lstrip("#"), 16)
    return 0xFF000000 | value


def _paints(fill: str | None, stroke: Stroke | None, opacity: float) -> list[Any]:
    import skia

    paints = []
    alpha = round(255 * opacity)
    if fill is not None and fill != "none":
        paint = skia.Paint(AntiAlias=True, Color=_colour(fill))
        paint.setAlpha(alpha)
        paints.append(paint)
    if stroke is not None:
        paint = skia.Paint(
            AntiAlias=True,
            Color=_colour(stroke.colour),
            Style=skia.Paint.kStroke_Style,
            StrokeWidth=stroke.width,
        )
        paint.setAlpha(alpha)
        if stroke.dash:
            paint.setPathEffect(skia.DashPathEffect.Make(list(stroke.dash), 0.0))
        paints.append(paint)
    return paints


def _skia_path(points: Sequence[tuple[float, float]], closed: bool) -> Any:
    import skia

    path = skia.Path()
    path.moveTo(*points[0])
    for point in points[1:]:
        path.lineTo(*point)
    if closed:
        path.close()
    return path


def _draw(canvas: Any, shape: Shape) -> None:
    import skia

    if isinstance(shape, _Text):
        paint = skia.Paint(AntiAlias=True, Color=_colour(shape.colour))
        font = _font(shape.size, shape.bold)
        shift = _anchored(shape.anchor, font.measureText(shape.text))
        canvas.save()
        canvas.translate(shape.x, shape.y)
        if shape.rotate:
            canvas.rotate(-shape.rotate)
        canvas.drawString(shape.text, shift, 0.0, font, paint)
        canvas.restore()
    elif isinstance(shape, _Path):
        path = _skia_path(shape.points, shape.closed)
        for paint in _paints(shape.fill, shape.stroke, shape.opacity):
            canvas.drawPath(path, paint)
    elif isinstance(shape, _Rect):
        box = skia.Rect.MakeXYWH(shape.x, shape.y, shape.width, shape.height)
        for paint in _paints(shape.fill, shape.stroke, 1.0):
            canvas.drawRoundRect(box, shape.radius, shape.radius, paint)
    elif shape.shape == "o":
        for paint in _paints(shape.fill, shape.edge, shape.opacity):
            canvas.drawCircle(shape.x, shape.y, shape.size / 2, paint)
    else:
        outline = [(shape.x + u, shape.y + v) for u, v in _marker_outline(shape)]
        path = _skia_path(outline, True)
        for paint in _paints(shape.fill, shape.edge, shape.opacity):
            canvas.drawPath(path, paint)
