"""Federated fits: the coordinator's plan, each site's summary under its disclosure rules,
and the fit from the summaries, which equals the fit on the pooled rows. Run through the
command line as a coordinator and four sites would, on the example review split by study.

Tolerance as in tests/mixed/test_study_blocks.py: the pooled and the federated fits search
theta independently; estimates agree at rtol 1e-6 of max(|value|, SE).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed, scale
from ipdmeta.cli import main
from ipdmeta.data.load import load_review
from ipdmeta.errors import DisclosureError, ModelSpecError
from ipdmeta.scale.signed import write_signed
from tests.conftest import EXAMPLE, digest

FORMULA = "relief_pct ~ diagnosis + age + (1 | study_id)"
LEVELS = "diagnosis=TN,AD,DPS,PHN,TNP,central"
RTOL = 1e-6


def _sites(tmp_path: Path, count: int = 4) -> list[Path]:
    """The example's patients split by study into ``count`` site folders, each with the
    review's category map, as a site keeps its own data."""
    raw = pd.read_csv(EXAMPLE / "patients.csv", dtype=str, keep_default_na=False)
    studies = sorted(raw["study_id"].unique())
    folders = []
    for i in range(count):
        folder = tmp_path / f"site{i + 1}"
        folder.mkdir()
        raw[raw["study_id"].isin(studies[i::count])].to_csv(folder / "patients.csv", index=False)
        (folder / "categories.csv").write_bytes((EXAMPLE / "categories.csv").read_bytes())
        folders.append(folder)
    return folders


@pytest.fixture
def federation(tmp_path: Path, made_once: Path) -> tuple[Path, list[Path]]:
    """A plan, four site folders and their summaries, made once through the command line
    (below) and copied for each test, which may change them."""
    for item in made_once.iterdir():
        target = tmp_path / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy(item, target)
    return tmp_path / "plan.json", [tmp_path / f"s{i + 1}.json" for i in range(4)]


@pytest.fixture(scope="module")
def made_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("federation")
    plan = folder / "plan.json"
    made = main(["federated", "plan", "--formula", FORMULA, "--levels", LEVELS,
                 "--min-cell", "1", "--min-study", "1", "--out", str(plan)])  # fmt: skip
    assert made == 0
    for i, site in enumerate(_sites(folder)):
        out = folder / f"s{i + 1}.json"
        assert main(["site", "summarise", str(site), "--plan", str(plan), "--out", str(out)]) == 0
    return folder


def _pooled() -> mixed.LmmResult:
    patients = load_review(EXAMPLE).patients.copy()
    order = LEVELS.split("=")[1].split(",")
    patients["diagnosis"] = pd.Categorical(patients["diagnosis"], categories=order)
    return mixed.lmm(FORMULA, patients)


def test_the_federated_fit_is_the_pooled_fit(federation, run_cli) -> None:
    plan, summaries = federation
    result = run_cli("federated", "fit", plan, *summaries, "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    pooled = _pooled()
    table = pooled.fixed_effects(ddf="satterthwaite")
    fixed = pd.DataFrame(out["fixed_effects"])
    assert list(fixed["term"]) == list(table["term"])
    scale_ = np.maximum(np.abs(table["estimate"]), table["se"])
    assert np.all(np.abs(fixed["estimate"] - table["estimate"]) <= RTOL * scale_)
    for column in ("se", "df"):
        np.testing.assert_allclose(fixed[column], table[column], rtol=RTOL)
    np.testing.assert_allclose(fixed["pvalue"], table["pvalue"], rtol=1e-5)
    variances = pd.DataFrame(out["variance_components"])
    assert list(variances["group"]) == ["study_id", "Residual"]
    np.testing.assert_allclose(
        variances["variance"], pooled.variance_components["variance"], rtol=RTOL
    )
    assert out["sites"] == 4 and out["studies"] == 23 and out["patients"] == pooled.nobs
    two_stage = pd.DataFrame(out["two_stage"])
    assert list(two_stage["term"]) == list(table["term"])
    assert (two_stage["k"] >= 2).all()


def test_two_stage_pools_each_studys_own_fit(federation) -> None:
    plan_path, summaries = federation
    fit = scale.fit_federated(scale.read_plan(plan_path), summaries)
    patients = load_review(EXAMPLE).patients
    # The age slope of each study's own least-squares fit, by hand, for one study.
    rows = patients[patients["study_id"] == "S21"].dropna(subset=["age", "relief_pct", "diagnosis"])
    X = pd.get_dummies(pd.Categorical(rows["diagnosis"], categories=LEVELS[10:].split(",")),
                       drop_first=True).loc[:, lambda f: f.any()].astype(float)  # fmt: skip
    X.insert(0, "Intercept", 1.0)
    X["age"] = rows["age"].to_numpy()
    beta, *_ = np.linalg.lstsq(X.to_numpy(), rows["relief_pct"].to_numpy(), rcond=None)
    from ipdmeta.scale.two_stage import study_estimates

    own = study_estimates(fit.blocks)
    age = own[(own["study"] == "S21") & (own["term"] == "age")]["estimate"].iloc[0]
    assert age == pytest.approx(beta[-1], rel=1e-8)
    assert "Two-stage" in fit.text() and "One-stage" in fit.text()


def test_show_prints_what_is_shared_and_writes_nothing(tmp_path, federation, run_cli) -> None:
    plan, _ = federation
    site = tmp_path / "site1"
    before = digest(site / "patients.csv")
    shown = run_cli("site", "summarise", site, "--plan", plan, "--show")
    assert shown.code == 0
    assert "Shared for each study" in shown.out and "diagnosis[T.AD]" in shown.out
    assert "S01" in shown.out and "S05" in shown.out
    assert digest(site / "patients.csv") == before
    assert not list(tmp_path.glob("site1/*.json"))
    missing = run_cli("site", "summarise", site, "--plan", plan)
    assert missing.code == 2 and "--out" in missing.err


def test_disclosure_rules_name_the_rule_the_study_and_the_cell(tmp_path, run_cli) -> None:
    plan = tmp_path / "plan.json"
    run_cli("federated", "plan", "--formula", FORMULA, "--levels", LEVELS, "--out", plan)
    site = _sites(tmp_path, count=1)[0]
    result = run_cli("site", "summarise", site, "--plan", plan, "--out", tmp_path / "s.json")
    assert result.code == 2 and "Traceback" not in result.err
    assert "min_patients_per_study" in result.err and "study 'S03' has 3 patients" in result.err
    assert "min_patients_per_cell" in result.err and "with diagnosis = " in result.err
    assert not (tmp_path / "s.json").exists()


def test_interaction_cells_are_checked_too() -> None:
    rng = np.random.default_rng(1)
    n = 60
    data = pd.DataFrame({
        "study_id": np.repeat(["A", "B"], n // 2),
        "sex": np.tile(["F", "M"], n // 2),
        "arm": np.where(np.arange(n) % 10 == 0, "new", "old"),
        "y": rng.normal(size=n),
    })  # fmt: skip
    plan = scale.make_plan("y ~ arm * sex + (1 | study_id)",
                           {"arm": ["old", "new"], "sex": ["F", "M"]}, min_cell=2)  # fmt: skip
    breaches = scale.disclosure_breaches(plan, data)
    # 'new' has 3 patients per study, all F (rows 0, 10, 20 are even): fine alone, but the
    # cell arm = new and sex = F is fine too; make one study's cell a single patient.
    assert breaches == []
    data.loc[0, "arm"] = "old"
    data.loc[10, "sex"] = "M"
    with pytest.raises(DisclosureError, match="arm = new and sex = M"):
        scale.summarise_site(plan, data)


def test_summaries_that_cannot_be_trusted_are_refused(tmp_path, federation, run_cli) -> None:
    plan, summaries = federation
    changed = tmp_path / "changed.json"
    body = json.loads(summaries[0].read_text())
    body["patients"][0] += 1
    changed.write_text(json.dumps(body))
    result = run_cli("federated", "fit", plan, changed, *summaries[1:])
    assert result.code == 2 and "was changed after it was written" in result.err

    other_plan = tmp_path / "other.json"
    reordered = "diagnosis=AD,TN,DPS,PHN,TNP,central"
    run_cli("federated", "plan", "--formula", FORMULA, "--levels", reordered,
            "--min-cell", "1", "--min-study", "1", "--out", other_plan)  # fmt: skip
    result = run_cli("federated", "fit", other_plan, *summaries)
    assert result.code == 2 and "made for another plan" in result.err

    body = json.loads(summaries[0].read_text())
    body.pop("checksum")
    body["ipdmeta"] = "0.0.1"
    write_signed(tmp_path / "old.json", body)
    result = run_cli("federated", "fit", plan, tmp_path / "old.json", *summaries[1:])
    assert result.code == 2 and "made by ipdmeta 0.0.1" in result.err

    result = run_cli("federated", "fit", plan, summaries[0], summaries[1], summaries[0])
    assert result.code == 2 and "is in both" in result.err

    result = run_cli("federated", "fit", summaries[0], *summaries)
    assert result.code == 2 and "not a federated plan" in result.err

    (tmp_path / "broken.json").write_text("{not json")
    result = run_cli("federated", "fit", plan, tmp_path / "broken.json")
    assert result.code == 2 and "cannot be read" in result.err


def test_a_changed_plan_is_refused(tmp_path, federation, run_cli) -> None:
    plan, _ = federation
    body = json.loads(plan.read_text())
    body["rules"]["min_patients_per_cell"] = 1000
    plan.write_text(json.dumps(body))
    result = run_cli(
        "site", "summarise", tmp_path / "site1", "--plan", plan, "--out", tmp_path / "x.json"
    )
    assert result.code == 2 and "was changed after it was written" in result.err


def test_a_site_cannot_overwrite_its_inputs(tmp_path, federation, run_cli) -> None:
    plan, _ = federation
    before = digest(plan)
    result = run_cli("site", "summarise", tmp_path / "site1", "--plan", plan, "--out", plan)
    assert result.code == 2 and "is an input file" in result.err
    assert digest(plan) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formula", FORMULA, "--levels", "study_id=S01,S02"], "is the study"),
        (["--formula", FORMULA, "--levels", "smoker=yes,no"], "does not use"),
        (["--formula", FORMULA, "--levels", "diagnosis=TN,TN,AD"], "lists a level twice"),
        (["--formula", FORMULA, "--levels", "diagnosis=TN"], "at least two"),
        (["--formula", FORMULA, "--levels", "diagnosis"], "NAME=LEVEL1,LEVEL2"),
        (["--formula", "relief_pct ~ diagnosis + (1 | study_id) + (1 | sex)", "--levels", LEVELS],
         "grouped by one factor"),
        (["--formula", "relief_pct ~ poly(age, 2) + (1 | study_id)"], "write the transformation"),
        (["--formula", FORMULA, "--levels", LEVELS, "--min-cell", "0"], "min_cell"),
    ],
)  # fmt: skip
def test_plans_that_cannot_work_are_refused(tmp_path, run_cli, args, message) -> None:
    result = run_cli("federated", "plan", *args, "--out", tmp_path / "plan.json")
    assert result.code == 2, result.out
    assert message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "plan.json").exists()


def test_site_values_outside_the_plan_are_named(tmp_path) -> None:
    plan = scale.make_plan(FORMULA, {"diagnosis": ["TN", "AD"]}, min_cell=1, min_study=1)
    patients = load_review(EXAMPLE).patients
    with pytest.raises(ModelSpecError, match="not among the levels the model was planned with"):
        scale.summarise_site(plan, patients)
    typed = patients.assign(age=patients["age"].map(lambda a: f"{a:.1f}".replace(".", ",")))
    with pytest.raises(ModelSpecError, match="'age' holds text"):
        scale.summarise_site(scale.make_plan(FORMULA, {"diagnosis": LEVELS[10:].split(",")},
                                             min_cell=1, min_study=1), typed)  # fmt: skip


def test_a_plan_with_weights_and_an_offset(tmp_path) -> None:
    rng = np.random.default_rng(8)
    study = np.repeat([f"S{i}" for i in range(12)], 20)
    arm = np.tile(["a", "b"], 120)
    pre = rng.normal(50, 10, study.size)
    y = pre - 5 * (arm == "b") + np.repeat(rng.normal(0, 3, 12), 20) + rng.normal(0, 4, 240)
    data = pd.DataFrame({"study": study, "arm": arm, "pre": pre, "y": y,
                         "w": rng.uniform(0.5, 2, 240)})  # fmt: skip
    formula = "y ~ arm + offset(pre) + (1 | study)"
    plan = scale.make_plan(formula, {"arm": ["a", "b"]}, weights="w")
    paths = []
    for i, part in enumerate((data[data["study"] < "S4"], data[data["study"] >= "S4"])):
        paths.append(write_signed(tmp_path / f"s{i}.json", scale.summarise_site(plan, part)))
    fit = scale.fit_federated(plan, paths).one_stage
    rows = mixed.lmm(formula, data, weights="w")
    table = rows.fixed_effects()
    scale_ = np.maximum(np.abs(table["estimate"]), table["se"]).to_numpy()
    assert np.all(np.abs(fit.coef.to_numpy() - rows.coef.to_numpy()) <= RTOL * scale_)
    assert fit.loglik == pytest.approx(rows.loglik, rel=RTOL)
    assert fit.emmeans("arm")["emmean"].to_numpy() == pytest.approx(
        rows.emmeans("arm")["emmean"].to_numpy(), rel=RTOL
    )


def test_a_site_with_a_workbook_typed_as_clinicians_type(tmp_path, run_cli) -> None:
    """The messy example's workbook (title rows, merged study cells, '43y', '84%' cells,
    totals rows) summarises to the clean example's blocks, and the site is told how its
    cells were read before anything is written."""
    plan = tmp_path / "plan.json"
    run_cli("federated", "plan", "--formula", FORMULA, "--levels", LEVELS,
            "--min-cell", "1", "--min-study", "1", "--out", plan)  # fmt: skip
    messy = tmp_path / "messy"
    messy.mkdir()
    for name in ("extraction.xlsx", "categories.csv", "review.toml"):
        (messy / name).write_bytes((EXAMPLE / "messy" / name).read_bytes())
    result = run_cli("site", "summarise", messy, "--plan", plan, "--out", tmp_path / "m.json")
    assert result.code == 0, result.err
    assert "How the data were read" in result.err and "'43y' as 43 years" in result.err
    assert "formatted as percent in Excel read as the percent shown" in result.err
    clean = scale.summarise_site(scale.read_plan(plan), load_review(EXAMPLE).patients)
    made = json.loads((tmp_path / "m.json").read_text())
    assert made["studies"] == clean["studies"] and made["patients"] == clean["patients"]
    np.testing.assert_allclose(made["gram"], clean["gram"], rtol=1e-12, atol=1e-9)
