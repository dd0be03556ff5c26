"""The methods paragraph reads as a journal prints it: no code, no column names."""

from __future__ import annotations

import re

import pytest

from ipdmeta.analysis.pipeline import run_review
from ipdmeta.report.methods import describe_model, methods_paragraph
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def example_methods() -> str:
    return methods_paragraph(run_review(EXAMPLE))


def test_no_code_and_no_column_names(example_methods):
    assert "~" not in example_methods and "(1 |" not in example_methods
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", example_methods), "a column name"
    assert "checked against R" not in example_methods  # a claim for the docs, not a paper


def test_the_data_decide_what_it_says(example_methods):
    # The example's follow-up: median 33 months (3 to 101), missing for 12 patients.
    assert "median 33 months, range 3 to 101; not reported for 12 patients" in example_methods
    assert "15 diagnosis labels used by the papers were mapped to 6 categories" in example_methods
    assert "appraised with the JBI case series checklist" in example_methods
    assert "For 3 patients only a percentage relief was reported" in example_methods
    assert (
        "a linear mixed model with diagnosis as a fixed effect and a random intercept for "
        "each study" in example_methods
    )


@pytest.mark.parametrize(
    ("formula", "words"),
    [
        ("relief_pct ~ diagnosis + (1 | study_id)",
         "a linear mixed model with diagnosis as a fixed effect and a random intercept for "
         "each study"),
        ("relief_pct ~ diagnosis * age + (1 + age | study_id)",
         "a linear mixed model with diagnosis, age and the interaction of diagnosis and age as "
         "fixed effects and a random intercept and a random slope of age for each study"),
        ("relief_pct ~ diagnosis + log(age) + I(age^2) + (1 | study_id)",
         "a linear mixed model with diagnosis, the logarithm of age and age squared as fixed "
         "effects and a random intercept for each study"),
        ("relief_pct ~ poly(age, 2) + scale(followup_months) + diagnosis:sex + (1 | study_id)",
         "a linear mixed model with an orthogonal quadratic polynomial of age, follow-up time "
         "standardised and the interaction of diagnosis and sex as fixed effects and a random "
         "intercept for each study"),
        ("relief_pct ~ 1 + (1 | study_id)",
         "a linear mixed model with an intercept only and a random intercept for each study"),
        ("relief_pct ~ sex + (1 + log(age) + I(age^2) | study_id)",
         "a linear mixed model with sex as a fixed effect and a random intercept, a random "
         "slope of the logarithm of age and a random slope of age squared for each study"),
        ("relief_pct ~ diagnosis + offset(log(age)) + (1 | study_id)",
         "a linear mixed model with diagnosis as a fixed effect, the logarithm of age as an "
         "offset and a random intercept for each study"),
    ],
)  # fmt: skip
def test_models_in_words(formula, words):
    assert describe_model(formula, {}) == words


def test_labels_and_reference_levels_are_used(singular_review):
    spec = singular_review / "review.toml"
    spec.write_text(
        spec.read_text()
        + '\n[labels]\ndiagnosis = "CNOP disorder"\n[reference]\ndiagnosis = "TN"\n'
    )
    text = methods_paragraph(run_review(singular_review))
    assert "with CNOP disorder as a fixed effect" in text
    assert "The reference category of CNOP disorder was TN." in text


def test_results_paragraph_gives_the_numbers_in_words():
    from ipdmeta.report.findings import results_paragraph

    run = run_review(EXAMPLE)
    text = results_paragraph(run)
    assert text.startswith("The review included 23 studies with 140 patients")
    panel = run.robustness[0]
    main = panel.table.iloc[0]
    # the headline contrast, oriented as review.toml writes it ("TN - DPS")
    assert f"Patients with TN had {main['estimate']:.1f} percentage points more relief" in text
    assert panel.verdict() in text
    assert "~" not in text and "trigeminal_nerve" not in text
    pooled = run.pooled_responders.table.iloc[-1]
    assert (
        f"pooled over studies a typical study's proportion was {100 * pooled['pooled']:.1f} %"
        in text
    )


def test_methods_cite_the_papers_and_software_they_rest_on(example_methods):
    from ipdmeta.report.citations import REFERENCES, references_in

    for cited in ("(Bates et al. 2015)", "(Satterthwaite 1946; Kuznetsova et al. 2017)",
                  "(Munn et al. 2020)", "(Peters et al. 2008)", "(Egger et al. 1997)",
                  "(Guyatt et al. 2008)", "(Harris et al. 2020)", "(Virtanen et al. 2020)",
                  "(Stijnen et al. 2010)"):  # fmt: skip
        assert cited in example_methods
    assert "figures were drawn with Skia (skia-python " in example_methods
    listed = references_in(example_methods)
    # every citation in the text has its entry, and no entry is listed without a citation
    cited_keys = [k for k, ref in REFERENCES.items() if ref.citation in example_methods]
    assert listed == sorted(REFERENCES[k].entry for k in cited_keys)
    assert REFERENCES["holm"].entry not in listed  # the example adjusts by none
    assert REFERENCES["kenward_roger"].entry not in listed  # nor uses Kenward-Roger df
    assert listed[0].startswith("Bates D")  # alphabetical, as author-year lists are


def test_report_lists_the_references_in_html_and_word(example_report):
    import docx

    from ipdmeta.report.citations import REFERENCES

    html = (example_report / "report.html").read_text()
    assert "<h3>References</h3>" in html and "Fitting linear mixed-effects models" in html
    text = [p.text for p in docx.Document(str(example_report / "report.docx")).paragraphs]
    assert "References" in text and REFERENCES["lme4"].entry in text


def test_an_odds_ratio_past_what_exp_returns_is_shown_without_a_warning():
    import warnings

    from ipdmeta.report.findings import _ratio

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _ratio(29.6) == "more than 10,000"  # a separated factor's log odds ratio
        assert _ratio(1e6) == "more than 10,000"
        assert _ratio(float("nan")) == "more than 10,000"
        assert _ratio(0.0) == "1.00"
        assert _ratio(-50.0) == "0.00"
