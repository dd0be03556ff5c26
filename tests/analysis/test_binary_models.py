"""Models of a 0/1 outcome in a review: the logistic mixed model, its tables and its
robustness panel (approximation, interval method, responder threshold)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.analysis.binary import logistic_pairwise, outcome_threshold
from ipdmeta.analysis.models import contrast_summary, find_contrast, fit_model, is_binary
from ipdmeta.analysis.pipeline import run_review
from ipdmeta.analysis.robustness import (
    assess_robustness,
    leave_one_study_out,
    with_bootstrap,
    with_leave_one_out,
)
from ipdmeta.analysis.robustness_binary import (
    BOOTSTRAP_CHUNKS,
    binary_rows,
    bootstrap_replicates,
    bootstrap_row,
)
from ipdmeta.analysis.spec import InferenceSpec, ModelSpec, SensitivitySpec
from ipdmeta.errors import ModelSpecError, SpecError
from tests.conftest import EXAMPLE, copy_example

FORMULA = "responder_50 ~ diagnosis + (1 | study_id)"


@pytest.fixture(scope="module")
def example_run():
    return run_review(EXAMPLE)


@pytest.fixture(scope="module")
def responders(example_run):
    return example_run.models["responders"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([True, False, None], dtype="boolean"), True),
        (pd.Series([0, 1, 1, 0]), True),
        (pd.Series([0.0, 1.0, np.nan]), True),
        (pd.Series([1, 1, 1]), True),  # degenerate, but a 0/1 outcome all the same
        (pd.Series([0, 1, 2]), False),
        (pd.Series([12.5, 80.0]), False),
        (pd.Series(["yes", "no"]), False),
        (pd.Series([np.nan, np.nan]), False),
    ],
)
def test_which_outcomes_are_binary(values, expected):
    assert is_binary(values) is expected


def test_the_example_fits_a_logistic_model(responders, example_run):
    assert responders.binary and responders.family == "binomial"
    assert responders.fit.nagq == example_run.spec.inference.nagq == 7
    direct = mixed.glmm(FORMULA, example_run.analysis_data, family="binomial", nagq=7)
    fixed = responders.fixed_effects
    np.testing.assert_allclose(fixed["estimate"], direct.fixed_effects()["estimate"], rtol=1e-10)
    np.testing.assert_allclose(fixed["odds_ratio"], np.exp(fixed["estimate"]), rtol=1e-12)
    np.testing.assert_allclose(fixed["or_ci_upper"], np.exp(fixed["ci_upper"]), rtol=1e-12)
    assert list(responders.anova.columns) == ["term", "chisq", "df", "pvalue"]
    probabilities = responders.emmeans["probability"]
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert set(responders.pairwise) == {"none", "holm"}


def test_pairwise_odds_ratios_and_their_intervals(responders):
    table = responders.pairwise["none"]
    assert table["contrast"].str.contains(" / ").all()
    np.testing.assert_allclose(table["odds_ratio"], np.exp(table["estimate"]), rtol=1e-12)
    assert (table["ci_lower"] < table["odds_ratio"]).all()
    assert (table["odds_ratio"] < table["ci_upper"]).all()
    # The Wald interval's limits are where z would be -/+1.96.
    z_low = np.log(table["ci_lower"]) - table["estimate"]
    np.testing.assert_allclose(z_low / table["se"], -1.959964, rtol=1e-6)


def test_a_contrast_is_found_written_either_way(responders):
    table = responders.pairwise["none"]
    forward = contrast_summary(table, "TN / DPS")
    backward = contrast_summary(table, "DPS / TN")
    as_difference = contrast_summary(table, "TN - DPS")
    assert forward["estimate"] == -backward["estimate"] == as_difference["estimate"]
    assert forward["pvalue"] == backward["pvalue"]
    assert np.isinf(forward["df"])
    row, sign = find_contrast(table, "TN / DPS")
    assert np.exp(sign * row["estimate"]) == pytest.approx(1 / row["odds_ratio"] ** -sign)
    with pytest.raises(ModelSpecError, match="levels the model does not have"):
        contrast_summary(table, "TN / XX")
    with pytest.raises(ModelSpecError, match="'A - B'"):
        contrast_summary(table, "TN vs DPS")


def test_outcome_threshold():
    assert outcome_threshold("responder_50 ~ x") == 50.0
    assert outcome_threshold("responder_12_5 ~ x") == 12.5
    assert outcome_threshold("improved ~ x") is None


def test_the_panel_compares_approximation_intervals_and_thresholds(example_run):
    panel = next(p for p in example_run.robustness if p.model == "responders")
    assert panel.effect == "odds ratio"
    table = panel.table
    groups = list(table["group"])
    assert groups[0] == "main analysis"
    for group in ("multiplicity", "approximation", "interval", "responder threshold",
                  "leave one study out", "risk of bias", "case reports"):  # fmt: skip
        assert group in groups, group
    assert "df method" not in groups and "worsening" not in groups
    choices = list(table["choice"])
    assert "Laplace approximation" in choices
    assert "profile likelihood (LR test)" in choices
    assert "parametric bootstrap (200 refits)" in choices
    assert {"responders at 30 % relief", "responders at 40 % relief"} <= set(choices)
    main = table.iloc[0]
    expected = contrast_summary(example_run.models["responders"].pairwise["none"], "TN / DPS")
    assert main["estimate"] == pytest.approx(np.exp(expected["estimate"]), rel=1e-12)
    assert (table["estimate"].dropna() > 0).all()  # odds ratios
    # The bootstrap row comes after the interval rows it belongs with.
    assert groups.index("responder threshold") > choices.index("parametric bootstrap (200 refits)")


def test_separated_refits_are_tested_by_likelihood_ratio(example_run):
    """At 30 % relief every TN patient responds: the Wald p would go to 1 as the estimate
    runs off; the row uses the likelihood-ratio test and says so."""
    panel = next(p for p in example_run.robustness if p.model == "responders")
    row = panel.table[panel.table["choice"] == "responders at 30 % relief"].iloc[0]
    assert "separation" in row["note"] and "likelihood-ratio test instead of Wald" in row["note"]
    assert row["pvalue"] < 0.05 and row["estimate"] > 1e6
    data = example_run.analysis_data
    wald = logistic_pairwise(
        mixed.glmm(FORMULA.replace("_50", "_30"), data, family="binomial", nagq=7),
        "diagnosis", "none", 0.95,
    )  # fmt: skip
    assert contrast_summary(wald, "TN / DPS")["pvalue"] > 0.9


def test_bootstrap_is_the_same_in_chunks_side_by_side_or_in_turn(example_run, responders):
    """``ipdmeta run`` draws the chunks as separate jobs; the library draws them in turn:
    the same seeds give the same row."""
    data = example_run.analysis_data
    inference = example_run.spec.inference
    sensitivity = dataclasses.replace(SensitivitySpec(), bootstrap=20)
    rows = binary_rows(responders, data, "TN / DPS", inference, sensitivity)
    in_turn = next(r for r in rows if r[1].startswith("parametric bootstrap"))
    chunks = [bootstrap_replicates(responders, data, "TN / DPS", 20, c)
              for c in range(BOOTSTRAP_CHUNKS)]  # fmt: skip
    assert [c.size for c in chunks] == [10, 10]
    panel = assess_robustness(
        responders, data, data["relief_pct"], inference,
        dataclasses.replace(sensitivity, bootstrap=0), "keep",
    )[0]  # fmt: skip
    joined = with_bootstrap(panel, np.concatenate(chunks), inference.level)
    row = joined.table[joined.table["group"] == "interval"].iloc[-1]
    assert row["choice"] == in_turn[1] == "parametric bootstrap (20 refits)"
    assert row["pvalue"] == in_turn[2]["pvalue"] and row["note"] == in_turn[3]
    assert 1 / 21 <= row["pvalue"] <= 1  # never 0


def test_leave_one_study_out_in_parts_is_the_panel_made_in_one_piece(example_run, responders):
    """``ipdmeta run`` makes a logistic model's leave-one-study-out refits in parts, side
    by side with the rest of its panel; joined, they give the panel made in turn."""
    data = example_run.analysis_data
    inference = example_run.spec.inference
    sensitivity = dataclasses.replace(SensitivitySpec(), bootstrap=0)
    whole = assess_robustness(responders, data, data["relief_pct"], inference, sensitivity,
                              "keep")[0]  # fmt: skip
    apart = assess_robustness(
        responders, data, data["relief_pct"], inference,
        dataclasses.replace(sensitivity, leave_one_study_out=False), "keep",
    )[0]  # fmt: skip
    assert "leave one study out" not in set(apart.table["group"])
    studies = list(pd.unique(data["study_id"]))
    parts = [leave_one_study_out(responders, data, inference, these)["TN / DPS"]
             for these in (studies[:9], studies[9:])]  # fmt: skip
    joined = with_leave_one_out(apart, pd.concat(parts, ignore_index=True))
    pd.testing.assert_frame_equal(joined.table, whole.table)
    pd.testing.assert_frame_equal(joined.leave_one_out, whole.leave_one_out)


def test_the_bootstrap_row_says_how_many_refits_ran_off() -> None:
    """Under separation a refit's odds ratio runs off to infinity; the interval then
    reaches "> 10,000" and the note says how many refits did that, and why."""
    rng = np.random.default_rng(0)
    replicates = np.concatenate([rng.normal(1.0, 0.5, 90), [14.0] * 8, [-13.0, np.nan]])
    _, choice, summary, note = bootstrap_row(1.0, replicates, 0.95)
    assert choice == "parametric bootstrap (100 refits)"
    assert summary["estimate"] == 1.0
    assert "99 of 100 refits converged" in note
    assert "in 9 the odds ratio ran past 10,000 or below 1/10,000 (separation" in note
    assert note.endswith("seeds 20260101, 20260102")
    calm = bootstrap_row(1.0, rng.normal(1.0, 0.5, 50), 0.95)[3]
    assert "ran past" not in calm


def test_a_text_outcome_is_refused_naming_its_values(example_run):
    data = example_run.analysis_data.assign(
        answered=np.where(example_run.analysis_data["responder_50"], "yes", "no")
    )
    spec = ModelSpec("r", "answered ~ diagnosis + (1 | study_id)", "diagnosis")
    with pytest.raises(ModelSpecError, match=r"holds text \('yes', 'no'\).*responder_30"):
        fit_model(spec, data, InferenceSpec())


def test_confounder_screen_on_a_binary_model_is_refused(tmp_path):
    folder = copy_example(tmp_path)
    toml = folder / "review.toml"
    toml.write_text(toml.read_text().replace('model = "primary"', 'model = "responders"'))
    with pytest.raises(SpecError, match="0/1 outcome"):
        run_review(folder)


@pytest.mark.parametrize(
    ("section", "line", "message"),
    [
        ("inference", "nagq = 0", "from 1 to 25"),
        ("inference", "nagq = 2.5", "whole number"),
        ("sensitivity", "bootstrap = -1", "from 0 to 100000"),
        ("sensitivity", 'bootstrap = "many"', "whole number"),
    ],
)
def test_bad_quadrature_and_bootstrap_settings(tmp_path, section, line, message):
    folder = copy_example(tmp_path)
    toml = folder / "review.toml"
    toml.write_text(toml.read_text().replace(f"[{section}]\n", f"[{section}]\n{line}\n"))
    with pytest.raises(SpecError, match=message):
        run_review(folder)


def test_a_main_model_under_separation_is_tested_by_likelihood_ratio(example_run):
    """The methods paragraph says a likelihood-ratio test replaces Wald's under separation:
    the main model's headline contrast too, not only the refits'. Tried as a new user
    would (a small review where no DPS patient responded), the headline read 'odds ratio
    more than 10,000 ... p = 1.000' while the refits' rows said p < 0.001."""
    responders = example_run.models["responders"]
    spec = dataclasses.replace(responders.spec, formula=FORMULA.replace("_50", "_30"))
    model = fit_model(spec, example_run.analysis_data, example_run.spec.inference)
    assert "likelihood-ratio test instead of Wald" in model.test_note
    main = contrast_summary(model.pairwise[example_run.spec.inference.adjust], "TN / DPS")
    panel = next(p for p in example_run.robustness if p.model == "responders")
    refit = panel.table[panel.table["choice"] == "responders at 30 % relief"].iloc[0]
    assert main["pvalue"] == pytest.approx(refit["pvalue"], rel=1e-9)  # one LR test
    assert not responders.test_note  # no separation at 50 %: Wald, as before


def test_a_separated_models_report_section_says_how_its_headline_was_tested(example_run):
    from ipdmeta.report.build import _model_context

    responders = example_run.models["responders"]
    spec = dataclasses.replace(responders.spec, formula=FORMULA.replace("_50", "_30"))
    model = fit_model(spec, example_run.analysis_data, example_run.spec.inference)
    section = _model_context("responders", model)
    assert "TN / DPS, none: separation: all of the" in section["adjust_caption"]
    assert np.isinf(section["pairwise"]["odds_ratio"]).any()  # run off: shown as such


def test_laplace_review(tmp_path):
    """nagq = 1: the main analysis is Laplace's, and the panel compares 7 nodes."""
    folder = copy_example(tmp_path)
    toml = folder / "review.toml"
    text = toml.read_text().replace("[inference]\n", "[inference]\nnagq = 1\n")
    toml.write_text(text.replace("[sensitivity]\n", "[sensitivity]\nbootstrap = 0\n"))
    run = run_review(folder)
    assert run.models["responders"].fit.nagq == 1
    panel = next(p for p in run.robustness if p.model == "responders")
    assert panel.table["choice"].iloc[0].startswith("Wald z, Laplace approximation")
    assert "7-node quadrature" in list(panel.table["choice"])
    assert not panel.table["choice"].str.contains("bootstrap").any()


def test_a_typed_text_outcome_names_file_column_and_rows(tmp_path, run_cli):
    """A clinician's own responder column typed yes/no, named as a model's outcome: the
    run stops naming the file, the column, the values and the spreadsheet rows."""
    folder = copy_example(tmp_path)
    patients = folder / "patients.csv"
    lines = patients.read_text(encoding="utf-8").splitlines()
    typed = ["responder_typed"] + ["yes" if i % 3 else "no" for i in range(1, len(lines))]
    patients.write_text(
        "\n".join(f"{line},{value}" for line, value in zip(lines, typed, strict=True)) + "\n",
        encoding="utf-8",
    )
    before = patients.read_bytes()
    toml = folder / "review.toml"
    toml.write_text(toml.read_text().replace("responder_50 ~", "responder_typed ~"))
    result = run_cli("run", folder, "--out", tmp_path / "out")
    assert result.code == 2 and "Traceback" not in result.err
    assert "patients.csv, column 'responder_typed', the model's outcome, holds text" in result.err
    assert "('yes', 'no') in rows 2, 3, 4, 5, 6, 7 and" in result.err
    assert patients.read_bytes() == before
