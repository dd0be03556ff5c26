"""The generated methods paragraph a reviewer can paste into a manuscript."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ipdmeta.analysis.pipeline import ReviewRun
from ipdmeta.analysis.responders import QUADRATURE_NODES
from ipdmeta.analysis.risk_of_bias import high_risk_studies
from ipdmeta.report.citations import cite

__all__ = ["DEFAULT_LABELS", "column_label", "describe_model", "methods_paragraph"]

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
DDF_SHORT = {
    "satterthwaite": "Satterthwaite",
    "kenward-roger": "Kenward-Roger",
    "residual": "residual",
    "asymptotic": "normal approximation",
}
ADJUST_SHORT = {
    "none": "none",
    "holm": "Holm",
    "bonferroni": "Bonferroni",
    "tukey": "Tukey",
    "fdr": "Benjamini-Hochberg",
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


# What the report calls the canonical columns; [labels] in review.toml overrides these, and
# any other column is called by its name with spaces.
DEFAULT_LABELS = {
    "relief_pct": "percentage pain relief",
    "study_id": "study",
    "patient_id": "patient",
    "diagnosis": "diagnosis",
    "lesion_location": "lesion location",
    "pain_duration_years": "pain duration",
    "followup_months": "follow-up time",
    "electrode_position": "electrode position",
    "preop_test": "pre-operative test result",
    "side": "side of pain",
}


def column_label(column: str, labels: Mapping[str, str]) -> str:
    """The words a column is called by in running text."""
    return labels.get(column) or DEFAULT_LABELS.get(column) or column.replace("_", " ")


def describe_model(formula: str, labels: Mapping[str, str], kind: str = "linear") -> str:
    """A model in words: "a linear mixed model with diagnosis as a fixed effect and a
    random intercept for each study" (``kind="logistic"``: "a logistic mixed model ...")."""
    from ipdmeta.mixed._formula import parse_formula

    parsed = parse_formula(formula)
    fixed = _fixed_terms(parsed.fixed, labels)
    if not fixed:
        fixed_text = "an intercept only"
    else:
        effects = "a fixed effect" if len(fixed) == 1 else "fixed effects"
        fixed_text = f"{_join(fixed)} as {effects}"
    if parsed.offsets:
        offsets = [_term_words(o, labels) for o in parsed.offsets]
        fixed_text += f", {_join(offsets)} as {'an offset' if len(offsets) == 1 else 'offsets'}"
    random = []
    for term in parsed.random:
        group = " and ".join(column_label(g, labels) for g in term.group)
        # A random term's effects are written as R writes them (I(age^2)); the fixed part's
        # wording reads formulaic's text (I(age ** 2)).
        parts = [
            "a random intercept"
            if e == "(Intercept)"
            else f"a random slope of {_term_words(e.replace('^', ' ** '), labels)}"
            for e in term.effects
        ]
        random.append(f"{_join(parts)} for each {group}")
    return f"a {kind} mixed model with {fixed_text}" + (f" and {_join(random)}" if random else "")


def _split_top(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == separator and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


_FUNCTION_WORDS = {
    "log": "the logarithm of {}", "log2": "the base-2 logarithm of {}",
    "log10": "the base-10 logarithm of {}", "exp": "the exponential of {}",
    "sqrt": "the square root of {}", "abs": "the absolute value of {}",
    "scale": "{} standardised", "center": "{} centred",
}  # fmt: skip


def _term_words(term: str, labels: Mapping[str, str]) -> str:
    """One factor of a fixed term in words: a column's label, or a function of it."""
    found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)\((.*)\)", term.strip())
    if found is None:
        return column_label(term.strip(), labels)
    name, inside = found.groups()
    if name == "C":
        return column_label(inside.split(",")[0].strip(), labels)
    if name == "poly":
        variable, degree = (x.strip() for x in inside.split(","))
        power = {"2": "quadratic", "3": "cubic"}.get(degree, f"degree-{degree}")
        return f"an orthogonal {power} polynomial of {column_label(variable, labels)}"
    if name == "I":
        square = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\*\*\s*2", inside.strip())
        if square:
            return f"{column_label(square.group(1), labels)} squared"
        return inside.replace(" ** ", "^")
    argument = inside.strip()
    words = (column_label(argument, labels)
             if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", argument)
             else argument.replace(" ** ", "^"))  # fmt: skip
    return _FUNCTION_WORDS.get(name, name + "({})").format(words)


def _fixed_terms(fixed: str, labels: Mapping[str, str]) -> list[str]:
    """The fixed part's terms in words, in order: "diagnosis", "the logarithm of age",
    "the interaction of diagnosis and sex" (``a * b`` is a, b and their interaction)."""
    out: list[str] = []
    for term in _split_top(fixed, "+"):
        if term in ("1", "0", "-1"):
            continue
        crossed = _split_top(term, "*")
        if len(crossed) > 1:
            names = [_term_words(t, labels) for t in crossed]
            out += [n for n in names if n not in out]
            out.append(f"the interaction of {_join(names)}")
            continue
        parts = [_term_words(t, labels) for t in _split_top(term, ":")]
        words = parts[0] if len(parts) == 1 else f"the interaction of {_join(parts)}"
        if words not in out:
            out.append(words)
    # Main effects first, then the interactions, so that "and" never joins across them.
    return sorted(out, key=lambda w: w.startswith("the interaction of"))


def _join(words: list[str]) -> str:
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def _follow_up(run: ReviewRun) -> str:
    """When relief was measured, as the data say."""
    patients = run.data.patients
    if "followup_months" in patients and patients["followup_months"].notna().any():
        months = patients["followup_months"].dropna()
        return (
            f"at the last follow-up each study reported (median {months.median():g} months, "
            f"range {months.min():g} to {months.max():g}; not reported for "
            f"{int(patients['followup_months'].isna().sum())} patients)"
        )
    return "at the last follow-up each study reported"


def _data_handling(run: ReviewRun, labels: Mapping[str, str]) -> str:
    """Category mapping, appraisal, exclusions and missing values, with counts."""
    data = run.data
    sentences = []
    mapped = data.label_map
    for column in ("diagnosis", "lesion_location"):
        rows = mapped[mapped["column"] == column] if len(mapped) else mapped
        if len(rows):
            sentences.append(
                f"The {len(rows)} {column_label(column, labels)} labels used by the papers were "
                f"mapped to {rows['category'].nunique()} categories (the mapping is given in "
                "the supplementary category-map table)."
            )
    if data.quality is not None and "tool" in data.quality:
        tools = [t for t in dict.fromkeys(data.quality["tool"].dropna())]
        if tools:
            jbi = cite("jbi_case_series") if any("JBI" in str(t) for t in tools) else ""
            sentences.append(f"Study quality was appraised with the {_join(tools)} checklist{jbi}.")
    reported = int((data.patients.get("relief_source") == "reported").sum())
    if reported:
        sentences.append(
            f"For {reported} patients only a percentage relief was reported and it was used "
            "as reported."
        )
    excluded = data.excluded
    if len(excluded):
        reasons = excluded["exclusion_reason"].value_counts()
        listed = "; ".join(f"{reason}, {n}" for reason, n in reasons.items())
        sentences.append(
            f"{len(excluded)} extracted patients were excluded from the analysis ({listed})."
        )
    return " ".join(sentences)


def methods_paragraph(run: ReviewRun) -> str:
    """The methods in words a journal prints: no code, no column names."""
    spec = run.spec
    labels = spec.labels
    inference = spec.inference
    outcome = spec.outcome
    worsening = (
        "negative values (worse pain) were kept"
        if outcome.worsening == "keep"
        else "negative values (worse pain) were set to 0"
    )
    thresholds = ", ".join(f"{t:g}" for t in outcome.responder_thresholds)
    linear = [m for m in spec.models if not run.models[m.name].binary]
    binary = [m for m in spec.models if run.models[m.name].binary]
    models = "; ".join(f"{describe_model(m.formula, labels)} ({m.name} analysis)" for m in linear)
    references = "".join(
        f" The reference category of {column_label(column, labels)} was {level}."
        for column, level in spec.reference.items()
    )
    also = [ADJUST_NAMES[a] for a in inference.also_adjust if a != inference.adjust]
    adjust = (
        ADJUST_NAMES[inference.adjust]
        + _ADJUST_CITATIONS.get(inference.adjust, "")
        + (f" (results adjusted by {' and '.join(also)} are shown beside them)" if also else "")
    )
    heterogeneity = spec.heterogeneity
    two_stage = (
        f"Between-study heterogeneity was assessed in two ways. In a two-stage analysis, "
        f"the mean percentage relief of each study with at least "
        f"{heterogeneity.min_patients_per_study} patients and its sampling variance "
        f"(variance of relief divided by the number of patients) were pooled in a "
        f"random-effects meta-analysis with tau-squared estimated by "
        f"{TAU2_NAMES[heterogeneity.method]}{_tau2_citation(heterogeneity.method)} and "
        f"{'Knapp-Hartung' if heterogeneity.test == 'knha' else 'normal-based'} inference"
        f"{cite('knapp_hartung') if heterogeneity.test == 'knha' else ''}; we report "
        f"I-squared{cite('i2')}, tau-squared and the 95% prediction interval"
        f"{cite('prediction_interval')}. In the one-stage "
        f"analysis we report the intraclass correlation of the primary mixed model (the "
        f"between-study share of the total variance)."
    )
    sensitivity = spec.sensitivity
    checks = []
    if len(sensitivity.ddf) > 1:
        checks.append(
            "degrees-of-freedom method (" + ", ".join(DDF_SHORT[d] for d in sensitivity.ddf) + ")"
        )
    if len(sensitivity.adjust) > 1:
        checks.append(
            "multiplicity adjustment ("
            + ", ".join(ADJUST_SHORT[a] for a in sensitivity.adjust)
            + ")"
        )
    if sensitivity.leave_one_study_out:
        checks.append("leaving out each study in turn")
    high_risk = high_risk_studies(run.data.quality, sensitivity)
    if high_risk is not None and high_risk.studies:
        checks.append(
            f"leaving out the {len(high_risk.studies)} studies at high risk of bias "
            f"({high_risk.rule})"
        )
    if (run.summary.patients_per_study == 1).any():
        checks.append("leaving out the single-patient reports")
    if len(sensitivity.worsening) > 1 and linear:
        checks.append("keeping worsening negative or flooring it at 0")
    if binary:
        checks.append(_binary_checks(run, binary))
    confounders = ""
    if spec.confounders.candidates:
        candidates = [column_label(c, labels) for c in spec.confounders.candidates]
        factor = column_label(spec.model(spec.confounders.model).factor, labels)
        confounders = (
            f" Candidate confounders ({_join(candidates)}) were added one at a time to the "
            f"{spec.confounders.model} model, refitted on the patients with that variable "
            f"recorded, and judged by their type III F-test and the change in the {factor} "
            f"effects; those with p < {spec.confounders.multivariable_p:g} entered a "
            f"multivariable model."
        )
    versions = run.software
    handling = _data_handling(run, labels)
    return _search_and_screening(run) + (
        f"Percentage pain relief was computed per patient as (pain before - pain after) / "
        f"pain before x 100 on the scale each study used, {_follow_up(run)}; "
        f"{worsening}. Patients were called responders at {thresholds} % relief or more; "
        f"the proportion of responders was pooled over studies with a random-intercept "
        f"logistic (binomial-normal) model fitted by maximum likelihood with adaptive "
        f"Gauss-Hermite quadrature ({QUADRATURE_NODES} nodes){cite('binomial_normal')}. "
        f"{handling + ' ' if handling else ''}"
        + (
            f"Relief was analysed with {models}, fitted by "
            f"{'restricted maximum likelihood (REML)' if inference.reml else 'maximum likelihood'}"
            f"{cite('lme4')}.{references} Fixed effects were tested with type III F-tests and "
            f"t-tests using {DDF_NAMES[inference.ddf]}{_DDF_CITATIONS.get(inference.ddf, '')} "
            f"for the denominator degrees of freedom. Estimated marginal means"
            f"{cite('marginal_means')} were computed over a reference grid weighting factor "
            f"levels equally, and all pairwise contrasts between levels were tested {adjust}. "
            if linear
            else references.strip() + " "
        )
        + _binary_models(run, binary, adjust)
        + f"{two_stage}{_small_study_and_certainty(run)}{confounders} "
        f"The robustness of each headline contrast was checked by varying the "
        f"{'; '.join(checks) or 'analysis'}, at alpha = {inference.alpha:g}. "
        f"Analyses used ipdmeta {versions.get('ipdmeta', '?')} with Python "
        f"{versions['python']}, NumPy {versions.get('numpy', '?')}{cite('numpy')}, SciPy "
        f"{versions.get('scipy', '?')}{cite('scipy')} and pandas "
        f"{versions.get('pandas', '?')}{cite('pandas')}; figures were drawn with Skia "
        f"(skia-python {versions.get('skia-python', '?')})."
    )


def _search_and_screening(run: ReviewRun) -> str:
    """The search, deduplication and dual screening, from the review store."""
    screening = run.screening
    if not screening:
        return ""
    imports = screening["imports"]
    sources = _join(list(dict.fromkeys(i["source"] for i in imports)))
    dates = sorted({i["searched"] for i in imports if i["searched"]})
    if len(dates) == 1:
        when = f" on {_long_date(dates[0])}"
    elif dates:
        when = f" between {_long_date(dates[0])} and {_long_date(dates[-1])}"
    else:
        when = ""
    text = (
        f"We searched {sources}{when}. Duplicate records were found by matching DOIs and "
        f"PubMed identifiers, then titles, first authors and years, as ASySD does"
        f"{cite('asysd')}; {screening['duplicates']} duplicates were removed."
    )
    stages = screening["stages"]
    ta, ft = stages["title_abstract"], stages["full_text"]
    if ta["screened"]:
        two = screening["reviewers"] >= 2 and ta["agreement_records"] > 0
        text += (
            " Titles and abstracts, then full texts, were screened "
            + (
                "independently by two reviewers, disagreements resolved by discussion"
                if two
                else "by one reviewer"
            )
            + "."
        )
        parts = []
        for label, s in (("title and abstract", ta), ("full-text", ft)):
            if s["kappa"] is not None and s["ac1"] is not None:
                low, high = s["kappa_ci"]
                parts.append(
                    f"{label} screening kappa {s['kappa']:.2f} (95% CI {low:.2f} to "
                    f"{high:.2f}) and AC1 {s['ac1']:.2f}"
                )
        if parts:
            text += (
                f" Agreement between the reviewers was measured with Cohen's kappa"
                f"{cite('kappa', 'kappa_se')} and Gwet's AC1{cite('ac1')}: "
                + "; ".join(parts)
                + "."
            )
    text += _stopping_sentence(screening.get("stopping") or {})
    return text + f" The study flow is reported as PRISMA 2020 recommends{cite('prisma')}. "


def _stopping_sentence(stopping: dict[str, Any]) -> str:
    """The team's stopping rule for screening ranked records, and the check of the rest."""
    rule = stopping.get("rule_excluded_in_a_row")
    if not rule:
        return ""
    text = (
        " Titles and abstracts were screened in order of predicted relevance (TF-IDF "
        "features and a logistic regression retrained as decisions were made), and a "
        f"reviewer could stop after excluding {rule} records in a row."
    )
    halted = stopping.get("stopped")
    if halted:
        text += (
            f" Screening stopped on {_long_date(halted['time'][:10])}, after "
            f"{halted['screened']} records"
            + (f" ({halted['reason'].rstrip('.')})" if halted.get("reason") else "")
            + f"; the {halted['excluded_automatic']} records nobody screened are reported as "
            "marked ineligible by the automation tool (the relevance ranking)."
        )
    sample = stopping.get("check_sample")
    if sample:
        text += (
            f" A random sample of {sample['size']} of the {sample['of_records_left']} records "
            f"left unscreened ({sample['percent']:g} %) was then screened: "
            f"{sample['included']} of {sample['screened']} were included."
        )
    return text


def _long_date(iso: str) -> str:
    import datetime as dt

    day = dt.date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def _binary_models(run: ReviewRun, binary: list[Any], adjust: str) -> str:
    """The logistic mixed models of 0/1 outcomes (responders), in words."""
    if not binary:
        return ""
    labels = run.spec.labels
    nagq = run.spec.inference.nagq
    fitting = (
        "the Laplace approximation"
        if nagq == 1
        else f"adaptive Gauss-Hermite quadrature ({nagq} nodes)"
    )
    described = "; ".join(
        f"{_outcome_words(m.formula)} with "
        f"{describe_model(m.formula, labels, 'logistic')} ({m.name} analysis)"
        for m in binary
    )
    return (
        f"We analysed {described}, fitted by maximum likelihood with {fitting}{cite('lme4')}. "
        f"Its fixed effects were tested with type III Wald chi-square tests; the probability "
        f"of responding in each category was estimated for a patient of a typical study "
        f"(random intercept 0) with delta-method standard errors{cite('marginal_means')}, "
        f"and all pairwise odds ratios were tested with Wald z-tests {adjust}. "
    )


def _outcome_words(formula: str) -> str:
    from ipdmeta.analysis.binary import outcome_threshold

    threshold = outcome_threshold(formula)
    if threshold is None:
        return f"the binary outcome {formula.split('~')[0].strip().replace('_', ' ')}"
    return f"response (at least {threshold:g} % relief)"


def _binary_checks(run: ReviewRun, binary: list[Any]) -> str:
    """What the robustness panel of a logistic model varies."""
    from ipdmeta.analysis.binary import outcome_threshold

    nagq = run.spec.inference.nagq
    other = "the Laplace approximation" if nagq != 1 else "7-node adaptive quadrature"
    parts = [
        f"the likelihood approximation ({other})",
        "the interval method (profile likelihood with likelihood-ratio tests"
        + (
            f"; a parametric bootstrap of {run.spec.sensitivity.bootstrap} refits with "
            "percentile intervals)"
            if run.spec.sensitivity.bootstrap
            else ")"
        ),
    ]
    main = {outcome_threshold(m.formula) for m in binary} - {None}
    others = [t for t in run.spec.outcome.responder_thresholds if t not in main]
    if main and others:
        parts.append(f"the responder threshold ({_join([f'{t:g}' for t in others])} % relief)")
    return (
        f"for the logistic models, {_join(parts)}; in refits where every patient of a "
        "category responded or none did (separation), a likelihood-ratio test replaced the "
        "Wald test"
    )


_DDF_CITATIONS = {
    "satterthwaite": cite("satterthwaite", "lmertest"),
    "kenward-roger": cite("kenward_roger"),
}
_ADJUST_CITATIONS = {"holm": cite("holm"), "fdr": cite("benjamini_hochberg")}
_TAU2_CITATIONS = {
    "DL": cite("dersimonian_laird"),
    "PM": cite("paule_mandel"),
    "ML": cite("tau2_likelihood"),
    "REML": cite("tau2_likelihood"),
}


def _tau2_citation(method: str) -> str:
    return _TAU2_CITATIONS.get(method, "")


def _small_study_and_certainty(run: ReviewRun) -> str:
    text = ""
    if run.two_stage.result is not None:
        text += (
            f" Small-study effects were examined with a contour-enhanced funnel plot"
            f"{cite('contour_funnel')}"
            + (f" and Egger's regression test{cite('egger')}" if run.two_stage.egger else "")
            + "."
        )
    if run.grade is not None:
        text += (
            f" The certainty of the evidence for pain relief was rated with the GRADE "
            f"approach{cite('grade')}."
        )
    return text
