"""Forest and funnel plots. matplotlib is imported inside each function, never at import."""

from __future__ import annotations

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


def funnel_plot(res: MetaResult, ax: Axes | None = None) -> Axes:
    """Funnel plot: estimates against their standard errors (inverted axis) with the
    pseudo-confidence region around the pooled estimate, as metafor's ``funnel(res)``.
    Returns ``ax``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    se = np.sqrt(res.vi)
    top = float(se.max()) * 1.05
    crit = float(special.ndtri(0.5 + res.level / 2))
    grid = np.linspace(0.0, top, 50)
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
