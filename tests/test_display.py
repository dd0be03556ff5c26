"""Notebook and REPL display of result objects: ``summary()`` as text, ``_repr_html_``.

Every public result class of ``ipdmeta.meta`` and ``ipdmeta.mixed`` with a ``summary()``
has a case in CASES (one small real result); a completeness test fails if one is missing.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipdmeta import meta, mixed
from ipdmeta._display import MAX_ROWS, SummaryText, format_float, result_html
from ipdmeta.mixed._options import DDF
from ipdmeta.mixed._summary import summary_text
from tests.published_data import BCG_ABLAT, BCG_VI, BCG_YI

# A label with every character HTML treats specially.
NASTY = '<b>&"x"'
# Its escaped form as it appears in a pandas table (pandas escapes <, > and &).
NASTY_ESCAPED = "&lt;b&gt;&amp;"
LABELS = [NASTY] + [f"trial {i}" for i in range(1, 13)]


# --------------------------------------------------------------------------- the cases
def _meta_result() -> meta.MetaResult:
    return meta.random_effects(BCG_YI, BCG_VI, labels=LABELS)


def _ipd(seed: int = 1, n: int = 60, k: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    study = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    # "z..." sorts last, so the nasty level is a coefficient, not the reference level.
    dx = rng.choice(np.array(["AD", "PHN", "z" + NASTY]), n)
    age = rng.normal(55, 12, n).round()
    u = rng.normal(0, 10, k)
    y = 60 + u[study] + 10 * (dx == "PHN") - 0.1 * age + rng.normal(0, 20, n)
    names = np.array([NASTY] + [f"S{i:02d}" for i in range(1, k)], dtype=object)
    return pd.DataFrame(
        {"relief": y, "diagnosis": dx.astype(object), "age": age, "study_id": names[study]}
    )


def _lmm() -> mixed.LmmResult:
    return mixed.lmm("relief ~ diagnosis + age + (1 | study_id)", _ipd())


def _glmm() -> mixed.GlmmResult:
    data = _ipd()
    data["responder"] = data["relief"] >= 50
    return mixed.glmm("responder ~ diagnosis + age + (1 | study_id)", data)


def _study_summaries() -> meta.StudySummaries:
    data = pd.DataFrame(
        {
            "study": [NASTY] * 3 + ["B"] * 4 + ["C"] * 3 + ["one patient"],
            "relief": [10.0, 30.0, 50.0, 20.0, 25.0, 60.0, 45.0, 70.0, 80.0, 75.0, 40.0],
        }
    )
    return meta.study_summaries(data)


def _subgroups() -> meta.SubgroupResult:
    groups = [NASTY if a > 30 else "tropical" for a in BCG_ABLAT]
    return meta.subgroups(BCG_YI, BCG_VI, groups)


CASES: dict[type, Callable[[], Any]] = {
    meta.MetaResult: _meta_result,
    meta.HeterogeneityCI: lambda: _meta_result().heterogeneity_ci(),
    meta.EggerResult: lambda: meta.egger_test(_meta_result()),
    meta.TrimFillResult: lambda: meta.trim_and_fill(_meta_result()),
    meta.LeaveOneOutResult: lambda: meta.leave_one_out(_meta_result()),
    meta.InfluenceResult: lambda: meta.influence(_meta_result()),
    # 2^13 = 8192 sign flips <= n: the exact test, independent of any seed.
    meta.PermutationResult: lambda: meta.permutation_test(_meta_result(), n=10_000),
    meta.BatchResult: lambda: meta.random_effects_batch(
        np.vstack([BCG_YI, BCG_YI[::-1]]), np.vstack([BCG_VI, BCG_VI[::-1]])
    ),
    meta.SubgroupResult: _subgroups,
    meta.MetaRegressionResult: lambda: meta.meta_regression(
        BCG_YI, BCG_VI, pd.DataFrame({NASTY: BCG_ABLAT})
    ),
    meta.EffectSizes: lambda: meta.escalc("PLO", xi=[3, 5, 10], ni=[20, 30, 40]),
    meta.StudySummaries: _study_summaries,
    mixed.LmmResult: _lmm,
    mixed.BootstrapResult: lambda: _lmm().bootstrap(n=20, seed=1),
    mixed.GlmmResult: _glmm,
    meta.GlmmMetaResult: lambda: meta.random_effects_glmm(
        xi=[16, 10, 4, 43, 10, 25, 13], ni=[17, 12, 8, 58, 10, 42, 14], labels=[NASTY, *"BCDEFG"]
    ),
}

# Classes whose display shows a label given by the user (study, group, term, level).
SHOWS_LABELS = {
    meta.MetaResult,
    meta.LeaveOneOutResult,
    meta.InfluenceResult,
    meta.SubgroupResult,
    meta.MetaRegressionResult,
    meta.StudySummaries,
    mixed.LmmResult,
    mixed.GlmmResult,
}

# Headings, as a reader sees them.
TITLES = {
    meta.MetaResult: "Random-effects meta-analysis (REML), k = 13",
    meta.HeterogeneityCI: "Heterogeneity: 95% Q-profile confidence intervals",
    meta.EggerResult: "Egger&#x27;s regression test for funnel-plot asymmetry (model rma), k = 13",
    meta.TrimFillResult: "Trim-and-fill (L0): 1 studies imputed on the right",
    meta.LeaveOneOutResult: "Leave-one-out analysis, k = 13",
    meta.InfluenceResult: "Influence diagnostics, k = 13 (",
    meta.PermutationResult: "Permutation test (exact, 8192 permutations)",
    meta.BatchResult: "2 meta-analyses (REML, test z); 2 with a result, 0 not converged",
    meta.SubgroupResult: "Subgroup analysis (separate tau2, REML), 2 groups",
    meta.MetaRegressionResult: "Mixed-effects meta-regression (REML), k = 13",
    meta.EffectSizes: "Effect sizes (measure PLO, k = 3)",
    meta.StudySummaries: "Study summaries of &#x27;relief&#x27;: 3 studies included, 1 excluded",
    mixed.LmmResult: "Linear mixed model (REML), 60 observations, 8 groups of study_id",
    mixed.BootstrapResult: "Parametric bootstrap: 20 refits (seed 1)",
    mixed.GlmmResult: "Generalized linear mixed model (binomial, Laplace approximation)",
    meta.GlmmMetaResult: "Random-effects model, binomial-normal (ML, nAGQ = 7), k = 7",
}

# summary() as it was before it returned SummaryText (deterministic cases only: the
# mixed models' text is checked against the plain-text function instead).
OLD_SUMMARIES = {
    meta.MetaResult: """\
Random-effects model (k = 13; tau2 estimator: REML)

tau2 (between-study variance): 0.3132
tau (square root of tau2):     0.5597
I2 (share of total variability due to heterogeneity): 92.22%
H2 (total variability / sampling variability):        12.86

Test for heterogeneity: Q(12) = 152.2330, p < .0001

estimate      se  z    pvalue    95% CI
 -0.7145  0.1798 -3.9744    <.0001  [-1.0669, -0.3622]
95% prediction interval: [-1.8667, 0.4376]""",
    meta.HeterogeneityCI: """\
Heterogeneity, 95% Q-profile confidence intervals:
  tau2         0.3132  [0.1197, 1.1115]
  tau          0.5597  [0.3460, 1.0543]
  I2          92.2214  [81.9206, 97.6781]
  H2          12.8558  [5.5311, 43.0677]""",
    meta.EggerResult: """\
Regression test for funnel plot asymmetry (model rma, predictor sei): z = -0.8033, p = 0.4218
Limit estimate (as sei -> 0): -0.5104 [-1.1182, 0.0974]""",
    meta.TrimFillResult: """\
Trim-and-fill (L0): 1 studies imputed on the right

Random-effects model (k = 14; tau2 estimator: REML)

tau2 (between-study variance): 0.3313
tau (square root of tau2):     0.5756
I2 (share of total variability due to heterogeneity): 92.14%
H2 (total variability / sampling variability):        12.72

Test for heterogeneity: Q(13) = 154.6750, p < .0001

estimate      se  z    pvalue    95% CI
 -0.6571  0.1785 -3.6806    0.0002  [-1.0070, -0.3072]
95% prediction interval: [-1.8382, 0.5240]""",
    meta.BatchResult: "2 meta-analyses (REML, test z); 2 with a result, 0 not converged",
    meta.PermutationResult: "\n".join(
        [
            "Permutation test (exact, 8192 permutations)",
            "           statistic  pvalue",
            "term" + " " * 24,  # pandas pads the index name's row
            "intercept    -3.9744  0.0015",
            "omnibus: QM = 15.7962, p = 0.0015",
        ]
    ),
}


@pytest.fixture(scope="module")
def results() -> dict[type, Any]:
    return {cls: build() for cls, build in CASES.items()}


def _ids(cls: type) -> str:
    return cls.__name__


def _tables(result: Any) -> list[pd.DataFrame]:
    """The frames a result's HTML shows (for the bootstrap: its summary table)."""
    return (
        [frame for _, frame in result._display_tables()]
        if hasattr(result, "_display_tables")
        else [result.variance_components, result.to_frame()]
    )


def _assert_numbers_present(html: str, frame: pd.DataFrame) -> None:
    shown = frame.head(MAX_ROWS // 2)  # a long table shows its head and tail only
    for col in shown.columns:
        for value in shown[col]:
            if isinstance(value, bool | np.bool_):
                expected = str(bool(value))
            elif isinstance(value, float | np.floating):
                expected = format_float(float(value))
            elif isinstance(value, int | np.integer):
                expected = str(int(value))
            else:
                continue
            assert f">{expected}<" in html, (col, value, expected)


# ------------------------------------------------------------------------ completeness
def _public_result_classes() -> list[type]:
    out = []
    for module in (meta, mixed):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and callable(getattr(obj, "summary", None)):
                out.append(obj)
    return out


def test_every_public_result_class_has_a_case_and_html() -> None:
    classes = _public_result_classes()
    assert len(classes) >= 14  # the discovery itself must not quietly find nothing
    for cls in classes:
        assert callable(getattr(cls, "_repr_html_", None)), cls.__name__
        assert cls in CASES, f"tests/test_display.py has no case for {cls.__name__}"
    assert set(CASES) == set(classes)


def test_cases_build_their_class(results: dict[type, Any]) -> None:
    for cls, result in results.items():
        assert type(result) is cls


# -------------------------------------------------------------------------------- HTML
@pytest.mark.parametrize("cls", list(CASES), ids=_ids)
def test_repr_html_shows_heading_and_table(cls: type, results: dict[type, Any]) -> None:
    result = results[cls]
    html = result._repr_html_()
    assert isinstance(html, str)
    assert html.startswith("<div")
    assert html.rstrip().endswith("</div>")
    assert "<table" in html
    assert f"<p><strong>{TITLES[cls]}" in html
    for frame in _tables(result):
        _assert_numbers_present(html, frame)


@pytest.mark.parametrize("cls", list(CASES), ids=_ids)
def test_repr_html_shows_to_frame_numbers(cls: type, results: dict[type, Any]) -> None:
    result = results[cls]
    if cls is mixed.BootstrapResult:
        # The replicates are not shown (n rows of noise): their mean and SD are.
        html = result._repr_html_()
        frame = result.to_frame()
        for col in frame.columns:
            assert f">{format_float(frame[col].mean())}<" in html
            assert f">{format_float(frame[col].std(ddof=1))}<" in html
        return
    frame = result.to_frame()
    if cls is meta.MetaResult and frame["df"].isna().all():
        frame = frame.drop(columns="df")  # a z-test has no df; the HTML leaves it out
    _assert_numbers_present(result._repr_html_(), frame)


@pytest.mark.parametrize("cls", sorted(SHOWS_LABELS, key=_ids), ids=_ids)
def test_repr_html_escapes_labels(cls: type, results: dict[type, Any]) -> None:
    html = results[cls]._repr_html_()
    assert NASTY_ESCAPED in html
    assert "<b>" not in html
    assert "&x" not in html.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")


def test_meta_result_html_has_pooled_and_study_tables(results: dict[type, Any]) -> None:
    res = results[meta.MetaResult]
    html = res._repr_html_()
    assert html.count("<table") == 3  # the pooled estimate, heterogeneity, the studies
    assert "Test for heterogeneity: Q(12) = 152.2330" in html
    _assert_numbers_present(html, res.studies())


def test_long_tables_are_cut() -> None:
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(500, 6))
    batch = meta.random_effects_batch(Y, np.full((500, 6), 0.1))
    html = batch._repr_html_()
    assert html.count("<tr") < MAX_ROWS + 5
    assert "..." in html


def test_result_html_escapes_heading_notes_and_text() -> None:
    html = result_html(NASTY, notes=[NASTY], text=NASTY)
    assert "<b>" not in html
    assert html.count("&lt;b&gt;&amp;&quot;x&quot;") == 3
    assert "<pre" in html


def test_format_float() -> None:
    assert format_float(0.12345678) == "0.1235"
    assert format_float(-3.0) == "-3.0000"
    assert format_float(0.0) == "0.0000"
    assert format_float(1.5e-9) == "1.500e-09"
    assert format_float(2.5e8) == "2.500e+08"
    assert format_float(math.nan) == "NA"
    assert format_float(-math.inf) == "-Inf"


# ----------------------------------------------------------------------------- summary()
@pytest.mark.parametrize("cls", list(CASES), ids=_ids)
def test_summary_is_text_that_shows_as_text(cls: type, results: dict[type, Any]) -> None:
    text = results[cls].summary()
    assert isinstance(text, SummaryText) and isinstance(text, str)
    plain = str.__str__(text)
    assert type(plain) is str
    assert repr(text) == str(text) == plain
    assert text == plain and hash(text) == hash(plain)
    html = text._repr_html_()
    assert html.startswith("<pre") and html.endswith("</pre>")
    assert "<b>" not in html


@pytest.mark.parametrize("cls", list(OLD_SUMMARIES), ids=_ids)
def test_summary_text_is_unchanged(cls: type, results: dict[type, Any]) -> None:
    assert results[cls].summary() == OLD_SUMMARIES[cls]


def test_lmm_summary_is_the_plain_text(results: dict[type, Any]) -> None:
    fit = results[mixed.LmmResult]
    for ddf in DDF:
        assert fit.summary(ddf) == summary_text(fit, ddf)
    assert str(fit) == fit.summary()
    assert type(str(fit)) is str


def test_summary_text_behaves_as_str() -> None:
    text = SummaryText('a\n<b>&"x"')
    assert text + "!" == 'a\n<b>&"x"!'
    assert text.splitlines() == ["a", '<b>&"x"']
    assert text.upper() == 'A\n<B>&"X"'
    assert f"{text}" == 'a\n<b>&"x"'
    assert {text: 1}['a\n<b>&"x"'] == 1
    assert pickle.loads(pickle.dumps(text)) == text
    assert repr([text]) == '[a\n<b>&"x"]'  # containers show it as text too
    assert text._repr_html_() == '<pre class="ipdmeta-summary">a\n&lt;b&gt;&amp;&quot;x&quot;</pre>'


def test_summary_text_pretty_printer() -> None:
    # What IPython's plain-text display calls (IPython itself is not a dependency).
    class Printer:
        def __init__(self) -> None:
            self.out: list[str] = []

        def text(self, s: str) -> None:
            self.out.append(s)

        def break_(self) -> None:
            self.out.append("\n")

    p = Printer()
    SummaryText("line 1\nline 2")._repr_pretty_(p, False)
    assert "".join(p.out) == "line 1\nline 2"


def test_display_module_imports_light() -> None:
    code = "import sys, ipdmeta._display; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_review_results_show_as_tables_and_a_one_line_repr():
    from ipdmeta.analysis.pipeline import run_review
    from tests.conftest import EXAMPLE

    run = run_review(EXAMPLE)
    parts = {
        "ReviewRun": run,
        "ReviewData": run.data,
        "DataSummary": run.summary,
        "TwoStage": run.two_stage,
        "FactorSubgroups": run.subgroups["diagnosis"],
        "FittedModel": run.primary,
        "ConfounderScreen": run.confounders,
        "ContrastRobustness": run.robustness[0],
        "Certainty": run.grade,
    }
    for name, part in parts.items():
        shown = part._repr_html_()
        assert shown.startswith('<div class="ipdmeta-result">'), name
        assert "<table" in shown, name
        if name != "ReviewRun":  # the run's repr keeps its headlines, a few lines
            text = repr(part)
            assert text.startswith(f"<{name}: ") and "\n" not in text and len(text) < 300, text
    assert "I2 = 92.9 %" in repr(run.two_stage)
    assert "Certainty of the evidence (GRADE) for" in run.grade._repr_html_()
    assert "TN - DPS" in run._repr_html_()  # the headlines


def test_odds_ratios_past_10000_are_shown_as_such() -> None:
    """A factor under separation: its odds ratio runs off and stops where the fit did;
    the headline, the summary and the results paragraph say 'more than 10,000' alike."""
    from ipdmeta._display import odds_ratio_text

    assert odds_ratio_text(18.2357) == "18.24"
    assert odds_ratio_text(250.4) == "250"
    assert odds_ratio_text(5.76e12) == "more than 10,000"
    assert odds_ratio_text(float("inf")) == "more than 10,000"
    assert odds_ratio_text(float("nan")) == "more than 10,000"
