"""The report's figures say what they are given, and no more."""

from __future__ import annotations

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


def test_no_figure_of_the_example_report_is_clipped():
    """Every drawn element (labels, tick labels, legends) lies inside the figure, as
    save_figure draws it: laid out for the PNG at its print resolution, then the SVG (72
    units per inch) with the same layout."""
    import matplotlib.pyplot as plt

    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.report.build import _figure_tasks
    from tests.conftest import EXAMPLE

    run = run_review(EXAMPLE)
    for name, make in _figure_tasks(run):
        figure = make().figure
        for dpi in (figures.print_dpi(figure), 72):
            figure.set_dpi(dpi)
            figure.canvas.draw()
            drawn = figure.get_tightbbox(figure.canvas.get_renderer())  # inches
            width, height = figure.get_size_inches()
            slack = 0.01  # inches: rounding of text extents, far below a visible cut
            assert drawn.x0 >= -slack and drawn.y0 >= -slack, (name, dpi)
            assert drawn.x1 <= width + slack and drawn.y1 <= height + slack, (name, dpi)
            figure.set_layout_engine("none")  # as save_figure keeps the PNG's layout
        plt.close(figure)
