"""The generated methods paragraph a reviewer can paste into a manuscript."""

from __future__ import annotations

from ipdmeta.analysis.pipeline import ReviewRun

__all__ = ["methods_paragraph"]

TAU2_NAMES = {
    "FE": "a common-effect model",
    "DL": "the DerSimonian-Laird estimator",
    "HE": "the Hedges estimator",
    "HS": "the Hunter-Schmidt estimator",
    "SJ": "the Sidik-Jonkman estimator",
    "ML": "maximum likelihood",
    "REML": "restricted maximum likelihood (REML)",
    "EB": "the empirical Bayes estimator",
    "PM": "the Paule-Mandel estimator",
}
DDF_NAMES = {
    "satterthwaite": "Satterthwaite's approximation",
    "kenward-roger": "the Kenward-Roger approximation",
    "residual": "residual degrees of freedom",
    "asymptotic": "the normal approximation (z-tests)",
}
ADJUST_NAMES = {
    "none": "without adjustment for multiplicity",
    "holm": "Holm's method",
    "bonferroni": "the Bonferroni method",
    "tukey": "Tukey's method",
    "fdr": "the Benjamini-Hochberg false discovery rate",
}


def methods_paragraph(run: ReviewRun) -> str:
    spec = run.spec
    inference = spec.inference
    outcome = spec.outcome
    worsening = (
        "negative values (worse pain) were kept"
        if outcome.worsening == "keep"
        else "negative values (worse pain) were set to 0"
    )
    thresholds = ", ".join(f"{t:g}" for t in outcome.responder_thresholds)
    models = "; ".join(f"{m.name}: {m.formula}" for m in spec.models)
    references = "".join(
        f" The reference category of {column} was {level}."
        for column, level in spec.reference.items()
    )
    also = [ADJUST_NAMES[a] for a in inference.also_adjust if a != inference.adjust]
    adjust = ADJUST_NAMES[inference.adjust] + (
        f" (results adjusted by {' and '.join(also)} are shown beside them)" if also else ""
    )
    heterogeneity = spec.heterogeneity
    two_stage = (
        f"Between-study heterogeneity was assessed in two ways. In a two-stage analysis, "
        f"the mean percentage relief of each study with at least "
        f"{heterogeneity.min_patients_per_study} patients and its sampling variance "
        f"(variance of relief divided by the number of patients) were pooled in a "
        f"random-effects meta-analysis with tau-squared estimated by "
        f"{TAU2_NAMES[heterogeneity.method]} and "
        f"{'Knapp-Hartung' if heterogeneity.test == 'knha' else 'normal-based'} inference; "
        f"we report I-squared, tau-squared and the 95% prediction interval. In the one-stage "
        f"analysis we report the intraclass correlation of the primary mixed model (the "
        f"between-study share of the total variance)."
    )
    sensitivity = spec.sensitivity
    checks = []
    if len(sensitivity.ddf) > 1:
        checks.append("degrees-of-freedom method (" + ", ".join(sensitivity.ddf) + ")")
    if len(sensitivity.adjust) > 1:
        checks.append("multiplicity adjustment (" + ", ".join(sensitivity.adjust) + ")")
    if sensitivity.leave_one_study_out:
        checks.append("leaving out each study in turn")
    if len(sensitivity.worsening) > 1:
        checks.append("keeping worsening negative or flooring it at 0")
    confounders = ""
    if spec.confounders.candidates:
        confounders = (
            f" Candidate confounders ({', '.join(spec.confounders.candidates)}) were added one "
            f"at a time to the {spec.confounders.model} model, refitted on the patients with "
            f"that variable, and judged by their type III F-test and the change in the "
            f"{spec.model(spec.confounders.model).factor} effects; those with p < "
            f"{spec.confounders.multivariable_p:g} entered a multivariable model."
        )
    versions = run.software
    return (
        f"Percentage pain relief was computed per patient as (pain before - pain after) / "
        f"pain before x 100 on the scale each study used, at last follow-up; where only a "
        f"percentage was reported it was used as reported; {worsening}. Patients were "
        f"called responders at {thresholds} % relief or more. "
        f"Relief was analysed with linear mixed models with a random intercept per study, "
        f"fitted by {'REML' if inference.reml else 'maximum likelihood'} ({models}). Fixed "
        f"effects were tested with type III F-tests and t-tests using "
        f"{DDF_NAMES[inference.ddf]} for the denominator degrees of freedom. Estimated "
        f"marginal means were computed over a reference grid weighting factor levels "
        f"equally, and all pairwise contrasts between levels were tested {adjust}. "
        f"{two_stage}{confounders}{references} "
        f"The robustness of each headline contrast was checked by varying the "
        f"{'; '.join(checks) or 'analysis'}, at alpha = {inference.alpha:g}. "
        f"Analyses used ipdmeta {versions.get('ipdmeta', '?')} (Python {versions['python']}, "
        f"NumPy {versions.get('numpy', '?')}, SciPy {versions.get('scipy', '?')}), whose "
        f"estimates are checked against R's lme4, lmerTest, emmeans, pbkrtest and metafor."
    )
