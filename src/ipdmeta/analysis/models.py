"""Fitting the review's mixed models and collecting the tables the report shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.spec import InferenceSpec, ModelSpec
from ipdmeta.errors import ModelSpecError

__all__ = ["FittedModel", "add_terms", "find_contrast", "fit_model", "model_variables"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NOT_VARIABLES = {"C", "Treatment", "Sum", "1", "0"}


@dataclass(frozen=True, repr=False)
class FittedModel(ResultDisplay):
    """One model of the review: the spec, the fit and the tables derived from it.

    ``pairwise`` maps each adjustment (the main one first) to its contrast table.
    """

    spec: ModelSpec
    formula: str
    fit: Any  # ipdmeta.mixed.LmmResult
    ddf: str
    fixed_effects: pd.DataFrame
    anova: pd.DataFrame
    emmeans: pd.DataFrame
    pairwise: dict[str, pd.DataFrame]

    def _display_title(self) -> str:
        return f"{self.spec.name} model: {self.formula} ({self.ddf} df)"

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        tables: list[tuple[str | None, pd.DataFrame]] = [
            ("Fixed effects", self.fixed_effects),
            ("Type III tests", self.anova),
            ("Estimated marginal means", self.emmeans),
        ]
        for adjust, frame in self.pairwise.items():
            tables.append((f"Pairwise contrasts ({adjust})", frame))
        return tables


def model_variables(formula: str) -> list[str]:
    """The data columns a formula uses (identifiers that are not function names)."""
    text = re.sub(r"Treatment\([^)]*\)", "", formula)
    text = re.sub(r"(['\"]).*?\1", "", text)
    names = [n for n in _IDENTIFIER.findall(text) if n not in _NOT_VARIABLES]
    return list(dict.fromkeys(names))


def add_terms(formula: str, terms: list[str]) -> str:
    """The formula with fixed terms added before its random part
    (``y ~ x + (1 | s)`` + age -> ``y ~ x + age + (1 | s)``)."""
    if not terms:
        return formula
    added = " + ".join(terms)
    random_part = re.search(r"\+\s*\((?=[^()]*\|)", formula)
    if random_part is None:
        return f"{formula} + {added}"
    head = formula[: random_part.start()].rstrip()
    return f"{head} + {added} {formula[random_part.start() :]}"


def fit_model(
    spec: ModelSpec,
    data: pd.DataFrame,
    inference: InferenceSpec,
    *,
    formula: str | None = None,
    adjustments: tuple[str, ...] | None = None,
) -> FittedModel:
    """Fit ``spec`` (or ``formula`` in its place) and tabulate its inference."""
    from ipdmeta import mixed

    formula = formula or spec.formula
    fit = mixed.lmm(formula, data, reml=inference.reml)
    ddf = inference.ddf
    adjusts = adjustments or tuple(dict.fromkeys((inference.adjust, *inference.also_adjust)))
    pairwise = {
        adjust: fit.pairwise(spec.factor, adjust=adjust, ddf=ddf).assign(adjust=adjust)
        for adjust in adjusts
    }
    return FittedModel(
        spec=spec,
        formula=formula,
        fit=fit,
        ddf=ddf,
        fixed_effects=fit.fixed_effects(ddf=ddf, level=inference.level),
        anova=fit.anova(type=3, ddf=ddf),
        emmeans=fit.emmeans(spec.factor, ddf=ddf, level=inference.level),
        pairwise=pairwise,
    )


def find_contrast(table: pd.DataFrame, contrast: str) -> tuple[pd.Series, float]:
    """The row of ``contrast`` ("A - B") in a pairwise table and the sign to apply.

    emmeans orders each pair by level order; "TN - DPS" may be listed as "DPS - TN", whose
    estimate and t have the opposite sign (p is the same).
    """
    parts = [p.strip() for p in contrast.split(" - ")]
    if len(parts) != 2:
        raise ModelSpecError(f"a headline contrast looks like 'A - B', got {contrast!r}")
    a, b = parts
    for label, sign in ((f"{a} - {b}", 1.0), (f"{b} - {a}", -1.0)):
        hit = table[table["contrast"] == label]
        if not hit.empty:
            return hit.iloc[0], sign
    levels = sorted({x for c in table["contrast"] for x in c.split(" - ")})
    raise ModelSpecError(
        f"the headline contrast {contrast!r} compares levels the model does not have; "
        f"levels: {', '.join(levels)}"
    )


def contrast_summary(table: pd.DataFrame, contrast: str) -> dict[str, float]:
    """Estimate, se, df, t and p of ``contrast`` oriented as written."""
    row, sign = find_contrast(table, contrast)
    return {
        "estimate": sign * float(row["estimate"]),
        "se": float(row["se"]),
        "df": float(row["df"]),
        "t": sign * float(row["t"]),
        "pvalue": float(row["pvalue"]),
    }
