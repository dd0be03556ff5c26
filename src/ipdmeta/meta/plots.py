"""Forest and funnel plots. matplotlib is imported inside each function, never at import."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from ipdmeta.errors import ModelSpecError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ipdmeta.meta.univariate import MetaResult

__all__ = ["forest_plot", "funnel_plot"]


def forest_plot(
    res: MetaResult, ax: Axes | None = None, labels: Sequence[str] | None = None
) -> Axes:
    """Forest plot: each study's estimate and CI (box size by weight), the pooled diamond
    and, for a random-effects model, the prediction interval as a line under it.

    The same picture as metafor's ``forest(res)``. Returns ``ax``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * res.k + 1.8))
    names = list(res.labels if labels is None else labels)
    if len(names) != res.k:
        raise ModelSpecError(f"labels has {len(names)} entries for {res.k} studies")
    crit = float(special.ndtri(0.5 + res.level / 2))
    se = np.sqrt(res.vi)
    lo, hi = res.yi - crit * se, res.yi + crit * se
    ypos = np.arange(res.k, 0, -1) + 1.0
    w = res.weights
    sizes = 20 + 180 * w / w.max()
    ax.hlines(ypos, lo, hi, color="black", lw=1)
    ax.scatter(res.yi, ypos, s=sizes, marker="s", color="black", zorder=3)
    d_y = 0.0
    diamond_x = [res.ci_lower, res.estimate, res.ci_upper, res.estimate]
    diamond_y = [d_y, d_y + 0.35, d_y, d_y - 0.35]
    ax.fill(diamond_x, diamond_y, color="black")
    if res.method.value != "FE":
        ax.hlines(d_y - 0.6, res.pi_lower, res.pi_upper, color="black", lw=1, linestyles="dotted")
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    model = "FE model" if res.method.value == "FE" else f"RE model ({res.method.value})"
    ax.set_yticks([*ypos.tolist(), d_y], [*names, model])
    ax.set_ylim(d_y - 1.2, ypos.max() + 1)
    ax.set_xlabel("Estimate")
    return ax


def funnel_plot(
    res: MetaResult,
    ax: Axes | None = None,
    contours: Sequence[float] | None = None,
    refline: float = 0.0,
) -> Axes:
    """Funnel plot: estimates against their standard errors (inverted axis) with the
    pseudo-confidence region around the pooled estimate, as metafor's ``funnel(res)``.

    ``contours`` (e.g. ``(0.90, 0.95, 0.99)``) makes it contour-enhanced, as metafor's
    ``funnel(res, level=c(90, 95, 99), refline=0)``: the regions where a study's own
    two-sided test against ``refline`` has p >= 0.10, 0.05 <= p < 0.10 and so on are
    shaded, darker as p falls, so that gaps can be read against significance (Peters et al.
    2008). The pseudo-confidence region is then drawn as lines. Returns ``ax``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    se = np.sqrt(res.vi)
    top = float(se.max()) * 1.05
    crit = float(special.ndtri(0.5 + res.level / 2))
    grid = np.linspace(0.0, top, 50)
    if contours:
        _significance_contours(ax, sorted(contours), refline, grid, res, crit)
    else:
        ax.fill_betweenx(
            grid, res.estimate - crit * grid, res.estimate + crit * grid, color="0.92", zorder=0
        )
    ax.plot(res.estimate - crit * grid, grid, color="0.5", lw=0.8)
    ax.plot(res.estimate + crit * grid, grid, color="0.5", lw=0.8)
    ax.axvline(res.estimate, color="black", lw=0.8)
    ax.scatter(res.yi, se, color="black", zorder=3, s=18)
    ax.set_ylim(top, 0.0)
    ax.set_xlabel("Estimate")
    ax.set_ylabel("Standard error")
    return ax


def _significance_contours(
    ax: Axes, levels: list[float], refline: float, grid: np.ndarray, res: MetaResult, crit: float
) -> None:
    if not all(0.0 < level < 1.0 for level in levels):
        raise ModelSpecError(f"contour levels must lie between 0 and 1, got {levels}")
    widths = [float(special.ndtri(0.5 + level / 2)) for level in levels]
    # Wide enough for every study, the pooled region and the outermost contour's mouth.
    se_max = float(grid[-1])
    edges = [
        *res.yi.tolist(),
        res.estimate - crit * se_max,
        res.estimate + crit * se_max,
        refline - widths[-1] * se_max,
        refline + widths[-1] * se_max,
    ]
    pad = 0.05 * (max(edges) - min(edges))
    left, right = min(edges) - pad, max(edges) + pad
    shades = np.linspace(0.70, 0.90, len(levels))  # darker for smaller p; points stay clear
    ax.fill_betweenx(grid, left, right, color=str(shades[0]), zorder=0, lw=0)
    # The background is the darkest (p below the smallest level); each narrower wedge
    # around the reference line is lighter, the innermost white.
    for width, shade in zip(widths[::-1], [*shades[1:].tolist(), 1.0], strict=True):
        ax.fill_betweenx(
            grid,
            refline - width * grid,
            refline + width * grid,
            color=str(shade),
            zorder=0,
            lw=0,
        )
    from matplotlib.patches import Rectangle

    labels = contour_labels(levels)
    handles = [
        Rectangle((0, 0), 1, 1, facecolor=str(shade), edgecolor="0.5", lw=0.5)
        for shade in [1.0, *shades[::-1].tolist()]
    ]
    ax.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        title="study's own p",
        frameon=False,
    )
    ax.axvline(refline, color="0.3", lw=0.6, ls=":")
    ax.set_xlim(left, right)


def contour_labels(levels: list[float]) -> list[str]:
    """The legend of a contour-enhanced funnel plot: the p-value band of each shade."""
    alphas = [round(1.0 - level, 6) for level in levels]  # e.g. 0.1, 0.05, 0.01
    labels = [f"p ≥ {alphas[0]:g}"]
    for high, low in itertools.pairwise(alphas):
        labels.append(f"{low:g} ≤ p < {high:g}")
    labels.append(f"p < {alphas[-1]:g}")
    return labels
