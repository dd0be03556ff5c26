"""Text and HTML views of a fitted mixed model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ipdmeta._display import result_html

if TYPE_CHECKING:
    from ipdmeta.mixed._model import LmmResult
    from ipdmeta.mixed._options import DDF


def _fmt(x: object, decimals: int = 4) -> str:
    if isinstance(x, float | np.floating):
        if not np.isfinite(x):
            return "Inf" if np.isinf(x) else "NA"
        return f"{x:.{decimals}f}"
    return str(x)


def _table(df: pd.DataFrame, decimals: dict[str, int] | None = None) -> str:
    dec = decimals or {}
    cells = [[str(c) for c in df.columns]] + [
        [_fmt(v, dec.get(str(c), 4)) for c, v in zip(df.columns, row, strict=True)]
        for row in df.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for k, r in enumerate(cells):
        parts = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, len(r))]
        lines.append("  ".join(parts))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _weights_line(weights: np.ndarray) -> str:
    return (
        f"Prior weights from {min(weights):.4g} to {max(weights):.4g} "
        "(residual variance sigma^2 / weight)"
    )


def summary_text(fit: LmmResult, ddf: DDF) -> str:
    crit = "REML" if fit.reml else "ML"
    lines = [
        f"Linear mixed model fit by {crit} (t-tests use {ddf.value} df)",
        f"Formula: {fit.formula}",
        f"Observations: {fit.nobs}"
        + (f" ({fit.n_dropped} rows with missing values dropped)" if fit.n_dropped else ""),
        "Groups: " + ", ".join(f"{g} {k}" for g, k in fit.ngroups.items()),
        f"logLik {fit.loglik:.4f}  AIC {fit.aic:.4f}  BIC {fit.bic:.4f}",
    ]
    if fit.aliased:
        lines.append("Aliased columns dropped: " + ", ".join(fit.aliased))
    if fit.design.weights is not None:
        lines.append(_weights_line(fit.design.weights))
    if fit.is_singular:
        lines.append("Singular fit: a random-effect variance is estimated at (or near) zero.")
    lines += ["", "Random effects:"]
    vc = fit.variance_components[["group", "name", "variance", "sd"]]
    lines.append(_table(vc))
    for row in fit.correlations.itertuples(index=False):
        lines.append(f"  corr({row.name1}, {row.name2} | {row.group}) = {row.correlation:.3f}")
    icc = fit.icc
    if np.isfinite(icc):
        lines.append(f"ICC (between-group share of variance): {icc:.4f}")
    lines += ["", "Fixed effects:"]
    fe = fit.fixed_effects(ddf).copy()
    fe["pvalue"] = [_fmt_p(p) for p in fe["pvalue"]]
    lines.append(_table(fe[["term", "estimate", "se", "df", "t", "pvalue"]], {"df": 2, "t": 3}))
    return "\n".join(lines)


def anova_text(table: pd.DataFrame) -> str:
    """An anova() table as text, p-values as the summary shows them."""
    shown = table[["term", "num_df", "den_df", "F", "pvalue"]].copy()
    shown["pvalue"] = [_fmt_p(p) for p in shown["pvalue"]]
    return _table(shown, {"num_df": 0, "den_df": 2, "F": 3})


def means_text(means: pd.DataFrame, pairs: pd.DataFrame) -> str:
    """Marginal means and their pairwise differences as text."""
    shown = pairs.copy()
    shown["pvalue"] = [_fmt_p(p) for p in shown["pvalue"]]
    return "\n\n".join([_table(means, {"df": 2}), _table(shown, {"df": 2, "t": 3})])


def summary_html(fit: LmmResult) -> str:
    """The fit as HTML: a heading, the model's description, and its two tables."""
    crit = "REML" if fit.reml else "ML"
    groups = ", ".join(f"{k} groups of {g}" for g, k in fit.ngroups.items())
    notes = [
        f"Formula: {fit.formula}",
        f"logLik {fit.loglik:.4f}  AIC {fit.aic:.4f}  BIC {fit.bic:.4f}",
    ]
    if fit.n_dropped:
        notes.append(f"{fit.n_dropped} rows with missing values dropped")
    if fit.aliased:
        notes.append("Aliased columns dropped: " + ", ".join(fit.aliased))
    if fit.design.weights is not None:
        notes.append(_weights_line(fit.design.weights))
    if fit.is_singular:
        notes.append("Singular fit: a random-effect variance is estimated at (or near) zero.")
    for row in fit.correlations.itertuples(index=False):
        notes.append(f"corr({row.name1}, {row.name2} | {row.group}) = {row.correlation:.3f}")
    icc = fit.icc
    if np.isfinite(icc):
        notes.append(f"ICC (between-group share of variance): {icc:.4f}")
    vc = fit.variance_components[["group", "name", "variance", "sd"]]
    return result_html(
        f"Linear mixed model ({crit}), {fit.nobs} observations, {groups}",
        [
            ("Random effects", vc),
            ("Fixed effects (Satterthwaite df)", fit.to_frame()),
        ],
        notes,
    )
