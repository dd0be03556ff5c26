"""The generated results paragraph: the review's numbers in the words a manuscript uses."""

from __future__ import annotations

import math

import pandas as pd
from scipy import special

from ipdmeta._display import odds_ratio_text
from ipdmeta.analysis.binary import outcome_threshold
from ipdmeta.analysis.models import contrast_levels, find_contrast
from ipdmeta.analysis.pipeline import ReviewRun
from ipdmeta.report.html import p_equals
from ipdmeta.report.methods import column_label

__all__ = ["results_paragraph"]


def results_paragraph(run: ReviewRun) -> str:
    """Studies and patients, relief and responders, heterogeneity, each model's factor
    test and headline contrasts with how robust they are."""
    summary = run.summary
    labels = run.spec.labels
    per_study = summary.patients_per_study
    single = int((per_study == 1).sum())
    r = summary.relief
    sentences = [
        f"The review included {summary.n_studies} studies with {summary.n_patients} patients "
        f"(median {per_study.median():g} per study"
        + (f"; {single} single-patient report{'s' if single != 1 else ''}" if single else "")
        + ")."
    ]
    excluded = len(run.data.excluded)
    if excluded:
        sentences.append(
            f"{excluded} further extracted patient{'s were' if excluded != 1 else ' was'} "
            "excluded from the analysis."
        )
    relief = (
        f"Median pain relief was {r['median']:.1f} % (interquartile range {r['q1']:.1f} to "
        f"{r['q3']:.1f} %)"
    )
    responders = summary.responders
    if len(responders):
        top = responders.iloc[-1]
        relief += (
            f"; {100 * top['proportion']:.1f} % of patients (95% CI {100 * top['ci_lower']:.1f} "
            f"to {100 * top['ci_upper']:.1f} %) had at least {top['threshold']:g} % relief"
        )
        pooled = run.pooled_responders.table
        row = pooled[pooled["threshold"] == top["threshold"]]
        if len(row) and not row["note"].iloc[0]:
            r0 = row.iloc[0]
            relief += (
                f", and pooled over studies a typical study's proportion was "
                f"{100 * r0['pooled']:.1f} % (95% CI {100 * r0['ci_lower']:.1f} to "
                f"{100 * r0['ci_upper']:.1f} %; 95% prediction interval "
                f"{100 * r0['pi_lower']:.1f} to {100 * r0['pi_upper']:.1f} %)"
            )
    sentences.append(relief + ".")
    two = run.two_stage.result
    if two is not None:
        sentences.append(
            f"Pooled over {two.k} studies, mean relief was {two.estimate:.1f} % (95% CI "
            f"{two.ci_lower:.1f} to {two.ci_upper:.1f}; 95% prediction interval "
            f"{two.pi_lower:.1f} to {two.pi_upper:.1f}), with I² = {two.I2:.1f} %; in the "
            f"one-stage model {100 * run.icc:.0f} % of the variance in relief lay between "
            "studies."
        )
    panels = {(p.model, p.contrast): p for p in run.robustness}
    for name, model in run.models.items():
        factor = model.spec.factor
        row = model.anova[model.anova["term"] == factor]
        if model.binary:
            sentences.append(_binary_sentence(run, name, row))
            for contrast in model.spec.headline:
                sentences.append(
                    _odds_ratio_sentence(run, name, contrast, panels.get((name, contrast)))
                )
            continue
        if len(row):
            test = row.iloc[0]
            sentences.append(
                f"In the {name} analysis, relief differed by {column_label(factor, labels)} "
                f"(F({test['num_df']:g}, {test['den_df']:.1f}) = {test['F']:.2f}, "
                f"{p_equals(test['pvalue'])})."
                if test["pvalue"] < run.spec.inference.alpha
                else f"In the {name} analysis, relief did not differ clearly by "
                f"{column_label(factor, labels)} (F({test['num_df']:g}, {test['den_df']:.1f}) "
                f"= {test['F']:.2f}, {p_equals(test['pvalue'])})."
            )
        for contrast in model.spec.headline:
            sentences.append(_contrast_sentence(run, name, contrast, panels.get((name, contrast))))
    return " ".join(s for s in sentences if s)


def _contrast_sentence(run: ReviewRun, model_name: str, contrast: str, panel: object) -> str:
    model = run.models[model_name]
    table = model.pairwise[next(iter(model.pairwise))]  # the main adjustment's table
    row, sign = find_contrast(table, contrast)
    estimate = sign * float(row["estimate"])
    level = run.spec.inference.level
    half = float(special.stdtrit(row["df"], 0.5 + level / 2)) * float(row["se"])
    first, second = (part.strip().replace("_", " ") for part in contrast.split(" - ", 1))
    more = "more" if estimate >= 0 else "less"
    text = (
        f"Patients with {first} had {abs(estimate):.1f} percentage points {more} relief "
        f"than those with {second} ({100 * level:g}% CI {estimate - half:.1f} to "
        f"{estimate + half:.1f}; {p_equals(row['pvalue'])})"
    )
    verdict = getattr(panel, "verdict", None)
    return text + (f", a finding that {verdict()}." if callable(verdict) else ".")


def _binary_sentence(run: ReviewRun, model_name: str, test: pd.DataFrame) -> str:
    """The probability of responding by factor level, and the Wald test of the factor."""
    model = run.models[model_name]
    labels = run.spec.labels
    factor = column_label(model.spec.factor, labels)
    what = _responding(model.outcome)
    emmeans = model.emmeans
    spread = "; ".join(f"{row.level} {100 * row.probability:.0f} %" for row in emmeans.itertuples())
    text = (
        f"In the {model_name} analysis (logistic mixed model), the probability of {what} "
        f"for a patient of a typical study was {spread}"
    )
    if len(test):
        t = test.iloc[0]
        differ = "differed" if t["pvalue"] < run.spec.inference.alpha else "did not differ clearly"
        text += (
            f"; it {differ} by {factor} (Wald chi-square({t['df']:g}) = {t['chisq']:.2f}, "
            f"{p_equals(t['pvalue'])})"
        )
    return text + "."


def _odds_ratio_sentence(run: ReviewRun, model_name: str, contrast: str, panel: object) -> str:
    model = run.models[model_name]
    table = model.pairwise[next(iter(model.pairwise))]
    row, sign = find_contrast(table, contrast)
    level = run.spec.inference.level
    log_or = sign * float(row["estimate"])
    half = float(special.ndtri(0.5 + level / 2)) * float(row["se"])
    first, second = (part.replace("_", " ") for part in contrast_levels(contrast))
    text = (
        f"The odds of {_responding(model.outcome)} were {_ratio(log_or)} times as "
        f"high with {first} as with {second} (odds ratio {_ratio(log_or)}, "
        f"{100 * level:g}% CI {_ratio(log_or - half)} to "
        f"{_ratio(log_or + half)}; {p_equals(row['pvalue'])})"
    )
    verdict = getattr(panel, "verdict", None)
    return text + (f", a finding that {verdict()}." if callable(verdict) else ".")


def _responding(outcome: str) -> str:
    threshold = outcome_threshold(f"{outcome} ~ 1")
    if threshold is None:
        return f"{outcome.replace('_', ' ')}"
    return f"responding (at least {threshold:g} % relief)"


def _ratio(log: float) -> str:
    """An odds ratio, from its log, as the sentence shows it. Compared on the log scale:
    the log odds ratio of a separated factor is far past what exp() can return (it
    overflowed, and numpy warned the user)."""
    return odds_ratio_text(math.exp(log) if log <= _LOG_10000 else math.inf)


_LOG_10000 = math.log(1e4)
