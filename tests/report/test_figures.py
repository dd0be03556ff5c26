"""The report's figures say what they are given, and no more."""

from __future__ import annotations

import re

from ipdmeta.report import figures

COUNTS = {
    "records_identified": {"PubMed": 10, "Embase": 5},
    "duplicates_removed": 3,
    "records_screened": 12,
    "studies_included": 2,
}


def _svg(counts, tmp_path):
    return figures.save_figure(figures.prisma_diagram(counts), tmp_path, "prisma", ("svg",)).svg


def test_prisma_leaves_out_other_reasons_when_not_given(tmp_path):
    svg = _svg(COUNTS, tmp_path)
    assert "Other reasons" not in svg
    assert "Duplicates (n = 3)" in svg
    assert "Total (n = 15)" in svg
    # A main box whose count is missing says so rather than hiding the step.
    assert "Records excluded" in svg
    assert "n = ?" in svg


def test_prisma_shows_other_reasons_when_given(tmp_path):
    svg = _svg({**COUNTS, "records_removed_other": 4}, tmp_path)
    assert "Other reasons (n = 4)" in svg


def test_p_value_axis_labels_are_plain_numbers(tmp_path):
    """Decades as a reader writes them (0.001), not matplotlib's 10^-3 in mathtext."""
    import pandas as pd

    rows = pd.DataFrame({"choice": ["a", "b", "c"], "pvalue": [0.2, 0.004, 3e-6]})
    svg = figures.save_figure(
        figures.robustness_dot_plot(rows, 0.05), tmp_path, "robustness", ("svg",)
    ).svg
    ticks = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert ticks[:7] == [
        "1e\N{MINUS SIGN}6",
        "1e\N{MINUS SIGN}5",
        "0.0001",
        "0.001",
        "0.01",
        "0.1",
        "1",
    ]
    assert "mathdefault" not in svg


def test_no_figure_of_the_example_report_is_clipped():
    """Every drawn element (labels, tick labels, legends) lies inside the figure, as
    save_figure draws it: laid out for the PNG at its print resolution, then the SVG (72
    units per inch) with the same layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.report.build import _figure_tasks
    from tests.conftest import EXAMPLE

    run = run_review(EXAMPLE)
    for name, make in _figure_tasks(run):
        with figures.report_style():
            figure = make().figure
            canvas = FigureCanvasAgg(figure)
            for dpi in (figures.print_dpi(figure), 72):
                figure.set_dpi(dpi)
                canvas.draw()
                drawn = figure.get_tightbbox(canvas.get_renderer())  # inches
                width, height = figure.get_size_inches()
                slack = 0.01  # inches: rounding of text extents, far below a visible cut
                assert drawn.x0 >= -slack and drawn.y0 >= -slack, (name, dpi)
                assert drawn.x1 <= width + slack and drawn.y1 <= height + slack, (name, dpi)
                figure.set_layout_engine("none")  # as save_figure keeps the PNG's layout


def test_the_report_leaves_matplotlib_as_the_user_set_it(tmp_path):
    """A notebook's inline plots and its own style survive a report: no pyplot, no backend
    chosen, rcParams as they were."""
    import subprocess
    import sys

    # rcParams.copy() leaves the backend unresolved (reading rcParams["backend"] would
    # itself import pyplot).
    code = f"""
import json, pathlib, sys
import matplotlib
before = matplotlib.rcParams.copy()
from ipdmeta.report import figures
counts = {{"records_identified": {{"PubMed": 10}}, "studies_included": 2}}
figures.save_figure(
    figures.prisma_diagram(counts), pathlib.Path({str(tmp_path)!r}), "p", ("png", "svg")
)
after = matplotlib.rcParams.copy()
changed = [k for k in before if k != "backend" and str(before[k]) != str(after[k])]
print(json.dumps(["matplotlib.pyplot" in sys.modules, changed]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[false, []]"
    assert (tmp_path / "p.png").exists() and (tmp_path / "p.svg").exists()


# Colour-vision deficiency simulated with the matrices of Machado, Oliveira and Fernandes
# (2009) at severity 1, applied to linear RGB.
_DEFICIENCIES = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip
# CIE76 colour difference: 2.3 is just noticeable; colours that stand for categories
# should differ by 20 or more. The red and green used before differed by 15.8 for a
# deuteranope.
_DISTINCT = 20.0


def _lab(linear):
    import numpy as np

    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ np.clip(linear, 0, 1)  # fmt: skip
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _linear(hex_colour):
    import numpy as np

    c = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def test_colours_that_carry_meaning_stay_apart_with_colour_blindness():
    import itertools

    import numpy as np

    judgements = [figures.JUDGEMENT_COLOURS[j] for j in ("yes", "no", "unclear")]
    for colours in (judgements, [figures.HOLDS_COLOUR, figures.FAILS_COLOUR]):
        for name, matrix in [("normal", np.eye(3)), *_DEFICIENCIES.items()]:
            for a, b in itertools.combinations(colours, 2):
                seen_a, seen_b = (_lab(np.array(matrix) @ _linear(c)) for c in (a, b))
                difference = float(np.linalg.norm(seen_a - seen_b))
                assert difference >= _DISTINCT, (name, a, b, difference)
    # and the appraisal's judgements differ in shape too
    assert len(set(figures.JUDGEMENT_MARKERS.values())) == len(figures.JUDGEMENT_MARKERS)
