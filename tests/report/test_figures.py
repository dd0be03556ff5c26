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


def test_each_prisma_phase_label_lies_within_its_band():
    """Upright along its band: with a single source the identification row alone was
    shorter than the word "Identification", which stuck out of its band (seen in the web
    app's dashboard of a review with one database export)."""
    one_source = {**COUNTS, "records_identified": {"Embase": 4}}
    canvas = figures.prisma_diagram(one_source)
    bands = sorted(
        (shape.y, shape.y + shape.height)
        for shape in canvas.shapes
        if getattr(shape, "fill", None) == "#d6e4f0"
    )
    labels = {"Identification", "Screening", "Included"}
    extents = sorted((top, bottom) for text, _, top, _, bottom in canvas.text_extents()
                     if text in labels)  # fmt: skip
    assert len(bands) == len(extents) == 3
    for (band_top, band_bottom), (top, bottom) in zip(bands, extents, strict=True):
        assert band_top <= top and bottom <= band_bottom


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
    """Everything drawn (labels, tick labels, legends, markers, lines) lies inside the
    figure, with text measured in the font the PNG is drawn with. The browser test checks
    the SVG's text with the font Chromium uses."""
    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.report.build import _figure_tasks
    from tests.conftest import EXAMPLE

    run = run_review(EXAMPLE)
    tasks = _figure_tasks(run)
    assert len(tasks) == 17
    for name, make in tasks:
        figure = make()
        left, top, right, bottom = figure.bounds()
        assert left >= 0 and top >= 0, name
        assert right <= figure.width and bottom <= figure.height, name
        # Nothing is drawn twice over: no text overlaps other text in the same figure.
        boxes = figure.text_extents()
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap_x = min(a[3], b[3]) - max(a[1], b[1])
                overlap_y = min(a[4], b[4]) - max(a[2], b[2])
                assert overlap_x <= 0.5 or overlap_y <= 0.5, (name, a[0], b[0])


def test_long_labels_push_the_plot_aside_but_nothing_leaves_the_figure():
    """Study labels as reviewers write them ("Hosomi et al. 2008 – Ōsaka cohort") make the
    tick labels wide and the plot narrow: the axis titles are kept inside the figure
    (moved from the plot's centre, or wrapped), not cut at its edge."""
    import numpy as np
    import pandas as pd

    from ipdmeta import meta

    names = [f"Author{i} et al. {1990 + i} – Ōsaka/Zürich cohort" for i in range(12)]
    rng = np.random.default_rng(2)
    res = meta.random_effects(rng.normal(60, 15, 12), rng.uniform(20, 90, 12), labels=names)
    long_title = "mean % relief per study (95% CI), diamond: pooled mean; " * 3
    ranef = pd.DataFrame({"group": names, "value": rng.normal(0, 10, 12), "sd": 5.0})
    drawn = {
        "forest": figures.forest(res, "mean % relief per study (95% CI)\n" + long_title),
        "diagnostics": figures.diagnostics_panel(
            rng.normal(60, 10, 50), rng.normal(0, 10, 50), ranef
        ),
    }
    for name, figure in drawn.items():
        left, top, right, bottom = figure.bounds()
        assert left >= 0 and top >= 0, name
        assert right <= figure.width and bottom <= figure.height, name
