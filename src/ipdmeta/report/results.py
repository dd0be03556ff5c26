"""``results.json``: every number in the report, for scripts and checks.

Top level: ``descriptive``, ``heterogeneity``, ``models``, ``robustness``, ``confounders``,
``software``, ``warnings`` (the data checks' warnings), ``data_notes`` (how the data were
read), ``excluded_patients`` (with their reasons) and ``overrides`` (review.toml
``[outcome]`` keys set on the command line). Each model has ``name``, ``formula`` (lme4
syntax over the
columns of ``tables/analysis_data.csv``), ``ddf``, ``fixed_effects``, ``anova``,
``emmeans``, ``pairwise`` (every adjustment, with an ``adjust`` column) and its variance
components. A model of a 0/1 outcome has ``family: "binomial"``: log odds with odds ratios,
Wald z and chi-square tests, probabilities for ``emmeans``, odds ratios for ``pairwise``,
and ``nagq`` (quadrature nodes). Missing or undefined numbers are ``null``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ipdmeta._json import clean, records
from ipdmeta.analysis.pipeline import ReviewRun

__all__ = ["responders_table", "results_dict", "results_json"]

FIXED_COLUMNS = ["term", "estimate", "se", "df", "t", "pvalue", "ci_lower", "ci_upper"]
ANOVA_COLUMNS = ["term", "num_df", "den_df", "F", "pvalue", "sum_sq", "mean_sq"]
PAIRWISE_COLUMNS = ["contrast", "estimate", "se", "df", "t", "pvalue", "adjust"]
EMMEANS_COLUMNS = ["level", "emmean", "se", "df", "ci_lower", "ci_upper"]
# A 0/1 outcome's logistic model: log odds (estimate, se) with odds ratios, Wald tests.
BINARY_FIXED_COLUMNS = ["term", "estimate", "se", "z", "pvalue", "ci_lower", "ci_upper",
                        "odds_ratio", "or_ci_lower", "or_ci_upper"]  # fmt: skip
BINARY_ANOVA_COLUMNS = ["term", "chisq", "df", "pvalue"]
BINARY_PAIRWISE_COLUMNS = ["contrast", "odds_ratio", "ci_lower", "ci_upper", "estimate", "se",
                           "z", "pvalue", "adjust"]  # fmt: skip
BINARY_EMMEANS_COLUMNS = ["level", "probability", "se", "ci_lower", "ci_upper", "log_odds",
                          "se_log_odds"]  # fmt: skip


def results_dict(run: ReviewRun) -> dict[str, Any]:
    """Every number of the run as plain JSON-ready data."""
    return clean(
        {
            "descriptive": _descriptive(run),
            "heterogeneity": _heterogeneity(run),
            "models": [_model(run, name) for name in run.models],
            "subgroups": [_subgroups(groups) for groups in run.subgroups.values()],
            "grade": None
            if run.grade is None
            else {"certainty": run.grade.certainty, "domains": records(run.grade.to_frame())},
            "confounders": _confounders(run),
            "robustness": [
                {
                    "model": panel.model,
                    "contrast": panel.contrast,
                    "effect": panel.effect,
                    "alpha": panel.alpha,
                    "verdict": panel.verdict(),
                    "holds_everywhere": panel.holds_everywhere,
                    "rows": records(panel.table),
                    "leave_one_out": records(panel.leave_one_out),
                }
                for panel in run.robustness
            ],
            "software": run.software,
            "warnings": [p.to_dict() for p in run.data.warnings],
            "data_notes": [p.to_dict() for p in run.data.notes],
            "excluded_patients": records(run.data.excluded),
            "overrides": {
                key: {"review_toml": before, "used": after}
                for key, (before, after) in run.overrides.items()
            },
            "seconds": run.seconds,
        }
    )


def results_json(run: ReviewRun) -> str:
    return json.dumps(results_dict(run), indent=2, allow_nan=False) + "\n"


def relief_by_category(patients: pd.DataFrame, column: str) -> pd.DataFrame:
    """n, median, quartiles, range and mean of % relief per category of ``column``."""
    grouped = patients.dropna(subset=["relief_pct"]).groupby(column)["relief_pct"]
    table = grouped.agg(n="count", median="median", min="min", max="max", mean="mean")
    # Quartiles in one grouped call: lambdas would take pandas' slow path, group by group.
    quartiles = grouped.quantile([0.25, 0.75]).unstack()
    table.insert(2, "q1", quartiles[0.25])
    table.insert(3, "q3", quartiles[0.75])
    return table.reset_index().rename(columns={column: "level"})


def _descriptive(run: ReviewRun) -> dict[str, Any]:
    out = run.summary.to_dict()
    out["relief_by_category"] = {
        factor: records(relief_by_category(run.analysis_data, factor))
        for factor in run.spec.factors
    }
    out["pooled_responders"] = records(run.pooled_responders.table)
    return out


def responders_table(run: ReviewRun) -> pd.DataFrame:
    """Each threshold's responders counted over all patients (Wilson interval) beside the
    proportion pooled over studies (random-intercept logistic model)."""
    pooled = run.pooled_responders.table.rename(
        columns={"n": "n_pooled", "pooled": "pooled", "ci_lower": "pooled_ci_lower",
                 "ci_upper": "pooled_ci_upper", "k": "studies"}
    )  # fmt: skip
    merged = run.summary.responders.merge(pooled.drop(columns="n_pooled"), on="threshold")
    return merged.rename(columns={"ci_lower": "wilson_ci_lower", "ci_upper": "wilson_ci_upper"})


def _subgroups(groups: Any) -> dict[str, Any]:
    r = groups.result
    return {
        "factor": groups.factor,
        "note": groups.note,
        "Q_between": None if r is None else r.Q_between,
        "Q_between_df": None if r is None else r.Q_between_df,
        "Q_between_pvalue": None if r is None else r.Q_between_pvalue,
        "groups": [] if r is None else records(r.to_frame()),
        "cells": records(groups.cells),
    }


def _heterogeneity(run: ReviewRun) -> dict[str, Any]:
    two = run.two_stage
    two_stage: dict[str, Any] = {
        "method": run.spec.heterogeneity.method,
        "test": run.spec.heterogeneity.test,
        "min_patients_per_study": run.spec.heterogeneity.min_patients_per_study,
        "k": two.k,
        "note": two.note,
        "studies": records(two.studies),
    }
    if two.result is not None:
        r = two.result
        for name in (
            "estimate",
            "se",
            "statistic",
            "pvalue",
            "ci_lower",
            "ci_upper",
            "pi_lower",
            "pi_upper",
            "tau2",
            "I2",
            "H2",
            "Q",
            "Q_df",
            "Q_pvalue",
        ):
            two_stage[name] = getattr(r, name)
    if two.egger is not None:
        two_stage["egger"] = records(two.egger.to_frame())[0]
    if two.sensitivity is not None:
        two_stage["sensitivity"] = records(two.sensitivity)
    primary = run.primary
    components = primary.fit.variance_components
    return {
        "two_stage": two_stage,
        "one_stage": {
            "model": primary.spec.name,
            "icc": run.icc,
            "is_singular": bool(primary.fit.is_singular),
            "variance_components": records(components),
        },
    }


def _model(run: ReviewRun, name: str) -> dict[str, Any]:
    model = run.models[name]
    fit = model.fit
    pairwise = pd.concat(list(model.pairwise.values()), ignore_index=True)
    if model.binary:
        return {
            "name": name,
            "description": model.spec.description,
            "formula": model.formula,
            "factor": model.spec.factor,
            "family": "binomial",
            "link": "logit",
            "nagq": fit.nagq,
            "nobs": fit.nobs,
            "ngroups": fit.ngroups,
            "is_singular": bool(fit.is_singular),
            "icc_latent": fit.icc,
            "loglik": fit.loglik,
            "aic": fit.aic,
            "bic": fit.bic,
            "notes": list(fit.notes),
            "variance_components": records(fit.variance_components),
            "fixed_effects": records(model.fixed_effects, BINARY_FIXED_COLUMNS),
            "anova": records(model.anova, BINARY_ANOVA_COLUMNS),
            "emmeans": records(model.emmeans, BINARY_EMMEANS_COLUMNS),
            "pairwise": records(pairwise, BINARY_PAIRWISE_COLUMNS),
        }
    return {
        "name": name,
        "description": model.spec.description,
        "formula": model.formula,
        "factor": model.spec.factor,
        "family": "gaussian",
        "ddf": model.ddf,
        "reml": run.spec.inference.reml,
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "is_singular": bool(fit.is_singular),
        "icc": fit.icc,
        "loglik": fit.loglik,
        "aic": fit.aic,
        "bic": fit.bic,
        "variance_components": records(fit.variance_components),
        "fixed_effects": records(model.fixed_effects, FIXED_COLUMNS),
        "anova": records(model.anova, ANOVA_COLUMNS),
        "emmeans": records(model.emmeans, EMMEANS_COLUMNS),
        "pairwise": records(pairwise, PAIRWISE_COLUMNS),
    }


def _confounders(run: ReviewRun) -> dict[str, Any] | None:
    screen = run.confounders
    if screen is None:
        return None
    multivariable = screen.multivariable
    return {
        "model": screen.model,
        "factor": screen.factor,
        "threshold": screen.threshold,
        "screen": records(screen.table),
        "selected": list(screen.selected),
        "multivariable": None
        if multivariable is None
        else {
            "formula": multivariable.formula,
            "nobs": multivariable.fit.nobs,
            "fixed_effects": records(multivariable.fixed_effects, FIXED_COLUMNS),
            "anova": records(multivariable.anova, ANOVA_COLUMNS),
        },
    }
