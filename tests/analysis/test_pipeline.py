"""Running whole reviews: the example and simulated folders with awkward shapes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.analysis.models import contrast_summary
from ipdmeta.analysis.pipeline import run_review
from ipdmeta.errors import ModelSpecError, SpecError
from tests.conftest import EXAMPLE


@pytest.fixture(scope="module")
def example_run():
    return run_review(EXAMPLE)


def test_example_runs_every_part(example_run):
    run = example_run
    assert run.summary.n_patients == 140 and run.summary.n_studies == 23
    assert set(run.models) == {"primary", "secondary", "responders"}
    assert [m.binary for m in run.models.values()] == [False, False, True]
    assert run.two_stage.result is not None and run.two_stage.k >= 15
    assert 0 < run.icc < 1
    assert [(p.model, p.contrast) for p in run.robustness] == [
        ("primary", "TN - DPS"),
        ("secondary", "supranuclear - trigeminal_nerve"),
        ("responders", "TN / DPS"),
    ]
    assert run.confounders is not None and len(run.confounders.table) == 7


def test_models_agree_with_a_direct_fit(example_run):
    primary = example_run.models["primary"]
    direct = mixed.lmm("relief_pct ~ diagnosis + (1 | study_id)", example_run.analysis_data)
    expected = direct.fixed_effects(ddf="satterthwaite")
    pd.testing.assert_frame_equal(primary.fixed_effects, expected)


def test_robustness_rows(example_run):
    panel = example_run.robustness[0]
    groups = list(panel.table["group"])
    assert groups[0] == "main analysis"
    assert groups.count("df method") == 2 and groups.count("multiplicity") == 2
    assert "leave one study out" in groups and "worsening" in groups
    assert len(panel.leave_one_out) == 23
    loo = panel.table[panel.table["group"] == "leave one study out"].iloc[0]
    assert loo["pvalue_low"] <= loo["pvalue"] <= loo["pvalue_high"]
    holm = panel.table[panel.table["choice"] == "holm adjustment"].iloc[0]
    assert holm["pvalue"] >= panel.table["pvalue"].iloc[0]  # adjusting never lowers p


def test_worsening_floor_changes_the_data_it_should(example_run):
    panel = example_run.robustness[0]
    row = panel.table[panel.table["group"] == "worsening"].iloc[0]
    negative = int((example_run.analysis_data["relief_pct"] < 0).sum())
    assert negative > 0 and row["note"] == f"{negative} patients' relief changes"


def test_singular_fit_is_reported_not_a_crash(singular_review):
    run = run_review(singular_review)
    primary = run.models["primary"]
    assert primary.fit.is_singular
    assert run.icc == pytest.approx(0.0, abs=1e-8)


def test_single_patient_category(single_patient_category_review):
    run = run_review(single_patient_category_review)
    emmeans = run.models["primary"].emmeans.set_index("level")
    assert "PHN" in emmeans.index and np.isfinite(emmeans.loc["PHN", "se"])
    counts = run.analysis_data["diagnosis"].value_counts()
    assert counts["PHN"] == 1


def test_two_eligible_studies_pooled_with_a_caveat(two_eligible_studies_review):
    run = run_review(two_eligible_studies_review)
    assert run.two_stage.k == 2
    assert "only 2 studies are eligible" in run.two_stage.note


def test_one_eligible_study_explained(one_eligible_study_review):
    run = run_review(one_eligible_study_review)
    assert run.two_stage.result is None
    assert "needs 2 or more, so none was run" in run.two_stage.note
    assert int(run.two_stage.studies["included"].astype(bool).sum()) == 1
    loo = run.robustness[0].leave_one_out
    # leaving out the only study with several patients leaves too little to fit: a note
    assert loo["pvalue"].isna().any() and loo["note"].str.len().gt(0).any()


def test_unknown_formula_variable_names_it(tmp_path, singular_review):
    (singular_review / "review.toml").write_text(
        '[[models]]\nname = "m"\nformula = "relief_pct ~ diagnosys + (1 | study_id)"\n'
        'factor = "diagnosys"\n'
    )
    with pytest.raises(ModelSpecError, match="uses 'diagnosys', which is not a column"):
        run_review(singular_review)


def test_missing_category_map_named_in_spec(singular_review):
    (singular_review / "review.toml").write_text('[data]\ncategory_maps = ["mine.csv"]\n')
    with pytest.raises(SpecError, match=r"the category map 'mine\.csv' is not in"):
        run_review(singular_review)


def test_two_headlines_share_the_leave_one_out_refits(singular_review):
    spec = (singular_review / "review.toml").read_text()
    (singular_review / "review.toml").write_text(
        spec.replace('headline = ["TN - DPS"]', 'headline = ["TN - DPS", "AD - TN"]')
    )
    run = run_review(singular_review)
    first, second = run.robustness
    assert (first.contrast, second.contrast) == ("TN - DPS", "AD - TN")
    assert list(first.leave_one_out["left_out"]) == list(second.leave_one_out["left_out"])
    # Each left-out study's refit gives each contrast as a direct fit without it does.
    study = first.leave_one_out["left_out"].iloc[0]
    data = run.analysis_data[run.analysis_data["study_id"] != study]
    refit = mixed.lmm("relief_pct ~ diagnosis + (1 | study_id)", data)
    table = refit.pairwise("diagnosis", adjust="none", ddf="satterthwaite")
    for panel in (first, second):
        expected = contrast_summary(table, panel.contrast)
        got = panel.leave_one_out.iloc[0]
        assert got["estimate"] == pytest.approx(expected["estimate"], rel=1e-12)
        assert got["pvalue"] == pytest.approx(expected["pvalue"], rel=1e-12)


def test_single_workbook_folder_runs_as_validate_reads_it(tmp_path):
    # A reviewer's one workbook (Patients and Studies sheets), no review.toml.
    folder = tmp_path / "workbook-review"
    folder.mkdir()
    patients = pd.read_csv(EXAMPLE / "patients.csv")
    studies = pd.read_csv(EXAMPLE / "studies.csv")
    with pd.ExcelWriter(folder / "extraction.xlsx") as book:
        patients.to_excel(book, sheet_name="Patients", index=False)
        studies.to_excel(book, sheet_name="Studies", index=False)
    (folder / "categories.csv").write_bytes((EXAMPLE / "categories.csv").read_bytes())
    run = run_review(folder)
    assert run.summary.n_patients == 140
    assert run.data.studies is not None and len(run.data.studies) == 23


def test_named_data_file_that_is_missing_names_the_key(singular_review):
    spec = singular_review / "review.toml"
    spec.write_text('[data]\nstudies = "papers.csv"\n' + spec.read_text())
    with pytest.raises(SpecError, match=r"\[data\] studies = 'papers.csv', but .* is not a file"):
        run_review(singular_review)


def test_studies_empty_string_means_none(singular_review):
    spec = singular_review / "review.toml"
    spec.write_text('[data]\nstudies = ""\n' + spec.read_text())
    assert run_review(singular_review).data.studies is None


def test_run_shows_its_headlines_not_its_tables(example_run):
    text = repr(example_run)
    assert text.startswith("<ReviewRun of ")
    assert "23 studies, 140 patients" in text
    assert "primary: TN - DPS = " in text and "analysis choices" in text
    assert "responders: TN / DPS = odds ratio " in text
    assert "Responders (relief >= 50 %): 80.7 % of patients; pooled over studies" in text
    assert len(text.splitlines()) == 7  # no DataFrame dumps
    shown = example_run._repr_html_()
    assert shown.startswith('<div class="ipdmeta-result">') and "Review run of" in shown
    assert shown.count("<table") == len(example_run.models)  # each model's fixed effects


def test_reference_levels_set_the_comparisons(singular_review):
    spec = singular_review / "review.toml"
    spec.write_text(spec.read_text() + '\n[reference]\ndiagnosis = "TN"\n')
    run = run_review(singular_review)
    terms = list(run.models["primary"].fixed_effects["term"])
    assert terms == ["Intercept", "diagnosis[T.AD]", "diagnosis[T.DPS]"]
    direct = mixed.lmm(
        "relief_pct ~ C(diagnosis, Treatment('TN')) + (1 | study_id)", run.analysis_data
    ).fixed_effects()
    np.testing.assert_allclose(
        run.models["primary"].fixed_effects["estimate"], direct["estimate"], rtol=1e-12
    )  # the same model, parametrised the same way: equal to rounding


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('diagnosis = "TM"', "has no level 'TM'; levels: AD, DPS, TN"),
        ('diagnosys = "TN"', "'diagnosys' is not a column"),
        ('age = "50"', "age is a number, not a factor"),
    ],
)
def test_a_bad_reference_level_is_named(singular_review, entry, message):
    spec = singular_review / "review.toml"
    spec.write_text(spec.read_text() + f"\n[reference]\n{entry}\n")
    with pytest.raises(SpecError, match=message):
        run_review(singular_review)


def test_a_run_never_imports_the_optimisers_module(tmp_path):
    """scipy.optimize takes about 0.1 s to import, a twentieth of a run on the example;
    the run's fits and roots do without it (a fallback imports it when needed)."""
    code = (
        "import sys, ipdmeta\n"
        f"ipdmeta.run({str(EXAMPLE)!r}, {str(tmp_path / 'out')!r}, progress=False)\n"
        "print('scipy.optimize' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
