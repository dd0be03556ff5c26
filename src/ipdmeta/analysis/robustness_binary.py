"""The robustness rows only a 0/1 outcome's logistic model has: the likelihood
approximation (Laplace against adaptive quadrature), the interval method (Wald against
profile likelihood and parametric bootstrap) and the responder threshold.

Each row is ``(group, choice, summary, note)`` with ``summary`` holding the log odds ratio
(``estimate``) and its ``pvalue``, as :func:`ipdmeta.analysis.models.contrast_summary` gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.analysis.binary import (
    logistic_pairwise,
    outcome_threshold,
    refit_logistic,
    releveled_fit,
    with_lr_tests,
)
from ipdmeta.analysis.models import FittedModel, contrast_summary
from ipdmeta.analysis.spec import InferenceSpec, SensitivitySpec
from ipdmeta.data.outcomes import responder_column
from ipdmeta.errors import IpdmetaError

__all__ = [
    "BOOTSTRAP_CHUNKS",
    "BOOTSTRAP_SEED",
    "binary_rows",
    "bootstrap_replicates",
    "bootstrap_row",
    "main_label",
    "pairwise_with_lr_tests",
]

# The bootstrap's seeds are fixed so that a report reproduces; the note names them. The
# refits are drawn in this many chunks (BOOTSTRAP_SEED + chunk), which run side by side.
BOOTSTRAP_SEED = 20260101
BOOTSTRAP_CHUNKS = 2
# Odds ratios past this on the log scale are shown as "> 10,000" (see _ratio).
_SHOWN_LIMIT = float(np.log(1e4))
# The other approximation the panel compares: Laplace for a quadrature fit, and this many
# nodes for a Laplace fit.
_COMPARED_NODES = 7

Row = tuple[str, str, dict[str, float], str]


def main_label(nagq: int, adjust: str, test_note: str = "") -> str:
    test = "likelihood-ratio test" if test_note else "Wald z"
    return f"{test}, {_approximation(nagq)}, {adjust} (main analysis)"


def _approximation(nagq: int) -> str:
    return "Laplace approximation" if nagq == 1 else f"{nagq}-node quadrature"


def binary_rows(
    model: FittedModel,
    data: pd.DataFrame,
    contrast: str,
    inference: InferenceSpec,
    sensitivity: SensitivitySpec,
    thresholds: Sequence[float] = (),
) -> list[Row]:
    """The approximation, interval and threshold rows for ``contrast``, and the bootstrap
    row when ``sensitivity.bootstrap`` asks for refits (``ipdmeta run`` draws them side
    by side with this work instead and adds the row with
    :func:`ipdmeta.analysis.robustness.with_bootstrap`)."""
    nagq = model.fit.nagq
    level = inference.level
    rows: list[Row] = []
    other = 1 if nagq != 1 else _COMPARED_NODES
    rows.append(
        _refitted("approximation", _approximation(other), model.formula, other, model, data,
                  contrast, inference)
    )  # fmt: skip
    try:
        fit, term = releveled_fit(model.formula, model.spec.factor, data, contrast, nagq)
    except IpdmetaError as exc:
        failed = {"estimate": np.nan, "pvalue": np.nan}
        reason = f"cannot be estimated: {str(exc).splitlines()[0]}"
        return [*rows, ("interval", "profile likelihood", failed, reason)]
    rows.append(_profile_row(fit, term, level))
    n = sensitivity.bootstrap
    if n:
        replicates = np.concatenate(
            [bootstrap_replicates(model, data, contrast, n, chunk)
             for chunk in range(BOOTSTRAP_CHUNKS)]
        )  # fmt: skip
        rows.append(bootstrap_row(float(fit.coef[term]), replicates, level))
    rows += _threshold_rows(model, data, contrast, inference, thresholds)
    return rows


def pairwise_with_lr_tests(
    formula: str,
    factor: str,
    data: pd.DataFrame,
    contrasts: Sequence[str],
    nagq: int,
    inference: InferenceSpec,
    start: Any = None,
) -> tuple[pd.DataFrame, str]:
    """The refit's pairwise table, and a note when it had to change it (under separation,
    :func:`~ipdmeta.analysis.binary.with_lr_tests`). ``start``: a fit whose estimates the
    refit starts from."""
    fit = refit_logistic(formula, data, nagq, start)
    table = logistic_pairwise(fit, factor, inference.adjust, inference.level)
    return with_lr_tests(table, fit, formula, factor, data, contrasts, nagq)


def _refitted(
    group: str,
    choice: str,
    formula: str,
    nagq: int,
    model: FittedModel,
    data: pd.DataFrame,
    contrast: str,
    inference: InferenceSpec,
    note: str = "",
) -> Row:
    """The contrast in ``formula`` refitted with ``nagq`` nodes."""
    notes = [note] if note else []
    try:
        table, changed = pairwise_with_lr_tests(
            formula, model.spec.factor, data, [contrast], nagq, inference, model.fit
        )
        summary = contrast_summary(table, contrast)
        notes.append(changed)
    except IpdmetaError as exc:
        summary = {"estimate": np.nan, "pvalue": np.nan}
        notes.append(f"cannot be estimated: {str(exc).splitlines()[0]}")
    return group, choice, summary, "; ".join(filter(None, notes))


def _profile_row(fit: Any, term: str, level: float) -> Row:
    choice = "profile likelihood (LR test)"
    estimate = float(fit.coef[term])
    try:
        bounds = fit.confint("profile", level=level, terms=[term]).iloc[0]
        p = fit.profile_pvalue(term)
    except IpdmetaError as exc:
        reason = f"cannot be profiled: {str(exc).splitlines()[0]}"
        return "interval", choice, {"estimate": estimate, "pvalue": np.nan}, reason
    note = _interval_note(level, bounds["ci_lower"], bounds["ci_upper"])
    return "interval", choice, {"estimate": estimate, "pvalue": p}, note


def bootstrap_replicates(
    model: FittedModel, data: pd.DataFrame, contrast: str, n: int, chunk: int
) -> np.ndarray:
    """Chunk ``chunk`` of the ``n`` parametric bootstrap refits of the contrast's log odds
    ratio (NaN for a refit that did not converge). The refits are drawn in
    ``BOOTSTRAP_CHUNKS`` chunks, each with its own seed, so that they can run side by side
    and give the same numbers on any number of cores."""
    size = n // BOOTSTRAP_CHUNKS + (1 if chunk < n % BOOTSTRAP_CHUNKS else 0)
    if size == 0:
        return np.empty(0)
    try:
        fit, term = releveled_fit(model.formula, model.spec.factor, data, contrast, model.fit.nagq)
    except IpdmetaError:
        return np.full(size, np.nan)
    return fit.bootstrap(size, seed=BOOTSTRAP_SEED + chunk).replicates[term].to_numpy()


def bootstrap_row(estimate: float, replicates: np.ndarray, level: float) -> Row:
    """Percentile interval of the parametric bootstrap refits, and the two-sided
    bootstrap p-value: twice the smaller share of refits on either side of 0, counted as
    (count + 1) / (refits + 1) so that it is never 0."""
    n = replicates.size
    choice = f"parametric bootstrap ({n} refits)"
    converged = replicates[~np.isnan(replicates)]
    if converged.size < 2:
        return (
            "interval",
            choice,
            {"estimate": estimate, "pvalue": np.nan},
            ("too few bootstrap refits converged"),
        )
    below = int((converged <= 0).sum())
    above = int((converged >= 0).sum())
    p = min(1.0, 2.0 * (min(below, above) + 1) / (converged.size + 1))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(converged, [tail, 1.0 - tail])
    seeds = ", ".join(str(BOOTSTRAP_SEED + c) for c in range(BOOTSTRAP_CHUNKS))
    note = f"{_interval_note(level, low, high)}; {converged.size} of {n} refits converged"
    ran_off = int((np.abs(converged) > _SHOWN_LIMIT).sum())
    if ran_off:
        # Said, so that a reader of "> 10,000" knows where it comes from.
        note += (
            f"; in {ran_off} the odds ratio ran past 10,000 or below 1/10,000 (separation: "
            "a category in which every patient responded, or none)"
        )
    note += f"; seeds {seeds}"
    return "interval", choice, {"estimate": estimate, "pvalue": p}, note


def _interval_note(level: float, low: float, high: float) -> str:
    return f"{100 * level:g}% CI of the odds ratio {_ratio(low)} to {_ratio(high)}"


def _ratio(log_value: float) -> str:
    value = float(np.exp(log_value))
    if value > 1e4:
        return "infinity" if np.isinf(value) else "> 10,000"
    return f"{value:.3g}"


def _threshold_rows(
    model: FittedModel,
    data: pd.DataFrame,
    contrast: str,
    inference: InferenceSpec,
    thresholds: Sequence[float],
) -> list[Row]:
    """The model refitted with responders defined at each other relief threshold."""
    main = outcome_threshold(model.formula)
    if main is None:
        return []
    outcome = model.outcome
    rows = []
    for threshold in thresholds:
        column = responder_column(threshold)
        if threshold == main or column not in data.columns:
            continue
        formula = re.sub(rf"^\s*{re.escape(outcome)}\s*~", f"{column} ~", model.formula)
        flags = data[column].dropna().astype(bool)
        note = f"{int(flags.sum())} of {flags.size} patients respond"
        rows.append(
            _refitted(
                "responder threshold",
                f"responders at {threshold:g} % relief",
                formula,
                model.fit.nagq,
                model,
                data,
                contrast,
                inference,
                note,
            )
        )
    return rows
