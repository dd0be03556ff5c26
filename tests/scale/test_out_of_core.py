"""mixed.lmm on Parquet files and Dask DataFrames: the same fit as on a pandas DataFrame,
with a Dask LocalCluster started here (in this process, to be quick), with the default
cluster the fit starts itself, and with every kind of bad input refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import DataError, ModelSpecError

FORMULA = "y ~ arm + age + (1 + age | study)"
RTOL = 1e-6  # as tests/mixed/test_study_blocks.py: two independent searches for theta


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    studies, per = 40, 60
    study = np.repeat([f"study{i:02d}" for i in range(studies)], per)
    arm = rng.choice(["control", "active"], study.size)
    age = rng.normal(0, 1, study.size)
    u = rng.normal(0, [2.0, 0.5], (studies, 2))
    y = (10 + 1.5 * (arm == "active") + 0.8 * age + u[:, 0].repeat(per)
         + u[:, 1].repeat(per) * age + rng.normal(0, 2, study.size))  # fmt: skip
    w = rng.uniform(0.5, 2.0, study.size)
    data = pd.DataFrame({"study": study, "arm": arm, "age": age, "y": y, "w": w})
    data.loc[[5, 77, 300], "age"] = np.nan  # dropped and counted, as a pandas fit does
    return data


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory, trial: pd.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("parquet")
    # Rows shuffled across files: a study's patients are in several partitions.
    shuffled = trial.sample(frac=1.0, random_state=3)
    for i in range(5):
        shuffled.iloc[i::5].to_parquet(folder / f"part{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def pooled(trial: pd.DataFrame) -> mixed.LmmResult:
    return mixed.lmm(FORMULA, trial)


def _same_fit(a: mixed.LmmResult, b: mixed.LmmResult) -> None:
    assert a.nobs == b.nobs and a.n_dropped == b.n_dropped
    table = b.fixed_effects()
    assert list(a.coef.index) == list(b.coef.index)
    scale = np.maximum(np.abs(b.coef.to_numpy()), table["se"].to_numpy())
    assert np.all(np.abs(a.coef.to_numpy() - b.coef.to_numpy()) <= RTOL * scale)
    np.testing.assert_allclose(a.fixed_effects()["df"], table["df"], rtol=RTOL)
    np.testing.assert_allclose(
        a.variance_components["variance"], b.variance_components["variance"], rtol=RTOL
    )


def test_parquet_files_on_a_cluster_give_the_pandas_fit(parquet, pooled) -> None:
    from distributed import LocalCluster

    messages: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:  # fmt: skip
        fit = mixed.lmm(FORMULA, str(parquet / "*.parquet"),
                        scheduler=cluster.scheduler_address, progress=messages.append)  # fmt: skip
    _same_fit(fit, pooled)
    assert messages[0] == "pass 1 of 2: factor levels"
    assert messages[-1].endswith("partitions summarised")


def test_a_dask_dataframe_and_the_default_cluster(trial, pooled) -> None:
    import dask.dataframe as dd

    frame = dd.from_pandas(trial, npartitions=4)
    _same_fit(mixed.lmm(FORMULA, frame), pooled)  # starts and closes its own LocalCluster
    _same_fit(mixed.lmm(FORMULA, frame, scheduler="synchronous"), pooled)


def test_weights_and_an_offset_on_parquet(parquet, trial) -> None:
    formula = "y ~ arm + offset(age / 2) + (1 + age | study)"
    fit = mixed.lmm(formula, str(parquet / "*.parquet"), weights="w", scheduler="synchronous")
    _same_fit(fit, mixed.lmm(formula, trial, weights="w"))
    np.testing.assert_allclose(
        fit.emmeans("arm")["emmean"],
        mixed.lmm(formula, trial, weights="w").emmeans("arm")["emmean"],
        rtol=RTOL,
    )


def test_an_ml_fit_and_one_file(tmp_path, trial) -> None:
    one = tmp_path / "all.parquet"
    trial.to_parquet(one, index=False)
    fit = mixed.lmm(FORMULA, one, reml=False, scheduler="synchronous")
    _same_fit(fit, mixed.lmm(FORMULA, trial, reml=False))


@pytest.mark.parametrize(
    ("data", "kwargs", "error", "message"),
    [
        ("missing/*.parquet", {}, DataError, "no Parquet file"),
        ("README.md", {}, DataError, "cannot be read as Parquet"),
        ("PARQUET", {"scheduler": "localhost:8786"}, ModelSpecError, "tcp://host:8786"),
        ("PARQUET", {"weights": [1.0, 2.0]}, ModelSpecError, "given as a column name"),
        ("PARQUET", {"weights": "nowhere"}, ModelSpecError, "unknown variable 'nowhere'"),
    ],
)
def test_bad_input_is_named(parquet, data, kwargs, error, message) -> None:
    path = str(parquet / "*.parquet") if data == "PARQUET" else data
    if data == "README.md":
        path = str(Path(__file__).resolve().parents[2] / "README.md")
    with pytest.raises(error, match=message):
        mixed.lmm(FORMULA, path, **kwargs)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("y ~ arm + (1 | study) + (1 | arm)", "grouped by one factor"),
        ("y ~ arm + weight + (1 | study)", "unknown variable 'weight'"),
    ],
)
def test_formulas_the_out_of_core_path_cannot_take(parquet, formula, message) -> None:
    with pytest.raises(ModelSpecError, match=message):
        mixed.lmm(formula, str(parquet / "*.parquet"), scheduler="synchronous")


def test_the_fit_command_on_parquet_and_on_a_review_folder(parquet, pooled, run_cli) -> None:
    import json

    result = run_cli("fit", str(parquet / "*.parquet"), "--formula", FORMULA, "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["nobs"] == pooled.nobs and out["n_dropped"] == pooled.n_dropped
    estimates = [row["estimate"] for row in out["fixed_effects"]]
    np.testing.assert_allclose(estimates, pooled.coef.to_numpy(), rtol=1e-6)
    assert "pass 1 of 2" in result.err  # progress on stderr, the JSON alone on stdout

    from tests.conftest import EXAMPLE

    text = run_cli("fit", EXAMPLE, "--formula", "relief_pct ~ diagnosis + (1 | study_id)")
    assert text.code == 0 and "Linear mixed model fit by REML" in text.out
    wrong = run_cli("fit", EXAMPLE, "--formula", "relief_pct ~ 1 + (1 | study_id)",
                    "--scheduler", "tcp://127.0.0.1:8786")  # fmt: skip
    assert wrong.code == 2 and "--scheduler applies to Parquet" in wrong.err
    missing = run_cli("fit", str(parquet / "none*.parquet"), "--formula", FORMULA)
    assert missing.code == 2 and "no Parquet file" in missing.err


def test_the_fit_command_gives_anova_and_marginal_means(parquet, pooled, run_cli) -> None:
    """From Parquet (a fit from per-study blocks) as from the rows: lmerTest's type III
    F-tests and emmeans' marginal means and pairwise differences, with --ddf and
    --adjust as asked."""
    import json

    result = run_cli("fit", str(parquet / "*.parquet"), "--formula", FORMULA, "--json",
                     "--quiet", "--anova", "--emmeans", "arm", "--adjust", "holm")  # fmt: skip
    assert result.code == 0, result.err
    out = json.loads(result.out)
    anova = pooled.anova()
    assert [row["term"] for row in out["anova"]] == list(anova["term"]) == ["arm", "age"]
    np.testing.assert_allclose([row["F"] for row in out["anova"]], anova["F"], rtol=RTOL)
    means = pooled.emmeans("arm", ddf="satterthwaite")
    assert [row["level"] for row in out["emmeans"]] == list(means["level"])
    np.testing.assert_allclose([row["emmean"] for row in out["emmeans"]], means["emmean"],
                               rtol=RTOL)  # fmt: skip
    pairs = pooled.pairwise("arm", adjust="holm", ddf="satterthwaite")
    assert [row["contrast"] for row in out["pairwise"]] == list(pairs["contrast"])
    # A p-value far in the tail moves by about t^2 times the estimates' relative error.
    np.testing.assert_allclose([row["pvalue"] for row in out["pairwise"]], pairs["pvalue"],
                               rtol=1e-4)  # fmt: skip

    from tests.conftest import EXAMPLE

    formula = "relief_pct ~ diagnosis + (1 | study_id)"
    text = run_cli("fit", EXAMPLE, "--formula", formula, "--quiet", "--anova",
                   "--emmeans", "diagnosis", "--ddf", "kenward-roger")  # fmt: skip
    assert text.code == 0, text.err
    assert "Type III F-tests (kenward-roger df):" in text.out
    assert "Marginal means of diagnosis (kenward-roger df)" in text.out
    assert "DPS - TN" in text.out and "(tukey adjustment)" in text.out
    unknown = run_cli("fit", EXAMPLE, "--formula", "relief_pct ~ diagnosis + (1 | study_id)",
                      "--emmeans", "lesion")  # fmt: skip
    assert unknown.code == 2 and "'lesion' is not a variable of the fixed part" in unknown.err
    assert "Traceback" not in unknown.err


def test_the_fit_command_prints_strict_json(run_cli) -> None:
    """Asymptotic tests have infinite df: JSON has no Infinity, so they are null (as in
    results.json), and every reader can parse the output."""
    import json

    from tests.conftest import EXAMPLE

    result = run_cli("fit", EXAMPLE, "--formula", "relief_pct ~ diagnosis + (1 | study_id)",
                     "--ddf", "asymptotic", "--json", "--quiet", "--anova")  # fmt: skip
    assert result.code == 0, result.err

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    out = json.loads(result.out, parse_constant=refuse)
    assert out["fixed_effects"][0]["df"] is None and out["anova"][0]["den_df"] is None
    assert isinstance(out["nobs"], int)
