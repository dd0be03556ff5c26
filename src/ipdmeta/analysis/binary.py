"""Models of a 0/1 outcome (responders): logistic mixed models with a random intercept per
study, as lme4's ``glmer`` fits them, reported as odds ratios and response probabilities.

The tables keep the shape the linear models' have, so the rest of the review handles both:
``estimate`` and ``se`` are on the log-odds scale (so a contrast's sign and the robustness
verdicts work as for differences), with the odds ratios beside them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta.analysis.models import FittedModel, contrast_levels, find_contrast, outcome_of
from ipdmeta.analysis.spec import InferenceSpec, ModelSpec
from ipdmeta.errors import IpdmetaError, ModelSpecError

__all__ = ["fit_logistic", "logistic_pairwise", "refit_logistic", "releveled_fit"]


def refit_logistic(formula: str, data: pd.DataFrame, nagq: int, start: Any = None) -> Any:
    """``glmm(formula, data)`` with a binomial family, starting at the estimates of the
    fit ``start`` when given (a refit to other rows converges faster from there)."""
    from ipdmeta import mixed

    return mixed.glmm(formula, data, family="binomial", nagq=nagq, start=start)


def fit_logistic(
    spec: ModelSpec,
    data: pd.DataFrame,
    inference: InferenceSpec,
    formula: str,
    adjusts: tuple[str, ...],
) -> FittedModel:
    """The logistic mixed model of ``spec`` and its tables."""
    fit = refit_logistic(formula, data, inference.nagq)
    level = inference.level
    fixed = fit.fixed_effects(level)
    with np.errstate(over="ignore"):  # under separation a limit is infinite, as it should be
        fixed = fixed.assign(
            odds_ratio=np.exp(fixed["estimate"].to_numpy()),
            or_ci_lower=np.exp(fixed["ci_lower"].to_numpy()),
            or_ci_upper=np.exp(fixed["ci_upper"].to_numpy()),
        )
    emmeans = fit.emmeans(spec.factor, level).rename(
        columns={"estimate": "probability", "emmean_link": "log_odds", "se_link": "se_log_odds"}
    )
    pairwise, note = _pairwise_tables(fit, spec, data, formula, adjusts, inference)
    return FittedModel(
        spec=spec,
        formula=formula,
        fit=fit,
        ddf="asymptotic",
        fixed_effects=fixed,
        anova=fit.anova(),
        emmeans=emmeans,
        pairwise=pairwise,
        family="binomial",
        test_note=note,
    )


def _pairwise_tables(
    fit: Any,
    spec: ModelSpec,
    data: pd.DataFrame,
    formula: str,
    adjusts: tuple[str, ...],
    inference: InferenceSpec,
) -> tuple[dict[str, pd.DataFrame], str]:
    """Each adjustment's pairwise table, and a note: under separation, the main one's
    headline contrasts are tested by likelihood ratio, as the methods paragraph says and
    the robustness refits do. Where that test cannot be made either, Wald's stays."""
    tables = {a: logistic_pairwise(fit, spec.factor, a, inference.level) for a in adjusts}
    main, note = adjusts[0], ""
    with contextlib.suppress(IpdmetaError):
        tables[main], note = with_lr_tests(
            tables[main], fit, formula, spec.factor, data, spec.headline, inference.nagq
        )
    return tables, note


def with_lr_tests(
    table: pd.DataFrame,
    fit: Any,
    formula: str,
    factor: str,
    data: pd.DataFrame,
    contrasts: Sequence[str],
    nagq: int,
) -> tuple[pd.DataFrame, str]:
    """``table`` (of ``fit``), and a note when it had to change it.

    Under separation (a level where every patient responded, or none) the Wald test cannot
    show anything: the estimate and its SE run off together and p goes to 1. The
    likelihood-ratio test (unadjusted) then replaces it for ``contrasts``."""
    if not fit.notes:
        return table, ""
    table = table.copy()
    for contrast in contrasts:
        row, _ = find_contrast(table, contrast)
        refit, term = releveled_fit(formula, factor, data, contrast, nagq)
        table.loc[table["contrast"] == row["contrast"], "pvalue"] = refit.profile_pvalue(term)
    return table, f"{fit.notes[0].split(', so ')[0]}: likelihood-ratio test instead of Wald"


def logistic_pairwise(fit: Any, factor: str, adjust: str, level: float) -> pd.DataFrame:
    """Pairwise odds ratios "A / B" with z-tests adjusted by ``adjust``; the interval is
    the unadjusted Wald interval of each odds ratio.

    Columns: contrast, odds_ratio, ci_lower, ci_upper, estimate (log odds ratio), se (of
    the log odds ratio), z, pvalue, adjust.
    """
    table = fit.pairwise(factor, adjust=adjust)
    crit = float(special.ndtri(0.5 + level / 2.0))
    log_or, se = table["estimate_link"].to_numpy(), table["se_link"].to_numpy()
    with np.errstate(over="ignore"):  # under separation a limit is infinite, as it should be
        lower, upper = np.exp(log_or - crit * se), np.exp(log_or + crit * se)
    return pd.DataFrame(
        {
            "contrast": table["contrast"],
            "odds_ratio": table["ratio"],
            "ci_lower": lower,
            "ci_upper": upper,
            "estimate": log_or,
            "se": se,
            "z": table["z"],
            "pvalue": table["pvalue"],
            "adjust": adjust,
        }
    )


def releveled_fit(
    formula: str, factor: str, data: pd.DataFrame, contrast: str, nagq: int
) -> tuple[Any, str]:
    """The model refitted with the contrast's second level as the reference, so that its
    log odds ratio is one coefficient (for profile intervals and the bootstrap); returns
    the fit and that coefficient's name."""
    first, second = contrast_levels(contrast)
    values = data[factor].map(lambda v: None if pd.isna(v) else str(v))
    levels = sorted(v for v in values.dropna().unique())
    if first not in levels or second not in levels:
        raise ModelSpecError(f"{factor} has no level {first!r} or {second!r}")
    changed = data.assign(
        **{factor: pd.Categorical(values, categories=[second, *(v for v in levels if v != second)])}
    )
    fit = refit_logistic(formula, changed, nagq)
    return fit, f"{factor}[T.{first}]"


def outcome_threshold(formula: str) -> float | None:
    """The relief threshold of a ``responder_<t>`` outcome, or None for another 0/1 column."""
    outcome = outcome_of(formula)
    if not outcome.startswith("responder_"):
        return None
    try:
        return float(outcome.removeprefix("responder_").replace("_", "."))
    except ValueError:
        return None
