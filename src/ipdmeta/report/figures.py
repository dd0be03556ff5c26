"""The report's figures. Each function returns a :class:`~ipdmeta.report.canvas.Canvas`,
which :func:`save_figure` writes as SVG (for the HTML report) and as a PNG at print
resolution (for Word), both from one layout.

The forest and funnel plots here are the report's; ``ipdmeta.meta.forest_plot`` and
``funnel_plot`` draw the same pictures on a user's matplotlib axes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta.data.writers import write_bytes, write_text
from ipdmeta.report.canvas import Canvas, Stroke, text_height, text_width
from ipdmeta.report.chart import (
    Axis,
    LegendEntry,
    Panel,
    Scale,
    axis_between,
    category_axis,
    draw_legend,
    legend_width,
    linear_axis,
    padded,
    panel,
)

__all__ = [
    "SavedFigure",
    "binary_diagnostics_panel",
    "diagnostics_panel",
    "emmeans_plot",
    "forest",
    "funnel",
    "print_dpi",
    "prisma_diagram",
    "quality_traffic_light",
    "relief_by_category",
    "render",
    "robustness_dot_plot",
    "save_figure",
    "subgroup_forest",
    "write_figure",
]

# Okabe and Ito's palette, told apart with every common colour-vision deficiency; the
# appraisal's judgements also differ in marker shape, so colour is never the only cue.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442"]
JUDGEMENT_COLOURS = {
    "yes": "#009E73",
    "no": "#D55E00",
    "unclear": "#F0E442",
    "not applicable": "#BBBBBB",
}
JUDGEMENT_MARKERS: dict[str, Any] = {"yes": "o", "no": "X", "unclear": "D", "not applicable": "s"}
HOLDS_COLOUR = OKABE_ITO[0]
FAILS_COLOUR = OKABE_ITO[1]
GREY_LINE = Stroke("#bbbbbb", 0.8)
RANGE_LINE = Stroke("#90a4ae", 1.0)
BLACK_LINE = Stroke("#000000", 0.8)
CI_LINE = Stroke("#000000", 1.0)

# Word places a figure at most this wide (the text width of its page), and journals ask
# for 300 dpi at the size printed; a wider figure is drawn with fewer dots per inch of
# its own so that it has 300 once shrunk to fit.
PLACED_WIDTH_INCHES = 6.0
PRINT_DPI = 300


@dataclass(frozen=True)
class SavedFigure:
    """A figure as the report uses it: SVG text for the HTML, PNG bytes for Word."""

    svg: str
    png: bytes
    placed_width_inches: float


def render(figure: Canvas) -> SavedFigure:
    """The SVG and the PNG of ``figure``: the HTML report embeds the one and report.docx
    the other."""
    placed = min(figure.width_inches, PLACED_WIDTH_INCHES)
    return SavedFigure(figure.to_svg(), figure.to_png(print_dpi(figure)), placed)


def save_figure(figure: Canvas, folder: Path, name: str, formats: Sequence[str]) -> SavedFigure:
    """Render ``figure`` and write it as ``folder/name.<fmt>`` for each format asked for
    ("svg", "png")."""
    saved = render(figure)
    write_figure(saved, folder, name, formats)
    return saved


def write_figure(saved: SavedFigure, folder: Path, name: str, formats: Sequence[str]) -> None:
    if "svg" in formats:
        write_text(folder / f"{name}.svg", saved.svg)
    if "png" in formats:
        write_bytes(folder / f"{name}.png", saved.png)


def print_dpi(figure: Canvas) -> float:
    """The PNG's resolution: PRINT_DPI once Word has shrunk the figure to fit its page."""
    width = figure.width_inches
    return PRINT_DPI * min(width, PLACED_WIDTH_INCHES) / width


def _grey(level: float) -> str:
    """matplotlib's grey level (0 black, 1 white) as a colour."""
    value = round(255 * level)
    return f"#{value:02x}{value:02x}{value:02x}"


# ---- data -------------------------------------------------------------------------------


def relief_by_category(patients: pd.DataFrame, column: str, outcome: str = "relief_pct") -> Canvas:
    """Box plot with every patient as a dot, one box per category, n under each label."""
    data = patients[[column, outcome]].dropna()
    levels = sorted(data[column].unique(), key=str)
    groups = [data.loc[data[column] == level, outcome].to_numpy(float) for level in levels]
    canvas = Canvas.inches(max(4.0, 1.1 * len(levels) + 1.5), 3.6)
    values = np.concatenate([*groups, [0.0]])
    x = Axis(
        Scale(0.5, len(levels) + 0.5),
        list(range(1, len(levels) + 1)),
        [f"{lv}\n(n={g.size})" for lv, g in zip(levels, groups, strict=True)],
        column.replace("_", " "),
    )
    y = linear_axis(values, "% pain relief", length=canvas.height)
    frame = panel(canvas, x, y)
    frame.hline(0.0, GREY_LINE)
    rng = np.random.default_rng(0)  # fixed jitter: the same data give the same picture
    for i, group in enumerate(groups, start=1):
        if group.size:
            _box(frame, i, group, 0.55)
        frame.points(
            i + rng.uniform(-0.18, 0.18, group.size), group, size=3.7, fill=HOLDS_COLOUR,
            opacity=0.6,
        )  # fmt: skip
    return canvas


def _box(frame: Panel, at: float, values: np.ndarray, width: float) -> None:
    """A Tukey box: quartiles, median, whiskers to the last points within 1.5 IQR."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    low = values[values >= q1 - reach].min()
    high = values[values <= q3 + reach].max()
    half = width / 2
    frame.polygon([at - half, at + half, at + half, at - half], [q1, q1, q3, q3], "none", CI_LINE)
    frame.hline(float(median), CI_LINE, at - half, at + half)
    for end, edge in ((low, q1), (high, q3)):
        frame.vline(at, CI_LINE, min(end, edge), max(end, edge))
        frame.hline(float(end), CI_LINE, at - half / 2, at + half / 2)


def quality_traffic_light(quality: pd.DataFrame) -> Canvas:
    """One row per study, one column per checklist item, coloured by judgement."""
    items = list(dict.fromkeys(quality["item"]))
    studies = [str(s) for s in dict.fromkeys(quality["study_id"])]
    canvas = Canvas.inches(max(5.0, 0.45 * len(items) + 2.5), max(3.0, 0.28 * len(studies) + 1.5))
    entries = [LegendEntry(j, c, JUDGEMENT_MARKERS[j]) for j, c in JUDGEMENT_COLOURS.items()]
    n = len(items)
    x = Axis(Scale(-0.7, n - 0.3), list(range(n)), [f"Q{i + 1}" for i in range(n)])
    y = category_axis(studies, tick_size=8.0)
    frame = panel(canvas, x, y, right_reserve=legend_width(entries), spines=False)
    lookup = {(str(r.study_id), r.item): r.judgement for r in quality.itertuples()}
    edge = Stroke("#555555", 0.4)
    for row, study in enumerate(studies):
        for column, item in enumerate(items):
            judgement = str(lookup.get((study, item)))
            known = judgement in JUDGEMENT_COLOURS
            frame.points(
                column, row, shape=JUDGEMENT_MARKERS[judgement] if known else "o", size=9.5,
                fill=JUDGEMENT_COLOURS[judgement] if known else "#ffffff", edge=edge,
            )  # fmt: skip
    draw_legend(canvas, frame.right + 10.0, frame.top, entries)
    return canvas


# ---- the PRISMA 2020 flow diagram --------------------------------------------------------

_BOX_SIZE = 8.5  # points, the boxes' text
_PHASE_SIZE = 9.0  # points, the phases' labels (bold, upright along their band)
_BOX_PAD = 6.0
_ROW_GAP = 22.0
_ARROW_GAP = 36.0
_BAND = 18.0  # the coloured band naming each phase
_BOX_EDGE = Stroke("#37474f", 1.0)


def prisma_diagram(counts: dict[str, Any]) -> Canvas:
    """The PRISMA 2020 flow diagram for new reviews (databases and registers only).

    ``counts`` holds ``records_identified`` (by source), ``duplicates_removed``,
    ``records_removed_automation``, ``records_removed_other``, ``records_screened``,
    ``records_excluded``,
    ``reports_sought``, ``reports_not_retrieved``, ``reports_assessed``,
    ``reports_excluded`` (by reason), ``studies_included``, ``patients_included`` and
    ``patients_excluded`` (extracted but not analysed, by reason; drawn when given);
    a missing count is drawn as "n = ?", except ``records_removed_automation`` and
    ``records_removed_other``, whose lines are left out when not given.
    """
    rows = _prisma_rows(counts)
    box_width = [
        max(text_width(text, _BOX_SIZE) for text in column if text) + 2 * _BOX_PAD
        for column in zip(*rows, strict=True)
    ]
    heights = [
        max(text_height(text, _BOX_SIZE) for text in row if text) + 2 * _BOX_PAD for row in rows
    ]
    phases = [("Identification", 0, 0), ("Screening", 1, 3), ("Included", 4, len(rows) - 1)]
    for name, first, last in phases:
        # A phase's band holds its label upright: with one source the identification row
        # alone was shorter than "Identification", which stuck out of its band.
        span = sum(heights[first : last + 1]) + _ROW_GAP * (last - first)
        needed = text_width(name, _PHASE_SIZE, bold=True) + 2 * _BOX_PAD
        heights[last] += max(0.0, needed - span)
    edge = 8.0
    left = edge + _BAND + 10.0
    right = left + box_width[0] + _ARROW_GAP
    width = right + box_width[1] + edge
    height = 2 * edge + sum(heights) + _ROW_GAP * (len(rows) - 1)
    canvas = Canvas(width, height)
    tops = [edge + sum(heights[:i]) + _ROW_GAP * i for i in range(len(rows))]
    for name, first, last in phases:
        top, bottom = tops[first], tops[last] + heights[last]
        canvas.rect(edge, top, _BAND, bottom - top, fill="#d6e4f0", radius=4.0)
        canvas.text(
            edge + _BAND / 2, (top + bottom) / 2, name, size=_PHASE_SIZE, anchor="middle",
            valign="center", bold=True, rotate=90.0,
        )  # fmt: skip
    for i, (main, side) in enumerate(rows):
        top, h = tops[i], heights[i]
        _prisma_box(canvas, left, top, box_width[0], h, main)
        if side:
            _prisma_box(canvas, right, top, box_width[1], h, side)
            _arrow(canvas, left + box_width[0], top + h / 2, right, top + h / 2)
        if i + 1 < len(rows):
            centre = left + box_width[0] / 2
            _arrow(canvas, centre, top + h, centre, tops[i + 1])
    return canvas


def _prisma_rows(counts: dict[str, Any]) -> list[tuple[str, str]]:
    def n(key: str) -> str:
        value = counts.get(key)
        return "?" if value is None else f"{value:,}"

    identified = counts.get("records_identified") or {}
    total = sum(identified.values()) if identified else None
    sources = "\n".join(f"  {name} (n = {value:,})" for name, value in identified.items())
    excluded = counts.get("reports_excluded") or {}
    reasons = "\n".join(f"  {reason} (n = {value:,})" for reason, value in excluded.items())
    removed = f"Records removed before screening:\n  Duplicates (n = {n('duplicates_removed')})"
    if counts.get("records_removed_automation") is not None:  # optional, as the next
        automatic = n("records_removed_automation")
        removed += f"\n  Marked ineligible by\n  automation tools (n = {automatic})"
    if counts.get("records_removed_other") is not None:  # optional: most reviews have none
        removed += f"\n  Other reasons (n = {n('records_removed_other')})"
    dropped = counts.get("patients_excluded") or {}
    patients_out = ""
    if dropped:  # patients extracted but kept out of the analysis, by reason
        listed = "\n".join(f"  {reason} (n = {value:,})" for reason, value in dropped.items())
        patients_out = f"Patients excluded from the analysis:\n{listed}"
    return [
        (
            f"Records identified from:\n{sources or '  (not given)'}\nTotal (n = "
            f"{'?' if total is None else f'{total:,}'})",
            removed,
        ),
        (f"Records screened\n(n = {n('records_screened')})", f"Records excluded\n(n = "
         f"{n('records_excluded')})"),
        (f"Reports sought for retrieval\n(n = {n('reports_sought')})",
         f"Reports not retrieved\n(n = {n('reports_not_retrieved')})"),
        (f"Reports assessed for eligibility\n(n = {n('reports_assessed')})",
         f"Reports excluded:\n{reasons or '  (not given)'}"),
        (
            f"Studies included in review\n(n = {n('studies_included')})\n"
            f"Patients included\n(n = {n('patients_included')})",
            patients_out,
        ),
    ]  # fmt: skip


def _prisma_box(
    canvas: Canvas, x: float, top: float, width: float, height: float, text: str
) -> None:
    canvas.rect(x, top, width, height, fill="#ffffff", stroke=_BOX_EDGE, radius=4.0)
    canvas.text(x + _BOX_PAD, top + height / 2, text, size=_BOX_SIZE, valign="center")


def _arrow(canvas: Canvas, x0: float, y0: float, x1: float, y1: float) -> None:
    """A line from (x0, y0) with its head at (x1, y1)."""
    length = float(np.hypot(x1 - x0, y1 - y0))
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    head, half = 6.0, 3.0
    bx, by = x1 - head * ux, y1 - head * uy
    canvas.line(x0, y0, bx, by, _BOX_EDGE)
    canvas.path(
        [(x1, y1), (bx - half * uy, by + half * ux), (bx + half * uy, by - half * ux)],
        closed=True, fill=_BOX_EDGE.colour,
    )  # fmt: skip


# ---- two-stage --------------------------------------------------------------------------


def forest(res: Any, xlabel: str) -> Canvas:
    """Each study's estimate and CI (box area by weight), the pooled diamond and, for a
    random-effects model, the prediction interval as a dotted line under it."""
    canvas = Canvas.inches(7.0, 0.35 * res.k + 1.8)
    crit = float(special.ndtri(0.5 + res.level / 2))
    se = np.sqrt(res.vi)
    lo, hi = res.yi - crit * se, res.yi + crit * se
    model = "FE model" if res.method.value == "FE" else f"RE model ({res.method.value})"
    rows = [*res.labels, model]
    extent = [*lo, *hi, res.ci_lower, res.ci_upper, 0.0]
    if res.method.value != "FE":
        extent += [res.pi_lower, res.pi_upper]
    x = linear_axis(extent, xlabel, length=canvas.width)
    y = category_axis([str(r) for r in rows])
    frame = panel(canvas, x, y)
    frame.vline(0.0, Stroke("#808080", 0.8, (3.0, 2.0)))
    at = np.arange(res.k)
    frame.segments(lo, hi, at, at, CI_LINE)
    w = res.weights
    frame.points(res.yi, at, shape="s", size=np.sqrt(20 + 180 * w / w.max()))
    _diamond(frame, res.ci_lower, res.estimate, res.ci_upper, res.k, "#000000")
    if res.method.value != "FE":
        frame.hline(res.k + 0.4, Stroke("#000000", 1.0, (1.0, 1.7)), res.pi_lower, res.pi_upper)
    return canvas


def _diamond(
    frame: Panel, lower: float, estimate: float, upper: float, at: float, fill: str
) -> None:
    frame.polygon([lower, estimate, upper, estimate], [at, at - 0.35, at, at + 0.35], fill)


def funnel(res: Any, contours: Sequence[float], refline: float = 0.0) -> Canvas:
    """Contour-enhanced funnel plot: estimates against their standard errors (0 at the
    top), shaded where a study's own test against ``refline`` has p >= 0.10, 0.05 to
    0.10 and so on (Peters et al. 2008), with the pseudo-confidence region around the
    pooled estimate as lines (as metafor's ``funnel(res, level = c(90, 95, 99))``)."""
    from ipdmeta.meta.plots import contour_labels  # the same legend as the user's plot

    levels = sorted(contours)
    canvas = Canvas.inches(6.0, 5.0)
    se = np.sqrt(res.vi)
    top = float(se.max()) * 1.05
    crit = float(special.ndtri(0.5 + res.level / 2))
    widths = [float(special.ndtri(0.5 + level / 2)) for level in levels]
    edges = [
        *res.yi.tolist(),
        res.estimate - crit * top,
        res.estimate + crit * top,
        refline - widths[-1] * top,
        refline + widths[-1] * top,
    ]
    left, right = padded(edges)
    shades = np.linspace(0.70, 0.90, len(levels))  # darker for smaller p; points stay clear
    entries = [
        LegendEntry(label, _grey(shade), None, "#808080")
        for label, shade in zip(contour_labels(levels), [1.0, *shades[::-1].tolist()], strict=True)
    ]
    size = 8.0
    x = axis_between(left, right, "mean % relief per study (dotted line: no relief)")
    y = axis_between(
        0.0, top, "standard error of the study mean", length=canvas.height, inverted=True
    )
    frame = panel(canvas, x, y, right_reserve=legend_width(entries, "study's own p", size))
    frame.polygon([left, right, right, left], [0.0, 0.0, top, top], _grey(shades[0]))
    # The background is the darkest (p below the smallest level); each narrower wedge
    # around the reference line is lighter, the innermost white.
    for width, shade in zip(widths[::-1], [*shades[1:].tolist(), 1.0], strict=True):
        frame.polygon(
            [refline, refline - width * top, refline + width * top], [0.0, top, top],
            _grey(shade),
        )  # fmt: skip
    region = Stroke("#808080", 0.8)
    frame.line([res.estimate, res.estimate - crit * top], [0.0, top], region)
    frame.line([res.estimate, res.estimate + crit * top], [0.0, top], region)
    frame.vline(res.estimate, BLACK_LINE)
    frame.vline(refline, Stroke("#4d4d4d", 0.6, (1.0, 1.7)))
    frame.points(res.yi, se, size=4.2)
    draw_legend(canvas, frame.right + 10.0, frame.top, entries, "study's own p", size)
    return canvas


def subgroup_forest(cells: pd.DataFrame, result: Any, factor: str) -> Canvas:
    """Study means grouped by level, each level's pooled mean as a diamond, and the test
    for subgroup differences in the title. ``cells`` has ``study_id, level, yi, vi``."""
    levels = list(result.groups)
    canvas = Canvas.inches(7.0, 0.28 * (len(cells) + 2 * len(levels)) + 1.4)
    crit = float(special.ndtri(0.5 + result.level / 2))
    y = 0.0
    ticks: list[float] = []
    names: list[str] = []
    studies: list[tuple[float, pd.DataFrame, np.ndarray]] = []
    extent: list[float] = []
    for level in reversed(levels):
        pooled = result.results[level]
        ticks.append(y)
        names.append(f"{level} (pooled, k = {pooled.k})")
        extent += [pooled.ci_lower, pooled.ci_upper]
        y += 1.0
        rows = cells[cells["level"] == level].iloc[::-1]
        positions = y + np.arange(len(rows))
        studies.append((y - 1.0, rows, positions))
        ticks += positions.tolist()
        names += [str(s) for s in rows["study_id"]]
        se = np.sqrt(rows["vi"].to_numpy(float))
        extent += [*(rows["yi"] - crit * se), *(rows["yi"] + crit * se)]
        y = positions.max() + 1.5 if len(rows) else y + 0.5
    name = "F" if result.Q_between_df and result.test.value == "knha" else "Q"
    title = (
        f"Test for subgroup differences: {name}({result.Q_between_df}) = "
        f"{result.Q_between:.2f}, p = {result.Q_between_pvalue:.3g}"
    )
    x = linear_axis(
        extent, f"mean % relief per study and {factor.replace('_', ' ')} (95% CI)",
        length=canvas.width,
    )  # fmt: skip
    frame = panel(canvas, x, Axis(Scale(-1.0, y), ticks, names, tick_size=7.0), title=title,
                  title_size=9.0)  # fmt: skip
    for level, (at, rows, positions) in zip(reversed(levels), studies, strict=True):
        pooled = result.results[level]
        _diamond(frame, pooled.ci_lower, pooled.estimate, pooled.ci_upper, at, HOLDS_COLOUR)
        se = np.sqrt(rows["vi"].to_numpy(float))
        frame.segments(rows["yi"] - crit * se, rows["yi"] + crit * se, positions, positions,
                       CI_LINE)  # fmt: skip
        frame.points(rows["yi"], positions, shape="s", size=4.2)
    return canvas


# ---- one-stage --------------------------------------------------------------------------


def emmeans_plot(
    emmeans: pd.DataFrame, factor: str, xlabel: str = "estimated marginal mean % relief (95% CI)"
) -> Canvas:
    """Estimated marginal means with their confidence intervals."""
    canvas = Canvas.inches(5.5, 0.45 * len(emmeans) + 1.2)
    lower, upper = emmeans["ci_lower"].to_numpy(float), emmeans["ci_upper"].to_numpy(float)
    x = linear_axis([*lower, *upper], xlabel, length=canvas.width)
    y = category_axis([str(v) for v in emmeans["level"]], factor.replace("_", " "))
    frame = panel(canvas, x, y)
    _error_bars(frame, emmeans["emmean"].to_numpy(float), lower, upper, cap=3.0, size=6.0)
    return canvas


def _error_bars(
    frame: Panel, centre: np.ndarray, lower: np.ndarray, upper: np.ndarray, cap: float,
    size: float,
) -> None:  # fmt: skip
    """Horizontal error bars with caps, one per category row, and their points."""
    rows = np.arange(len(centre))
    stroke = Stroke(HOLDS_COLOUR, 1.0)
    frame.segments(lower, upper, rows, rows, stroke)
    for end in (lower, upper):
        for x, y in zip(frame.x(end), frame.y(rows), strict=True):
            frame.canvas.line(float(x), float(y) - cap, float(x), float(y) + cap, stroke)
    frame.points(centre, rows, size=size, fill=HOLDS_COLOUR)


def robustness_dot_plot(rows: pd.DataFrame, alpha: float) -> Canvas:
    """p-value of a contrast under each analysis choice, on a log axis, alpha marked.

    ``rows`` has columns ``choice`` and ``pvalue`` and optionally ``pvalue_low`` /
    ``pvalue_high`` for a range (leave-one-study-out).
    """
    canvas = Canvas.inches(6.0, 0.32 * len(rows) + 1.2)
    at = np.arange(len(rows))
    p = rows["pvalue"].to_numpy(float).clip(1e-12, 1)
    # Whole decades only, from below the smallest p (or alpha) up to 1: readable ticks.
    low = np.nanmin(np.append(p, [alpha, rows.get("pvalue_low", pd.Series([1.0])).min()]))
    lo = 10 ** (np.floor(np.log10(max(low, 1e-12))) - 0.3)
    decades = [10.0**k for k in range(int(np.ceil(np.log10(lo))), 1)]
    x = Axis(
        Scale(lo, 1.5, log=True),
        decades,
        [_p_tick(d) for d in decades],
        f"p-value (log scale); dashed line: alpha = {alpha:g}",
    )
    frame = panel(canvas, x, category_axis([str(c) for c in rows["choice"]], tick_size=8.0))
    if {"pvalue_low", "pvalue_high"} <= set(rows.columns):
        lows = rows["pvalue_low"].to_numpy(float)
        highs = rows["pvalue_high"].to_numpy(float)
        has = ~np.isnan(lows)
        frame.segments(
            lows[has].clip(1e-12, 1), highs[has].clip(1e-12, 1), at[has], at[has], RANGE_LINE
        )
    frame.vline(alpha, Stroke("#000000", 0.8, (3.0, 2.0)))
    colours = [HOLDS_COLOUR if v < alpha else FAILS_COLOUR for v in p]
    frame.points(p, at, size=5.3, fill=colours)
    return canvas


def _p_tick(value: float) -> str:
    """A decade of the p-value axis as a reader writes it: 0.001, not 10^-3."""
    if value >= 1e-4:
        return f"{value:.{max(0, -int(np.floor(np.log10(value) + 1e-9)))}f}"
    return f"1e{round(float(np.log10(value)))}".replace("-", "\N{MINUS SIGN}")


def diagnostics_panel(fitted: np.ndarray, residuals: np.ndarray, ranef: pd.DataFrame) -> Canvas:
    """Residual Q-Q, residuals vs fitted and the caterpillar plot side by side."""
    canvas = Canvas.inches(13.0, max(3.8, 0.2 * len(ranef) + 1.2))
    first, second, third = _columns(canvas, [1.0, 1.0, 1.1])
    _qq(canvas, first, residuals)
    _residuals_vs_fitted(canvas, second, fitted, residuals)
    _caterpillar(canvas, third, ranef, "study random intercept (percentage points)")
    return canvas


def binary_diagnostics_panel(
    fitted: np.ndarray, residuals: np.ndarray, ranef: pd.DataFrame
) -> Canvas:
    """A 0/1 outcome's diagnostics: binned residuals and the caterpillar plot."""
    canvas = Canvas.inches(10.0, max(3.8, 0.2 * len(ranef) + 1.2))
    first, second = _columns(canvas, [1.0, 1.1])
    _binned_residuals(canvas, first, fitted, residuals)
    _caterpillar(canvas, second, ranef, "study random intercept (log odds)")
    return canvas


Region = tuple[float, float, float, float]


def _columns(canvas: Canvas, ratios: list[float]) -> list[Region]:
    edges = np.concatenate([[0.0], np.cumsum(ratios)]) / sum(ratios) * canvas.width
    return [(float(a), 0.0, float(b), canvas.height) for a, b in itertools.pairwise(edges)]


def _qq(canvas: Canvas, region: Region, residuals: np.ndarray) -> None:
    values = np.sort(np.asarray(residuals, dtype=float))
    n = values.size
    theoretical = special.ndtri((np.arange(1, n + 1) - 0.5) / n)
    slope, intercept = np.polyfit(theoretical, values, 1) if n > 1 else (1.0, 0.0)
    ends = np.array([theoretical.min(), theoretical.max()]) if n else np.zeros(2)
    line = intercept + slope * ends
    frame = panel(
        canvas, linear_axis(theoretical, "normal quantiles"),
        linear_axis([*values, *line], "residuals"), region=region, title="residual Q-Q",
    )  # fmt: skip
    frame.points(theoretical, values, size=3.5, fill=HOLDS_COLOUR, opacity=0.7)
    frame.line(ends, line, BLACK_LINE)


def _residuals_vs_fitted(
    canvas: Canvas, region: Region, fitted: np.ndarray, residuals: np.ndarray
) -> None:
    frame = panel(
        canvas, linear_axis(fitted, "fitted % relief"),
        linear_axis(np.append(residuals, 0.0), "residual"), region=region,
        title="residuals vs fitted",
    )  # fmt: skip
    frame.hline(0.0, BLACK_LINE)
    frame.points(fitted, residuals, size=3.5, fill=HOLDS_COLOUR, opacity=0.7)


def _binned_residuals(
    canvas: Canvas, region: Region, fitted: np.ndarray, residuals: np.ndarray
) -> None:
    """Observed minus fitted probability, averaged in bins of patients with similar fitted
    probabilities (Gelman and Hill's binned residual plot), with +-2 SE bounds.

    Residuals of a 0/1 outcome are two bands whatever the fit; their averages within bins
    show where the model's probabilities are off.
    """
    fitted = np.asarray(fitted, dtype=float)
    residuals = np.asarray(residuals, dtype=float)
    order = np.argsort(fitted, kind="stable")
    n_bins = max(1, min(20, int(np.sqrt(fitted.size))))
    bins = [b for b in np.array_split(order, n_bins) if b.size]
    centre = np.array([fitted[b].mean() for b in bins])
    mean = np.array([residuals[b].mean() for b in bins])
    bound = np.array(
        [2.0 * np.sqrt(max(fitted[b].mean() * (1 - fitted[b].mean()), 0.0) / b.size)
         for b in bins]
    )  # fmt: skip
    frame = panel(
        canvas, linear_axis(centre, "fitted probability (bin mean)"),
        linear_axis([*mean, *bound, *-bound, 0.0], "observed - fitted (bin mean)"),
        region=region, title="binned residuals",
    )  # fmt: skip
    frame.line(centre, bound, RANGE_LINE)
    frame.line(centre, -bound, RANGE_LINE)
    frame.hline(0.0, BLACK_LINE)
    frame.points(centre, mean, size=4.2, fill=HOLDS_COLOUR)


def _caterpillar(canvas: Canvas, region: Region, ranef: pd.DataFrame, xlabel: str) -> None:
    """Study random effects (conditional modes), sorted, with +-1.96 conditional SD.

    ``ranef`` has columns ``group``, ``value`` and ``sd``.
    """
    data = ranef.sort_values("value").reset_index(drop=True)
    value = data["value"].to_numpy(float)
    half = 1.96 * data["sd"].to_numpy(float)
    # Sorted from the smallest at the bottom, as a caterpillar plot reads.
    y = category_axis([str(g) for g in data["group"]], tick_size=7.0, first_at_top=False)
    frame = panel(
        canvas, linear_axis([*(value - half), *(value + half), 0.0], xlabel), y,
        region=region, title="study random effects",
    )  # fmt: skip
    frame.vline(0.0, BLACK_LINE)
    _error_bars(frame, value, value - half, value + half, cap=2.0, size=4.0)
