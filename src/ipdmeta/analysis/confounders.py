"""Confounder screening: each candidate added to a model on its own, then together.

For each candidate the model is refitted on the patients who have it, with and without
the candidate, so that the change in the factor's effects compares like with like.
Candidates whose test has p below ``multivariable_p`` enter one multivariable model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.models import FittedModel, add_terms, fit_model, model_variables
from ipdmeta.analysis.spec import ConfounderSpec, InferenceSpec
from ipdmeta.errors import IpdmetaError

__all__ = ["ConfounderScreen", "screen_confounders"]


@dataclass(frozen=True, repr=False)
class ConfounderScreen(ResultDisplay):
    """One row per candidate in ``table``: ``candidate, n, num_df, den_df, F, pvalue,
    estimate, ci_lower, ci_upper, max_change, max_relative_change, note`` (estimate and CI
    for a numeric candidate; ``max_change`` is the largest change, in outcome units, of the
    factor's fixed effects when the candidate is added). ``multivariable`` is the model
    with every candidate below ``threshold``, or None when there is none."""

    model: str
    factor: str
    threshold: float
    table: pd.DataFrame
    multivariable: FittedModel | None
    selected: tuple[str, ...]

    def _display_title(self) -> str:
        chosen = ", ".join(self.selected) or "none"
        return (
            f"Confounder screen of the {self.model} model ({self.factor}); entered the "
            f"multivariable model at p < {self.threshold:g}: {chosen}"
        )

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [(None, self.table)]


def screen_confounders(
    base: FittedModel, data: pd.DataFrame, spec: ConfounderSpec, inference: InferenceSpec
) -> ConfounderScreen:
    rows = [_screen_one(base, data, candidate, inference) for candidate in spec.candidates]
    table = pd.DataFrame(
        rows,
        columns=[
            "candidate",
            "n",
            "num_df",
            "den_df",
            "F",
            "pvalue",
            "estimate",
            "ci_lower",
            "ci_upper",
            "max_change",
            "max_relative_change",
            "note",
        ],
    )
    selected = tuple(table.loc[table["pvalue"] < spec.multivariable_p, "candidate"])
    multivariable = None
    if selected:
        used = [*model_variables(base.formula), *selected]
        complete = data.dropna(subset=list(dict.fromkeys(used)))
        formula = add_terms(base.formula, list(selected))
        try:
            multivariable = fit_model(base.spec, complete, inference, formula=formula)
        except IpdmetaError:
            multivariable = None
    return ConfounderScreen(
        base.spec.name, base.spec.factor, spec.multivariable_p, table, multivariable, selected
    )


def _screen_one(
    base: FittedModel, data: pd.DataFrame, candidate: str, inference: InferenceSpec
) -> dict[str, Any]:
    empty: dict[str, Any] = {"candidate": candidate, "n": 0, "note": ""}
    if candidate not in data.columns:
        return {**empty, "note": "not in the data"}
    subset = data.dropna(subset=[*model_variables(base.formula), candidate])
    if subset[candidate].nunique() < 2:
        return {**empty, "n": len(subset), "note": "fewer than two distinct values"}
    try:
        without = fit_model(base.spec, subset, inference, adjustments=(inference.adjust,))
        with_it = fit_model(
            base.spec,
            subset,
            inference,
            formula=add_terms(base.formula, [candidate]),
            adjustments=(inference.adjust,),
        )
    except IpdmetaError as exc:
        return {**empty, "n": len(subset), "note": str(exc).splitlines()[0]}
    test = with_it.anova.set_index("term")
    row: dict[str, Any] = {**empty, "n": len(subset)}
    if candidate in test.index:
        line = test.loc[candidate]
        row.update(num_df=line["num_df"], den_df=line["den_df"], F=line["F"], pvalue=line["pvalue"])
    fixed = with_it.fixed_effects.set_index("term")
    if candidate in fixed.index:  # a numeric candidate has one coefficient under its name
        line = fixed.loc[candidate]
        row.update(estimate=line["estimate"], ci_lower=line["ci_lower"], ci_upper=line["ci_upper"])
    factor_terms = [t for t in without.fixed_effects["term"] if t.startswith(base.spec.factor)]
    before = without.fixed_effects.set_index("term").loc[factor_terms, "estimate"]
    after = fixed.loc[factor_terms, "estimate"]
    change = (after - before).abs()
    if not change.empty:
        worst = change.idxmax()
        row["max_change"] = float(change.max())
        row["max_relative_change"] = float(
            change[worst] / abs(before[worst]) if before[worst] != 0 else np.inf
        )
    return row
