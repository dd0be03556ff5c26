"""Responder proportions pooled over studies by a random-intercept logistic model.

Counting responders over all patients (with a Wilson interval) treats the patients of one
case series as independent, and they are not: the interval is too narrow. The
binomial-normal model (metafor's ``rma.glmm(measure = "PLO")``, which fits it with lme4's
``glmer``) gives each study its own log odds of response, normally distributed around the
pooled log odds. Its back-transformed intercept is the response probability of a typical
study, with a confidence interval, and the prediction interval says where a new study's
proportion would lie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import ResultDisplay
from ipdmeta.data.outcomes import responder_column
from ipdmeta.errors import IpdmetaError

__all__ = ["QUADRATURE_NODES", "PooledResponders", "pool_responders"]

# Studies of 2 to 12 patients with a 0/1 outcome are where the Laplace approximation is
# poorest; rma.glmm fits this model with 7 quadrature nodes by default, and so does this.
QUADRATURE_NODES = 7
COLUMNS = ["threshold", "k", "n", "pooled", "ci_lower", "ci_upper", "pi_lower", "pi_upper",
           "tau2", "note"]  # fmt: skip


@dataclass(frozen=True, repr=False)
class PooledResponders(ResultDisplay):
    """One row per responder threshold: ``threshold, k`` (studies), ``n`` (patients),
    ``pooled`` (probability), its CI and prediction interval, ``tau2`` (between-study
    variance of the log odds) and ``note`` (why a row has no estimate)."""

    table: pd.DataFrame
    level: float

    def _display_title(self) -> str:
        return "Responder proportions pooled over studies (random-intercept logistic model)"

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [(None, self.table)]


def pool_responders(
    patients: pd.DataFrame, thresholds: tuple[float, ...], level: float
) -> PooledResponders:
    """Fit ``responder ~ 1 + (1 | study_id)`` for each threshold."""
    from ipdmeta import mixed

    z = float(special.ndtri(0.5 + level / 2.0))
    rows = []
    for threshold in thresholds:
        column = responder_column(threshold)
        data = patients[[column, "study_id"]].dropna()
        k, n = int(data["study_id"].nunique()), len(data)
        row: dict[str, object] = {"threshold": float(threshold), "k": k, "n": n}
        note = _cannot_pool(data[column], k)
        if note:
            rows.append({**row, "note": note})
            continue
        try:
            fit = mixed.glmm(f"{column} ~ 1 + (1 | study_id)", data, nagq=QUADRATURE_NODES)
        except IpdmetaError as error:
            rows.append({**row, "note": f"the model could not be fitted: {error}"})
            continue
        table = fit.fixed_effects(level)
        logit, se = float(table["estimate"].iloc[0]), float(table["se"].iloc[0])
        tau2 = fit.theta**2
        spread = z * np.sqrt(se * se + tau2)
        rows.append(
            {
                **row,
                "pooled": special.expit(logit),
                "ci_lower": special.expit(logit - z * se),
                "ci_upper": special.expit(logit + z * se),
                "pi_lower": special.expit(logit - spread),
                "pi_upper": special.expit(logit + spread),
                "tau2": tau2,
                "note": "",
            }
        )
    return PooledResponders(pd.DataFrame(rows, columns=COLUMNS), level)


def _cannot_pool(flags: pd.Series, studies: int) -> str:
    if studies < 2:
        return "fewer than 2 studies"
    if not flags.any():
        return "no patient responded"
    if flags.all():
        return "every patient responded"
    return ""
