"""The report's figures. Each function draws on ``ax`` (a new one when None) and returns it.

matplotlib is imported here, never by the numerics, so ``import ipdmeta`` stays light.
The figures are made outside pyplot (no backend is chosen, nothing is shown, a notebook's
plots are left alone) and styled by :func:`report_style`, never by changing the user's
matplotlib settings.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import special

from ipdmeta.data.writers import write_bytes, write_text

__all__ = [
    "STYLE",
    "SavedFigure",
    "binary_diagnostics_panel",
    "binned_residuals",
    "caterpillar_plot",
    "diagnostics_panel",
    "emmeans_plot",
    "new_axes",
    "print_dpi",
    "prisma_diagram",
    "qq_plot",
    "quality_traffic_light",
    "relief_by_category",
    "report_style",
    "residuals_vs_fitted",
    "robustness_dot_plot",
    "save_figure",
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
JUDGEMENT_MARKERS = {"yes": "o", "no": "X", "unclear": "D", "not applicable": "s"}
HOLDS_COLOUR = OKABE_ITO[0]
FAILS_COLOUR = OKABE_ITO[1]

STYLE = {
    "svg.fonttype": "none",  # keep text as text: smaller, searchable, selectable
    # DejaVu Sans ships with matplotlib, so every machine lays figures out with it;
    # a browser without it uses Arial or Helvetica, both narrower, for the SVG text.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    # A PDF saved from a figure embeds the font whole (TrueType), as journals ask.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    # Laid out once when drawn; savefig's bbox="tight" would draw every figure twice.
    "figure.constrained_layout.use": True,
    # The layout is made for the 300 dpi PNG and kept for the SVG, whose text at 72
    # units per inch can measure wider: on the example's robustness plot its labels
    # reach 0.053 in further, past the default pad of 3/72 in. 0.07 in keeps them in.
    "figure.constrained_layout.w_pad": 0.07,
    "figure.constrained_layout.h_pad": 0.07,
}


def report_style() -> Any:
    """A context in which figures are made and saved in the report's style."""
    return matplotlib.rc_context(STYLE)  # type: ignore[arg-type]  # keys are literals


def new_axes(size: tuple[float, float]) -> Axes:
    """Axes on a new figure of ``size`` inches, outside pyplot."""
    axes: Axes = Figure(figsize=size).subplots()
    return axes


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    return ax if ax is not None else new_axes(size)


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


def save_figure(ax: Axes, folder: Path, name: str, formats: Sequence[str]) -> SavedFigure:
    """Write the figure of ``ax`` as ``folder/name.<fmt>`` for each format asked for.

    The SVG and the PNG are made whatever the formats: the HTML report embeds the one
    and report.docx the other.
    """
    figure = ax.figure
    if not isinstance(figure, Figure):
        raise TypeError("the axes belong to a subfigure; save the parent figure instead")
    with report_style():
        return _save(figure, folder, name, formats)


def _save(figure: Figure, folder: Path, name: str, formats: Sequence[str]) -> SavedFigure:
    # The PNG is drawn first, laying the figure out at its resolution; the SVG then reuses
    # that layout rather than making its own, which cut long labels at the PNG's edge.
    png = io.BytesIO()
    figure.savefig(
        png,
        format="png",
        dpi=print_dpi(figure),
        metadata={"Software": None},
        # zlib's fastest level: the example's 14 figures take 2.3 MB in 1.3 s of encoding,
        # against 1.8 MB in 2.1 s at the default level.
        pil_kwargs={"compress_level": 1},
    )
    if "png" in formats:
        write_bytes(folder / f"{name}.png", png.getvalue())
    figure.set_layout_engine("none")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    if "svg" in formats:
        write_text(folder / f"{name}.svg", svg)
    placed = min(float(figure.get_figwidth()), PLACED_WIDTH_INCHES)
    return SavedFigure(svg=svg, png=png.getvalue(), placed_width_inches=placed)


def print_dpi(figure: Figure) -> float:
    """The PNG's resolution: PRINT_DPI once Word has shrunk the figure to fit its page."""
    width = float(figure.get_figwidth())
    return PRINT_DPI * min(width, PLACED_WIDTH_INCHES) / width


def relief_by_category(
    patients: pd.DataFrame, column: str, outcome: str = "relief_pct", ax: Axes | None = None
) -> Axes:
    """Box plot with every patient as a dot, one box per category, n under each label."""
    data = patients[[column, outcome]].dropna()
    levels = sorted(data[column].unique(), key=str)
    ax = _axes(ax, (max(4.0, 1.1 * len(levels) + 1.5), 3.6))
    groups = [data.loc[data[column] == level, outcome].to_numpy(float) for level in levels]
    ax.boxplot(groups, widths=0.55, showfliers=False, medianprops={"color": "black"})
    rng = np.random.default_rng(0)  # fixed jitter: the same data give the same picture
    for i, values in enumerate(groups, start=1):
        ax.scatter(
            i + rng.uniform(-0.18, 0.18, values.size),
            values,
            s=14,
            alpha=0.6,
            color=HOLDS_COLOUR,
            linewidths=0,
        )
    ax.set_xticks(range(1, len(levels) + 1))
    ax.set_xticklabels([f"{lv}\n(n={g.size})" for lv, g in zip(levels, groups, strict=True)])
    ax.set_ylabel("% pain relief")
    ax.set_xlabel(column.replace("_", " "))
    ax.axhline(0, color="#bbbbbb", linewidth=0.8, zorder=0)
    return ax


def quality_traffic_light(quality: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """One row per study, one column per checklist item, coloured by judgement."""
    items = list(dict.fromkeys(quality["item"]))
    studies = list(dict.fromkeys(quality["study_id"]))
    ax = _axes(ax, (max(5.0, 0.45 * len(items) + 2.5), max(3.0, 0.28 * len(studies) + 1.5)))
    lookup = {(r.study_id, r.item): r.judgement for r in quality.itertuples()}
    cells = [(x, y, lookup.get((s, i))) for y, s in enumerate(studies) for x, i in enumerate(items)]
    for judgement in [*JUDGEMENT_COLOURS, None]:
        these = [c for c in cells if (c[2] if c[2] in JUDGEMENT_COLOURS else None) == judgement]
        if these:
            ax.scatter(
                [c[0] for c in these],
                [c[1] for c in these],
                s=90,
                c=JUDGEMENT_COLOURS.get(str(judgement), "white"),
                marker=JUDGEMENT_MARKERS.get(str(judgement), "o"),
                edgecolors="#555555",
                linewidths=0.4,
            )
    ax.set_xticks(range(len(items)))
    ax.set_xticklabels([f"Q{i + 1}" for i in range(len(items))])
    ax.set_yticks(range(len(studies)))
    ax.set_yticklabels(studies, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.7, len(items) - 0.3)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0)
    handles = [
        Line2D([], [], marker=JUDGEMENT_MARKERS[j], linestyle="", color=c, label=j)
        for j, c in JUDGEMENT_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def prisma_diagram(counts: dict[str, Any], ax: Axes | None = None) -> Axes:
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
    ax = _axes(ax, (8.5, 7.5))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")

    def n(key: str) -> str:
        value = counts.get(key)
        return "?" if value is None else f"{value:,}"

    identified = counts.get("records_identified") or {}
    total = sum(identified.values()) if identified else None
    sources = "\n".join(f"  {name} (n = {value:,})" for name, value in identified.items())
    excluded = counts.get("reports_excluded") or {}
    reasons = "\n".join(f"  {reason} (n = {value:,})" for reason, value in excluded.items())
    left = [
        (
            8.6,
            f"Records identified from:\n{sources or '  (not given)'}\nTotal (n = "
            f"{'?' if total is None else f'{total:,}'})",
        ),
        (6.5, f"Records screened\n(n = {n('records_screened')})"),
        (4.9, f"Reports sought for retrieval\n(n = {n('reports_sought')})"),
        (3.3, f"Reports assessed for eligibility\n(n = {n('reports_assessed')})"),
        (
            1.1,
            f"Studies included in review\n(n = {n('studies_included')})\n"
            f"Patients included\n(n = {n('patients_included')})",
        ),
    ]
    removed = f"Records removed before screening:\n  Duplicates (n = {n('duplicates_removed')})"
    if counts.get("records_removed_automation") is not None:  # optional, as the next
        automatic = n("records_removed_automation")
        removed += f"\n  Marked ineligible by\n  automation tools (n = {automatic})"
    if counts.get("records_removed_other") is not None:  # optional: most reviews have none
        removed += f"\n  Other reasons (n = {n('records_removed_other')})"
    right = [
        (8.6, removed),
        (6.5, f"Records excluded\n(n = {n('records_excluded')})"),
        (4.9, f"Reports not retrieved\n(n = {n('reports_not_retrieved')})"),
        (3.3, f"Reports excluded:\n{reasons or '  (not given)'}"),
    ]
    dropped = counts.get("patients_excluded") or {}
    if dropped:  # patients extracted but kept out of the analysis, by reason
        listed = "\n".join(f"  {reason} (n = {value:,})" for reason, value in dropped.items())
        right.append((1.1, f"Patients excluded from the analysis:\n{listed}"))
    box = {"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": "#37474f"}
    for y, text in left:
        ax.text(2.6, y, text, ha="center", va="center", fontsize=8.5, bbox=box)
    for y, text in right:
        ax.text(7.6, y, text, ha="center", va="center", fontsize=8.5, bbox=box)
    arrow = {"arrowstyle": "->", "color": "#37474f"}
    for (y0, _), (y1, _) in itertools.pairwise(left):
        ax.annotate("", xy=(2.6, y1 + 0.55), xytext=(2.6, y0 - 0.7), arrowprops=arrow)
    for y, _ in right:
        ax.annotate("", xy=(5.6, y), xytext=(4.7, y), arrowprops=arrow)
    ax.text(0.1, 9.9, "Identification", fontsize=9, fontweight="bold", va="top")
    ax.text(0.1, 7.2, "Screening", fontsize=9, fontweight="bold", va="top")
    ax.text(0.1, 1.9, "Included", fontsize=9, fontweight="bold", va="top")
    return ax


def subgroup_forest(cells: pd.DataFrame, result: Any, factor: str, ax: Axes | None = None) -> Axes:
    """Study means grouped by level, each level's pooled mean as a diamond, and the test
    for subgroup differences in the title. ``cells`` has ``study_id, level, yi, vi``."""
    levels = list(result.groups)
    ax = _axes(ax, (7.0, 0.28 * (len(cells) + 2 * len(levels)) + 1.4))
    crit = float(special.ndtri(0.5 + result.level / 2))
    y = 0.0
    ticks: list[float] = []
    names: list[str] = []
    for level in reversed(levels):
        pooled = result.results[level]
        ax.fill(
            [pooled.ci_lower, pooled.estimate, pooled.ci_upper, pooled.estimate],
            [y, y + 0.35, y, y - 0.35],
            color=HOLDS_COLOUR,
        )
        ticks.append(y)
        names.append(f"{level} (pooled, k = {pooled.k})")
        y += 1.0
        rows = cells[cells["level"] == level].iloc[::-1]
        se = np.sqrt(rows["vi"].to_numpy(float))
        positions = y + np.arange(len(rows))
        ax.hlines(positions, rows["yi"] - crit * se, rows["yi"] + crit * se, color="black", lw=1)
        ax.scatter(rows["yi"], positions, marker="s", s=18, color="black", zorder=3)
        ticks += positions.tolist()
        names += [str(s) for s in rows["study_id"]]
        y = positions.max() + 1.5 if len(rows) else y + 0.5
    ax.set_yticks(ticks, names, fontsize=7)
    ax.set_ylim(-1.0, y)
    ax.set_xlabel(f"mean % relief per study and {factor.replace('_', ' ')} (95% CI)")
    name = "F" if result.Q_between_df and result.test.value == "knha" else "Q"
    ax.set_title(
        f"Test for subgroup differences: {name}({result.Q_between_df}) = "
        f"{result.Q_between:.2f}, p = {result.Q_between_pvalue:.3g}",
        fontsize=9,
    )
    return ax


def emmeans_plot(
    emmeans: pd.DataFrame,
    factor: str,
    ax: Axes | None = None,
    xlabel: str = "estimated marginal mean % relief (95% CI)",
) -> Axes:
    """Estimated marginal means with their confidence intervals."""
    ax = _axes(ax, (5.5, 0.45 * len(emmeans) + 1.2))
    y = np.arange(len(emmeans))
    ax.errorbar(
        emmeans["emmean"],
        y,
        xerr=[emmeans["emmean"] - emmeans["ci_lower"], emmeans["ci_upper"] - emmeans["emmean"]],
        fmt="o",
        color=HOLDS_COLOUR,
        capsize=3,
    )
    ax.set_yticks(y)
    ax.set_yticklabels(emmeans["level"])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(factor.replace("_", " "))
    return ax


def robustness_dot_plot(rows: pd.DataFrame, alpha: float, ax: Axes | None = None) -> Axes:
    """p-value of a contrast under each analysis choice, on a log axis, alpha marked.

    ``rows`` has columns ``choice`` and ``pvalue`` and optionally ``pvalue_low`` /
    ``pvalue_high`` for a range (leave-one-study-out).
    """
    ax = _axes(ax, (6.0, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))
    p = rows["pvalue"].to_numpy(float).clip(1e-12, 1)
    colours = [HOLDS_COLOUR if v < alpha else FAILS_COLOUR for v in p]
    if {"pvalue_low", "pvalue_high"} <= set(rows.columns):
        low = rows["pvalue_low"].to_numpy(float)
        high = rows["pvalue_high"].to_numpy(float)
        has = ~np.isnan(low)
        ax.hlines(y[has], low[has].clip(1e-12, 1), high[has].clip(1e-12, 1), color="#90a4ae")
    ax.scatter(p, y, color=colours, zorder=3, s=28)
    ax.axvline(alpha, color="black", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    # Whole decades only, from below the smallest p (or alpha) up to 1: readable ticks.
    low = np.nanmin(np.append(p, [alpha, rows.get("pvalue_low", pd.Series([1.0])).min()]))
    ax.set_xlim(10 ** np.floor(np.log10(max(low, 1e-12)) - 0.3), 1.5)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_p_tick))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(y)
    ax.set_yticklabels(rows["choice"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"p-value (log scale); dashed line: alpha = {alpha:g}")
    return ax


def _p_tick(value: float, _position: object = None) -> str:
    """A decade of the p-value axis as a reader writes it: 0.001, not 10^-3 (matplotlib's
    default label is mathtext, whose parser took 0.8 s of the example's report)."""
    if value >= 1e-4:
        return f"{value:.{max(0, -int(np.floor(np.log10(value) + 1e-9)))}f}"
    return f"1e{round(float(np.log10(value)))}".replace("-", "\N{MINUS SIGN}")


def qq_plot(residuals: np.ndarray, ax: Axes | None = None) -> Axes:
    """Normal Q-Q plot of residuals."""
    ax = _axes(ax, (4.0, 4.0))
    values = np.sort(np.asarray(residuals, dtype=float))
    n = values.size
    theoretical = special.ndtri((np.arange(1, n + 1) - 0.5) / n)
    ax.scatter(theoretical, values, s=12, color=HOLDS_COLOUR, alpha=0.7)
    slope, intercept = np.polyfit(theoretical, values, 1) if n > 1 else (1.0, 0.0)
    ax.plot(theoretical, intercept + slope * theoretical, color="black", linewidth=0.8)
    ax.set_xlabel("normal quantiles")
    ax.set_ylabel("residuals")
    return ax


def residuals_vs_fitted(fitted: np.ndarray, residuals: np.ndarray, ax: Axes | None = None) -> Axes:
    """Residuals against fitted values, with a zero line."""
    ax = _axes(ax, (4.5, 4.0))
    ax.scatter(fitted, residuals, s=12, color=HOLDS_COLOUR, alpha=0.7)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("fitted % relief")
    ax.set_ylabel("residual")
    return ax


def diagnostics_panel(fitted: np.ndarray, residuals: np.ndarray, ranef: pd.DataFrame) -> Axes:
    """Residual Q-Q, residuals vs fitted and the caterpillar plot side by side."""
    height = max(3.8, 0.2 * len(ranef) + 1.2)
    axes = Figure(figsize=(13.0, height)).subplots(1, 3, width_ratios=[1, 1, 1.1])
    qq_plot(residuals, ax=axes[0])
    axes[0].set_title("residual Q-Q", fontsize=10)
    residuals_vs_fitted(fitted, residuals, ax=axes[1])
    axes[1].set_title("residuals vs fitted", fontsize=10)
    caterpillar_plot(ranef, ax=axes[2])
    axes[2].set_title("study random effects", fontsize=10)
    return axes[0]


def binary_diagnostics_panel(
    fitted: np.ndarray, residuals: np.ndarray, ranef: pd.DataFrame
) -> Axes:
    """A 0/1 outcome's diagnostics: binned residuals and the caterpillar plot."""
    height = max(3.8, 0.2 * len(ranef) + 1.2)
    axes = Figure(figsize=(10.0, height)).subplots(1, 2, width_ratios=[1, 1.1])
    binned_residuals(fitted, residuals, ax=axes[0])
    axes[0].set_title("binned residuals", fontsize=10)
    caterpillar_plot(ranef, ax=axes[1], xlabel="study random intercept (log odds)")
    axes[1].set_title("study random effects", fontsize=10)
    return axes[0]


def binned_residuals(fitted: np.ndarray, residuals: np.ndarray, ax: Axes | None = None) -> Axes:
    """Observed minus fitted probability, averaged in bins of patients with similar fitted
    probabilities (Gelman and Hill's binned residual plot), with +-2 SE bounds.

    Residuals of a 0/1 outcome are two bands whatever the fit; their averages within bins
    show where the model's probabilities are off.
    """
    ax = _axes(ax, (4.5, 4.0))
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
    ax.plot(centre, bound, color="#90a4ae", linewidth=0.8)
    ax.plot(centre, -bound, color="#90a4ae", linewidth=0.8)
    ax.scatter(centre, mean, s=18, color=HOLDS_COLOUR, zorder=3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("fitted probability (bin mean)")
    ax.set_ylabel("observed - fitted (bin mean)")
    return ax


def caterpillar_plot(
    ranef: pd.DataFrame,
    ax: Axes | None = None,
    xlabel: str = "study random intercept (percentage points)",
) -> Axes:
    """Study random effects (conditional modes), sorted, with +-1.96 conditional SD when given.

    ``ranef`` has columns ``group`` and ``value`` and optionally ``sd``.
    """
    data = ranef.sort_values("value").reset_index(drop=True)
    ax = _axes(ax, (5.0, 0.25 * len(data) + 1.2))
    y = np.arange(len(data))
    if "sd" in data:
        ax.errorbar(
            data["value"],
            y,
            xerr=1.96 * data["sd"],
            fmt="o",
            color=HOLDS_COLOUR,
            capsize=2,
            markersize=4,
        )
    else:
        ax.scatter(data["value"], y, color=HOLDS_COLOUR, s=16)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(data["group"], fontsize=7)
    ax.set_xlabel(xlabel)
    return ax
