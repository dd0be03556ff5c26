"""Does a headline finding survive other reasonable analysis choices?

For each headline contrast of each model, the p-value is recomputed under every df method
and multiplicity adjustment the spec lists, over leave-one-study-out refits, without the
studies at high risk of bias or the single-patient reports, and with worsening kept
negative or floored at 0. A 0/1 outcome's logistic model has no df methods or worsening;
it compares the likelihood approximation, the interval method and the responder threshold
instead (:mod:`ipdmeta.analysis.robustness_binary`). Each row gets a plain verdict: the
finding holds when p < alpha and the estimate keeps the sign of the main analysis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.models import FittedModel, contrast_summary
from ipdmeta.analysis.risk_of_bias import HighRisk
from ipdmeta.analysis.spec import InferenceSpec, SensitivitySpec
from ipdmeta.errors import IpdmetaError, ModelSpecError

__all__ = ["ContrastRobustness", "assess_robustness", "pairwise_refit", "with_bootstrap"]

DDF_LABELS = {
    "satterthwaite": "Satterthwaite df",
    "kenward-roger": "Kenward-Roger df",
    "residual": "residual df",
    "asymptotic": "asymptotic (z)",
}


@dataclass(frozen=True, repr=False)
class ContrastRobustness(ResultDisplay):
    """The robustness panel of one headline contrast.

    ``table`` columns: ``group, choice, estimate, pvalue, pvalue_low, pvalue_high, holds,
    note``; the first row is the main analysis. ``effect`` says what ``estimate`` is: a
    ``"difference"`` in the outcome's units, or an ``"odds ratio"`` (a 0/1 outcome).
    """

    model: str
    contrast: str
    alpha: float
    table: pd.DataFrame
    leave_one_out: pd.DataFrame
    effect: str = "difference"

    @property
    def holds_everywhere(self) -> bool:
        return bool(self.table["holds"].all())

    def verdict(self) -> str:
        held = int(self.table["holds"].sum())
        total = len(self.table)
        if held == total:
            return f"holds under all {total} analysis choices"
        if held == 0:
            return f"does not hold under any of the {total} analysis choices"
        failing = ", ".join(self.table.loc[~self.table["holds"], "choice"].head(4))
        return f"holds under {held} of {total} analysis choices; not under {failing}"

    def _display_title(self) -> str:
        return f"Robustness of {self.contrast} ({self.model} model): {self.verdict()}"

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [
            ("Under each analysis choice", self.table),
            ("Leaving out each study in turn", self.leave_one_out),
        ]


def _row(
    group: str,
    choice: str,
    summary: dict[str, float],
    main_sign: float,
    alpha: float,
    note: str = "",
    low: float = np.nan,
    high: float = np.nan,
) -> dict[str, Any]:
    p = summary["pvalue"]
    holds = bool(p < alpha and np.sign(summary["estimate"]) == main_sign)
    if not np.isnan(high):
        holds = bool(high < alpha and holds)
    return {
        "group": group,
        "choice": choice,
        "estimate": summary["estimate"],
        "pvalue": p,
        "pvalue_low": low,
        "pvalue_high": high,
        "holds": holds,
        "note": note,
    }


def assess_robustness(
    model: FittedModel,
    data: pd.DataFrame,
    relief_kept: pd.Series,
    inference: InferenceSpec,
    sensitivity: SensitivitySpec,
    main_worsening: str,
    high_risk: HighRisk | None = None,
    thresholds: Sequence[float] = (),
) -> list[ContrastRobustness]:
    """The robustness panel for each headline contrast of ``model``.

    ``data`` is what the main model saw; ``relief_kept`` is % relief with worsening kept
    negative, aligned with ``data``, from which the floored version is made. A 0/1
    outcome's model is refitted at each responder threshold in ``thresholds``.
    """
    spec = model.spec
    fit = model.fit
    main_adjust = inference.adjust
    alpha = inference.alpha
    refit = pairwise_refit(model, inference)
    loo_by_contrast: dict[str, pd.DataFrame] = {}
    if sensitivity.leave_one_study_out:
        loo_by_contrast = _leave_one_study_out(refit, data, spec.headline)
    panels = []
    for contrast in spec.headline:
        main = contrast_summary(model.pairwise[main_adjust], contrast)
        sign = float(np.sign(main["estimate"])) or 1.0
        if model.binary:
            from ipdmeta.analysis.robustness_binary import main_label

            label = main_label(fit.nagq, main_adjust, model.test_note)
        else:
            label = f"{DDF_LABELS[inference.ddf]}, {main_adjust} (main analysis)"
        rows = [_row("main analysis", label, main, sign, alpha, model.test_note)]
        if not model.binary:
            for ddf in sensitivity.ddf:
                if ddf == inference.ddf:
                    continue
                table = fit.pairwise(spec.factor, adjust=main_adjust, ddf=ddf)
                rows.append(
                    _row(
                        "df method", DDF_LABELS[ddf], contrast_summary(table, contrast), sign,
                        alpha,
                    )
                )  # fmt: skip
        for adjust in sensitivity.adjust:
            if adjust == main_adjust:
                continue
            table = model.pairwise.get(adjust)
            if table is None:
                table = _pairwise(model, adjust, inference)
            rows.append(
                _row(
                    "multiplicity",
                    f"{adjust} adjustment",
                    contrast_summary(table, contrast),
                    sign,
                    alpha,
                )
            )
        if model.binary:
            from ipdmeta.analysis.robustness_binary import binary_rows

            for group, choice, summary, note in binary_rows(
                model, data, contrast, inference, sensitivity, thresholds
            ):
                rows.append(_row(group, choice, summary, sign, alpha, note))

        loo = loo_by_contrast.get(contrast, pd.DataFrame())
        if sensitivity.leave_one_study_out:
            rows += _leave_one_out_row(loo, sign, alpha)

        if high_risk is not None and high_risk.studies:
            rows.append(
                _without_studies(
                    refit, data, contrast, alpha, high_risk.studies, "risk of bias",
                    f"without studies at high risk of bias ({len(high_risk.studies)})",
                    f"left out: {', '.join(high_risk.studies)} ({high_risk.rule})", sign,
                )
            )  # fmt: skip
        sizes = data.groupby("study_id")["study_id"].transform("size")
        single = tuple(str(s) for s in pd.unique(data.loc[sizes == 1, "study_id"]))
        if single:
            rows.append(
                _without_studies(
                    refit, data, contrast, alpha, single, "case reports",
                    f"without single-patient reports ({len(single)})",
                    f"left out: {', '.join(single)}", sign,
                )
            )  # fmt: skip

        if not model.binary:
            rows += _worsening_rows(
                model, data, relief_kept, contrast, inference, sensitivity, main_worsening, sign
            )
        table = pd.DataFrame(rows)
        if model.binary:
            # Shown as odds ratios; the verdicts above were made on the log scale.
            with np.errstate(over="ignore"):
                table["estimate"] = np.exp(table["estimate"].to_numpy(float))
                if len(loo):
                    loo = loo.assign(estimate=np.exp(loo["estimate"].to_numpy(float)))
        effect = "odds ratio" if model.binary else "difference"
        panels.append(ContrastRobustness(spec.name, contrast, alpha, table, loo, effect))
    return panels


def _leave_one_out_row(loo: pd.DataFrame, sign: float, alpha: float) -> list[dict[str, Any]]:
    """The row of the refit whose p is largest, with the range of p over the refits."""
    usable = loo.dropna(subset=["pvalue"])
    if usable.empty:
        return []
    worst = usable.loc[usable["pvalue"].idxmax()]
    note = f"largest p without study {worst['left_out']}"
    if len(usable) < len(loo):
        note += f"; {len(loo) - len(usable)} refits could not estimate the contrast"
    summary = {"estimate": float(worst["estimate"]), "pvalue": float(worst["pvalue"])}
    low, high = float(usable["pvalue"].min()), float(usable["pvalue"].max())
    choice = f"leave one study out ({len(loo)} refits)"
    return [_row("leave one study out", choice, summary, sign, alpha, note, low, high)]


def leave_one_study_out(
    model: FittedModel, data: pd.DataFrame, inference: InferenceSpec, studies: Sequence[Any]
) -> dict[str, pd.DataFrame]:
    """The refits of ``model`` without each of ``studies`` in turn, by headline contrast:
    a part of the leave-one-study-out refits (the parts can run side by side), which
    :func:`with_leave_one_out` adds to a panel made without them."""
    return _leave_one_study_out(pairwise_refit(model, inference), data, model.spec.headline,
                                studies)  # fmt: skip


def with_leave_one_out(panel: ContrastRobustness, loo: pd.DataFrame) -> ContrastRobustness:
    """A panel made with ``leave_one_study_out = False`` with the refits' row added where
    :func:`assess_robustness` puts it: before the rows that leave out groups of studies."""
    table = panel.table
    ratio = panel.effect == "odds ratio"
    main = float(table["estimate"].iloc[0])
    sign = float(np.sign(np.log(main) if ratio else main)) or 1.0
    rows = _leave_one_out_row(loo, sign, panel.alpha)
    if ratio:
        with np.errstate(over="ignore"):
            for row in rows:
                row["estimate"] = float(np.exp(row["estimate"]))
            loo = loo.assign(estimate=np.exp(loo["estimate"].to_numpy(float)))
    groups = list(table["group"])
    at = next((i for i, g in enumerate(groups) if g in ("risk of bias", "case reports")),
              len(groups))  # fmt: skip
    added = pd.concat([table.iloc[:at], pd.DataFrame(rows), table.iloc[at:]], ignore_index=True)
    return dataclasses.replace(panel, table=added, leave_one_out=loo)


def with_bootstrap(
    panel: ContrastRobustness, replicates: np.ndarray, level: float
) -> ContrastRobustness:
    """A logistic model's panel with its bootstrap row added after the interval rows (the
    replicates were drawn side by side with the panel's other refits)."""
    from ipdmeta.analysis.robustness_binary import bootstrap_row

    table = panel.table
    log_main = float(np.log(table["estimate"].iloc[0]))
    sign = float(np.sign(log_main)) or 1.0
    group, choice, summary, note = bootstrap_row(log_main, replicates, level)
    row = _row(group, choice, summary, sign, panel.alpha, note)
    row["estimate"] = float(np.exp(row["estimate"]))
    groups = list(table["group"])
    at = max((i + 1 for i, g in enumerate(groups) if g in ("interval", "approximation")),
             default=len(groups))  # fmt: skip
    added = pd.concat([table.iloc[:at], pd.DataFrame([row]), table.iloc[at:]], ignore_index=True)
    return dataclasses.replace(panel, table=added)


def _worsening_rows(
    model: FittedModel,
    data: pd.DataFrame,
    relief_kept: pd.Series,
    contrast: str,
    inference: InferenceSpec,
    sensitivity: SensitivitySpec,
    main_worsening: str,
    sign: float,
) -> list[dict[str, Any]]:
    from ipdmeta import mixed

    spec = model.spec
    outcome = model.outcome
    rows = []
    for worsening in sensitivity.worsening:
        if worsening == main_worsening:
            continue
        values = relief_kept.clip(lower=0) if worsening == "floor" else relief_kept
        changed = data.assign(**{outcome: values.to_numpy()})
        refit = mixed.lmm(spec.formula, changed, reml=inference.reml)
        table = refit.pairwise(spec.factor, adjust=inference.adjust, ddf=inference.ddf)
        n_changed = int((values.to_numpy() != data[outcome].to_numpy()).sum())
        rows.append(
            _row(
                "worsening",
                f"worsening {'floored at 0' if worsening == 'floor' else 'kept negative'}",
                contrast_summary(table, contrast),
                sign,
                inference.alpha,
                f"{n_changed} patients' relief changes",
            )
        )
    return rows


Refit = Callable[[pd.DataFrame], pd.DataFrame]


def _pairwise(model: FittedModel, adjust: str, inference: InferenceSpec) -> pd.DataFrame:
    if model.binary:
        from ipdmeta.analysis.binary import logistic_pairwise

        return logistic_pairwise(model.fit, model.spec.factor, adjust, inference.level)
    return model.fit.pairwise(model.spec.factor, adjust=adjust, ddf=inference.ddf)


def pairwise_refit(model: FittedModel, inference: InferenceSpec) -> Refit:
    """Data -> the main adjustment's pairwise table of the model refitted to them."""
    from ipdmeta import mixed

    factor, formula = model.spec.factor, model.formula
    if model.binary:
        from ipdmeta.analysis.robustness_binary import pairwise_with_lr_tests

        def binary_refit(data: pd.DataFrame) -> pd.DataFrame:
            table, note = pairwise_with_lr_tests(
                formula, factor, data, model.spec.headline, model.fit.nagq, inference, model.fit
            )
            return table.assign(note=note)

        return binary_refit
    return lambda data: mixed.lmm(formula, data, reml=inference.reml).pairwise(
        factor, adjust=inference.adjust, ddf=inference.ddf
    )


def _without_studies(
    refit: Refit,
    data: pd.DataFrame,
    contrast: str,
    alpha: float,
    studies: Sequence[str],
    group: str,
    choice: str,
    note: str,
    sign: float,
) -> dict[str, Any]:
    """The contrast refitted without ``studies``."""
    kept = data[~data["study_id"].astype(str).isin(studies)]
    try:
        table = refit(kept)
        summary = contrast_summary(table, contrast)
        if "note" in table.columns and table["note"].iloc[0]:
            note += f"; {table['note'].iloc[0]}"
    except IpdmetaError as exc:
        # Without those studies a level may be gone: the contrast then has no estimate.
        summary = {"estimate": np.nan, "pvalue": np.nan}
        note += f"; cannot be estimated: {str(exc).splitlines()[0]}"
    return _row(group, choice, summary, sign, alpha, note)


def _leave_one_study_out(
    refit: Refit, data: pd.DataFrame, contrasts: Sequence[str], studies: Sequence[Any] | None = None
) -> dict[str, pd.DataFrame]:
    """One refit per left-out study (every study, or ``studies``), shared by all the
    model's headline contrasts."""
    rows: dict[str, list[dict[str, Any]]] = {contrast: [] for contrast in contrasts}
    for study in pd.unique(data["study_id"]) if studies is None else studies:
        subset = data[data["study_id"] != study]
        try:
            table = refit(subset)
        except IpdmetaError as exc:
            # Leaving out the only study of a level (or the last but one study) is a
            # defined outcome of this analysis, not a failure of the run.
            table, failure = None, str(exc).splitlines()[0]
        for contrast in contrasts:
            row = {"left_out": study, "estimate": np.nan, "pvalue": np.nan, "note": ""}
            try:
                if table is None:
                    raise ModelSpecError(failure)
                summary = contrast_summary(table, contrast)
                row.update(estimate=summary["estimate"], pvalue=summary["pvalue"])
                if "note" in table.columns:  # how a logistic refit was tested
                    row["note"] = str(table["note"].iloc[0])
            except IpdmetaError as exc:
                row["note"] = str(exc).splitlines()[0]
            rows[contrast].append(row)
    columns = ["left_out", "estimate", "pvalue", "note"]
    return {contrast: pd.DataFrame(found, columns=columns) for contrast, found in rows.items()}
