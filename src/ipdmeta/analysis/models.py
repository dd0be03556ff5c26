"""Fitting the review's mixed models and collecting the tables the report shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.spec import InferenceSpec, ModelSpec
from ipdmeta.errors import ModelSpecError

__all__ = [
    "FittedModel",
    "add_terms",
    "contrast_levels",
    "find_contrast",
    "fit_model",
    "is_binary",
    "model_variables",
    "outcome_of",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# Names in a formula that are not columns: contrasts and the functions mixed.lmm allows.
_NOT_VARIABLES = {"C", "Treatment", "Sum", "1", "0", "log", "log2", "log10", "exp", "sqrt",
                  "abs", "I", "poly", "scale", "center", "offset"}  # fmt: skip


@dataclass(frozen=True, repr=False)
class FittedModel(ResultDisplay):
    """One model of the review: the spec, the fit and the tables derived from it.

    ``pairwise`` maps each adjustment (the main one first) to its contrast table.
    ``family`` is ``"gaussian"`` for a linear mixed model (differences in the outcome's
    units, t and F tests) or ``"binomial"`` for a 0/1 outcome's logistic mixed model
    (odds ratios, z and chi-square tests; see :mod:`ipdmeta.analysis.binary`).
    ``test_note``: how the main table's headline contrasts were tested, where not as
    usual (a logistic model under separation: by likelihood ratio).
    """

    spec: ModelSpec
    formula: str
    fit: Any  # ipdmeta.mixed.LmmResult, or GlmmResult for a 0/1 outcome
    ddf: str
    fixed_effects: pd.DataFrame
    anova: pd.DataFrame
    emmeans: pd.DataFrame
    pairwise: dict[str, pd.DataFrame]
    family: str = "gaussian"
    test_note: str = ""

    @property
    def binary(self) -> bool:
        return self.family == "binomial"

    @property
    def outcome(self) -> str:
        return outcome_of(self.formula)

    def _display_title(self) -> str:
        if self.binary:
            return f"{self.spec.name} model: {self.formula} (logistic, {self.fit.nagq} nodes)"
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


def outcome_of(formula: str) -> str:
    return formula.split("~")[0].strip()


def is_binary(values: pd.Series) -> bool:
    """A 0/1 outcome: True/False flags, or numbers that are all 0 or 1."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return True
    if not pd.api.types.is_numeric_dtype(values) or present.empty:
        return False
    return bool(present.isin([0, 1]).all())


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


def check_outcome(
    spec: ModelSpec, data: pd.DataFrame, *, formula: str | None = None, where: str | None = None
) -> None:
    """Refuse a model whose outcome column holds text, naming the column, the values and
    (when the data carry their spreadsheet rows) the rows; ``where`` is the file (and
    sheet) the patients were read from."""
    outcome = outcome_of(formula or spec.formula)
    if outcome not in data.columns:
        return
    column = data[outcome]
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return
    text = column.dropna()
    text = text[pd.to_numeric(text, errors="coerce").isna()]
    seen = ", ".join(repr(v) for v in pd.unique(text)[:4])
    place = f"{where}, " if where else ""
    rows = ""
    if "source_row" in data.columns and len(text):
        numbers = [int(r) for r in data.loc[text.index, "source_row"]]
        more = f" and {len(numbers) - 6} more" if len(numbers) > 6 else ""
        rows = f" in rows {', '.join(map(str, numbers[:6]))}{more}"
    raise ModelSpecError(
        f"model {spec.name!r}: {place}column {outcome!r}, the model's outcome, holds text "
        f"({seen}){rows}. A model's outcome is a number (such as relief_pct) or 0/1 "
        "(True/False) for a logistic model; ipdmeta derives responder_30, responder_40, "
        "... from relief itself"
    )


def fit_model(
    spec: ModelSpec,
    data: pd.DataFrame,
    inference: InferenceSpec,
    *,
    formula: str | None = None,
    adjustments: tuple[str, ...] | None = None,
) -> FittedModel:
    """Fit ``spec`` (or ``formula`` in its place) and tabulate its inference: a linear
    mixed model, or a logistic one when the outcome is 0/1."""
    from ipdmeta import mixed

    formula = formula or spec.formula
    adjusts = adjustments or tuple(dict.fromkeys((inference.adjust, *inference.also_adjust)))
    outcome = outcome_of(formula)
    check_outcome(spec, data, formula=formula)
    if outcome in data.columns and is_binary(data[outcome]):
        from ipdmeta.analysis.binary import fit_logistic

        return fit_logistic(spec, data, inference, formula, adjusts)
    fit = mixed.lmm(formula, data, reml=inference.reml)
    ddf = inference.ddf
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


def contrast_levels(contrast: str) -> tuple[str, str]:
    """The two levels of "A - B" (a difference) or "A / B" (an odds ratio)."""
    parts = [p.strip() for p in re.split(r" [-/] ", contrast)]
    if len(parts) != 2:
        raise ModelSpecError(
            f"a headline contrast looks like 'A - B' (or 'A / B' for an odds ratio), got "
            f"{contrast!r}"
        )
    return parts[0], parts[1]


def find_contrast(table: pd.DataFrame, contrast: str) -> tuple[pd.Series, float]:
    """The row of ``contrast`` ("A - B") in a pairwise table and the sign to apply.

    emmeans orders each pair by level order; "TN - DPS" may be listed as "DPS - TN", whose
    estimate and t have the opposite sign (p is the same). A logistic model's table names
    pairs "A / B" and its ``estimate`` is the log odds ratio, so the same sign applies.
    """
    a, b = contrast_levels(contrast)
    # Plain strings: pandas' string methods cost more than the rest of a refit's summary.
    labels = [str(c).replace(" / ", " - ") for c in table["contrast"].tolist()]
    for label, sign in ((f"{a} - {b}", 1.0), (f"{b} - {a}", -1.0)):
        if label in labels:
            return table.iloc[labels.index(label)], sign
    levels = sorted({x for c in table["contrast"] for x in re.split(r" [-/] ", c)})
    raise ModelSpecError(
        f"the headline contrast {contrast!r} compares levels the model does not have; "
        f"levels: {', '.join(levels)}"
    )


def contrast_summary(table: pd.DataFrame, contrast: str) -> dict[str, float]:
    """Estimate, se, df, t and p of ``contrast`` oriented as written (for a logistic model:
    the log odds ratio, its se, infinite df and z)."""
    row, sign = find_contrast(table, contrast)
    statistic = row["t"] if "t" in row.index else row["z"]
    return {
        "estimate": sign * float(row["estimate"]),
        "se": float(row["se"]),
        "df": float(row["df"]) if "df" in row.index else float("inf"),
        "t": sign * float(statistic),
        "pvalue": float(row["pvalue"]),
    }
