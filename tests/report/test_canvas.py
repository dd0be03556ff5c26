"""The figures' drawing layer: one layout, written as SVG and drawn as PNG alike."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from ipdmeta.report.canvas import Canvas, Stroke, text_height, text_width
from ipdmeta.report.chart import MINUS, nice_ticks, tick_labels

SVG = "{http://www.w3.org/2000/svg}"


def _pixels(canvas: Canvas, dpi: float) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(canvas.to_png(dpi))).convert("RGB"))


def test_svg_is_well_formed_and_escapes_text():
    canvas = Canvas.inches(2.0, 1.0)
    canvas.text(10, 20, 'a < b & "c"\n  indented', size=9)
    canvas.rect(5, 5, 20, 10, fill="#0072B2", stroke=Stroke(dash=(2.0, 1.0)), radius=2)
    canvas.marker(50, 30, shape="X", size=6, fill="#D55E00", opacity=0.5)
    root = ET.fromstring(canvas.to_svg())
    assert root.get("viewBox") == "0 0 144 72" and root.get("width") == "144pt"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ['a < b & "c"', "  indented"]  # leading spaces kept (xml:space)
    assert any(r.get("stroke-dasharray") == "2 1" for r in root.iter(f"{SVG}rect"))


def test_png_has_the_size_and_resolution_asked_for_and_draws_shapes_in_place():
    canvas = Canvas(100.0, 50.0)
    canvas.rect(10, 10, 30, 20, fill="#0072B2")
    canvas.marker(70, 25, shape="s", size=10, fill="#D55E00")
    png = canvas.to_png(150.0)
    image = Image.open(io.BytesIO(png))
    assert image.size == (math.ceil(100 * 150 / 72), math.ceil(50 * 150 / 72))
    assert image.info["dpi"] == pytest.approx((150.0, 150.0), abs=0.05)  # stored as dots per metre
    pixels = _pixels(canvas, 72.0)  # one pixel per point
    assert tuple(pixels[20, 25]) == (0x00, 0x72, 0xB2)  # inside the rectangle
    assert tuple(pixels[25, 70]) == (0xD5, 0x5E, 0x00)  # inside the square
    assert tuple(pixels[45, 5]) == (255, 255, 255)  # background


@pytest.mark.parametrize("anchor", ["start", "middle", "end"])
@pytest.mark.parametrize("rotate", [0.0, 90.0])
def test_text_is_drawn_inside_the_box_the_layout_measured(anchor, rotate):
    """The layout's text boxes come from the same font the PNG is drawn with, so the ink
    of a label never reaches past the box the layout reserved for it."""
    canvas = Canvas(200.0, 200.0)
    canvas.text(100, 100, "Wg (n=22)\nTNP", size=12, anchor=anchor, valign="center",
                rotate=rotate)  # fmt: skip
    dpi = 288.0  # 4 pixels a point
    ink = np.argwhere(_pixels(canvas, dpi).min(axis=2) < 200) / (dpi / 72)
    _, left, top, right, bottom = zip(*canvas.text_extents(), strict=True)
    slack = 0.5  # points: antialiasing spills under a pixel
    assert ink[:, 1].min() >= min(left) - slack and ink[:, 1].max() <= max(right) + slack
    assert ink[:, 0].min() >= min(top) - slack and ink[:, 0].max() <= max(bottom) + slack
    # ... and fills most of it (the box is not a gross over-estimate).
    assert (ink[:, 1].max() - ink[:, 1].min()) > 0.8 * (max(right) - min(left))


def test_text_metrics():
    assert text_width("ab\nabcd", 10) == pytest.approx(text_width("abcd", 10))
    assert text_width("abcd", 20) == pytest.approx(2 * text_width("abcd", 10))
    assert text_height("a\nb", 10) == pytest.approx(text_height("a", 10) + 12.0)


def test_bounds_include_strokes_and_text():
    canvas = Canvas(100.0, 100.0)
    canvas.line(10, 10, 20, 10, Stroke(width=2.0))
    assert canvas.bounds() == pytest.approx((9.0, 9.0, 21.0, 11.0))
    canvas.text(50, 50, "x", anchor="end")
    assert canvas.bounds()[2] == pytest.approx(50.0)


def test_ticks_are_round_numbers_with_the_decimals_they_need():
    assert nice_ticks(-27.0, 113.0) == [-25.0, 0.0, 25.0, 50.0, 75.0, 100.0]
    assert nice_ticks(-27.0, 113.0, most=8) == [-20.0, 0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert tick_labels([-20.0, 0.0, 20.0]) == [f"{MINUS}20", "0", "20"]
    assert tick_labels([0.0, 2.5, 5.0]) == ["0.0", "2.5", "5.0"]
    assert tick_labels([0.5, 0.6, 0.7]) == ["0.5", "0.6", "0.7"]
    assert nice_ticks(0.0, 15.8, most=7) == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0]
    ticks = nice_ticks(-0.27, 0.27, most=4)
    assert ticks == [-0.2, 0.0, 0.2] and tick_labels(ticks)[1] == "0.0"


def test_png_writer_round_trips_every_pixel():
    """The PNG is written by ipdmeta (unfiltered rows, deflate); Pillow reads it back as
    the same pixels, with the resolution recorded."""
    from ipdmeta.report.canvas import _png

    rng = np.random.default_rng(1)
    for channels, mode in ((3, "RGB"), (4, "RGBA")):
        pixels = rng.integers(0, 256, size=(37, 53, channels), dtype=np.uint8)
        pixels[10:20] = 255  # rows equal to the row above, as most of a figure's are
        image = Image.open(io.BytesIO(_png(pixels, 300.0)))
        assert image.mode == mode and image.size == (53, 37)
        assert np.array_equal(np.asarray(image), pixels)
        assert image.info["dpi"] == pytest.approx((300.0, 300.0), abs=0.05)


def test_a_tall_png_is_compressed_in_many_pieces_and_decodes_to_what_was_drawn():
    """Rows go to the compressor a few hundred kB at a time: a 300 dpi figure is dozens
    of pieces, and every row must come back in its place."""
    canvas = Canvas.inches(6.5, 9.0)
    for i in range(0, 648, 36):  # a stripe every half inch, alternating colours
        canvas.rect(0, i, 468, 18, fill="#0072B2" if i % 72 else "#D55E00")
    pixels = _pixels(canvas, 300.0)
    assert pixels.shape[0] == 2700
    per_inch = 300 // 2  # half an inch of rows
    for stripe in range(18):
        middle = stripe * per_inch + per_inch // 4  # inside the stripe's coloured half
        expected = (0x00, 0x72, 0xB2) if stripe % 2 else (0xD5, 0x5E, 0x00)
        assert tuple(pixels[middle, 975]) == expected
        assert tuple(pixels[middle + per_inch // 2, 975]) == (255, 255, 255)


def test_a_figure_drawn_after_a_larger_one_keeps_nothing_of_it():
    """Figures are drawn into one reused buffer; each starts on white."""
    large = Canvas(300.0, 300.0)
    large.rect(0, 0, 300, 300, fill="#000000")
    large.to_png(144.0)
    small = Canvas(100.0, 50.0)
    small.rect(10, 10, 30, 20, fill="#0072B2")
    pixels = _pixels(small, 72.0)
    assert tuple(pixels[45, 95]) == (255, 255, 255)
    assert tuple(pixels[20, 25]) == (0x00, 0x72, 0xB2)


def test_pngs_compressed_by_zlib_where_isal_is_not_installed(monkeypatch):
    import zlib

    from ipdmeta.report import canvas as module

    canvas = Canvas(100.0, 50.0)
    canvas.rect(10, 10, 30, 20, fill="#0072B2")
    with_isal = _pixels(canvas, 150.0)
    monkeypatch.setattr(module, "_deflate", lambda: zlib)
    assert np.array_equal(_pixels(canvas, 150.0), with_isal)
