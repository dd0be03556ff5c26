"""Write the simulated IPD data sets behind the mixed-model reference values.

Run from the repository root::

    .venv/bin/python tests/reference/make_mixed_data.py

It writes one CSV per data set into ``tests/reference/mixed/data/`` and a README there
saying how each was made (``ipdmeta.simulate`` design, seed and any post-processing).
``tests/reference/lme4_reference.R`` then fits them in R. Everything here is simulated;
no row is a real patient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ipdmeta.simulate import Covariate, SimulationDesign, simulate_ipd

OUT = Path(__file__).resolve().parent / "mixed" / "data"

DIAGNOSIS = {"TN": 0.3, "TNP": 0.2, "PHN": 0.1, "AD": 0.1, "central": 0.15, "DPS": 0.15}
LESION = {"trigeminal": 0.45, "supranuclear": 0.3, "none": 0.15, "unknown": 0.1}
SEX = {"F": 0.6, "M": 0.4}
AGE = Covariate(mean=55.0, sd=12.0, slope=0.1, lower=18.0, upper=90.0, decimals=0)


@dataclass(frozen=True)
class DataSet:
    name: str
    design: SimulationDesign
    seed: int
    post: Callable[[pd.DataFrame, int], pd.DataFrame] | None
    post_note: str
    note: str


def _clip(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 100.0)


def _single_patient(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    # The design draws no "AD"; one patient chosen at random is moved into it.
    rng = np.random.default_rng([seed, 101])
    out = df.copy()
    out.loc[out.index[rng.integers(len(out))], "diagnosis"] = "AD"
    return out


def _crossed(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    # Centres cut across studies: each patient's centre is drawn independently of the study.
    rng = np.random.default_rng([seed, 202])
    out = df.copy()
    centres = np.array([f"C{i}" for i in range(1, 9)], dtype=object)
    idx = rng.integers(len(centres), size=len(out))
    shift = rng.normal(0.0, 8.0, size=len(centres))
    out.insert(1, "centre", centres[idx])
    out["relief_pct"] = _clip(out["relief_pct"].to_numpy() + shift[idx])
    return out


def _nested(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    # Surgeons "A".."C" are nested in studies: the same letter in two studies is two people.
    rng = np.random.default_rng([seed, 303])
    out = df.copy()
    surgeon = np.empty(len(out), dtype=object)
    shift = np.zeros(len(out))
    for study, rows in out.groupby("study_id", sort=False).indices.items():
        k = int(rng.integers(1, 4))
        labels = np.array(["A", "B", "C"][:k], dtype=object)
        pick = rng.integers(k, size=len(rows))
        surgeon[rows] = labels[pick]
        shift[rows] = rng.normal(0.0, 12.0, size=k)[pick]
        del study
    out.insert(1, "surgeon", surgeon)
    out["relief_pct"] = _clip(out["relief_pct"].to_numpy() + shift)
    return out


def _review_design(**changes: object) -> SimulationDesign:
    base: dict[str, object] = {
        "n_studies": 23,
        "n_patients": 140,
        "study_size_skew": 1.5,
        "categories": {"diagnosis": DIAGNOSIS, "lesion_location": LESION, "sex": SEX},
        "effects": {
            "diagnosis": {"TN": 15.0, "DPS": -10.0},
            "lesion_location": {"supranuclear": 8.0},
        },
        "intercept": 60.0,
        "between_study_sd": 12.0,
        "residual_sd": 25.0,
        "covariates": {"age": AGE},
        "floor": 0.0,
        "ceiling": 100.0,
        "missing": {"age": 0.05},
    }
    base.update(changes)
    return SimulationDesign(**base)  # type: ignore[arg-type]


DATA_SETS = [
    DataSet(
        "ipd_review",
        _review_design(),
        seed=2020,
        post=None,
        post_note="none",
        note="shaped like the published review: 23 studies, 140 patients, 6 diagnoses, "
        "lesion location, age (5% missing), sex",
    ),
    DataSet(
        "ipd_singular",
        _review_design(
            n_studies=12,
            n_patients=80,
            categories={"diagnosis": DIAGNOSIS, "sex": SEX},
            effects={"diagnosis": {"TN": 15.0, "DPS": -10.0}},
            missing={},
            between_study_sd=0.0,
        ),
        seed=3,
        post=None,
        post_note="none",
        note="between-study SD 0; the seed is one for which lme4 reports isSingular TRUE",
    ),
    DataSet(
        "ipd_single_patient",
        _review_design(
            categories={
                "diagnosis": {"TN": 0.35, "TNP": 0.2, "PHN": 0.1, "central": 0.2, "DPS": 0.15},
                "sex": SEX,
            },
            effects={"diagnosis": {"TN": 15.0, "DPS": -10.0}},
            missing={},
        ),
        seed=7,
        post=_single_patient,
        post_note="one patient drawn with numpy default_rng([seed, 101]) set to diagnosis 'AD' "
        "(a level of a single patient)",
        note="a diagnosis level with one patient",
    ),
    DataSet(
        "ipd_crossed",
        _review_design(
            n_studies=30,
            n_patients=300,
            study_size_skew=0.8,
            categories={"diagnosis": DIAGNOSIS, "sex": SEX},
            effects={"diagnosis": {"TN": 15.0, "DPS": -10.0}},
            missing={},
        ),
        seed=11,
        post=_crossed,
        post_note="column centre (C1..C8) drawn per patient with numpy default_rng([seed, 202]), "
        "independent of study; a centre shift N(0, 8^2) added to relief_pct, then clipped "
        "to [0, 100]",
        note="crossed grouping: study_id and centre",
    ),
    DataSet(
        "ipd_nested",
        _review_design(
            n_studies=20,
            n_patients=240,
            study_size_skew=0.8,
            categories={"diagnosis": DIAGNOSIS, "sex": SEX},
            effects={"diagnosis": {"TN": 15.0, "DPS": -10.0}},
            missing={},
        ),
        seed=14,
        post=_nested,
        post_note="column surgeon: each study gets 1-3 surgeons labelled A, B, C (labels reused "
        "across studies) with numpy default_rng([seed, 303]); a surgeon shift N(0, 12^2) added "
        "to relief_pct, then clipped to [0, 100]",
        note="nested grouping: surgeon within study_id",
    ),
]


def _describe(design: SimulationDesign) -> str:
    cats = {k: dict(v) for k, v in design.categories.items()}  # type: ignore[call-overload]
    covs = {k: vars(v) for k, v in design.covariates.items()}
    return (
        f"n_studies={design.n_studies}, n_patients={design.n_patients}, "
        f"study_size_skew={design.study_size_skew}, categories={cats}, "
        f"effects={dict(design.effects)}, intercept={design.intercept}, "
        f"between_study_sd={design.between_study_sd}, residual_sd={design.residual_sd}, "
        f"covariates={covs}, floor={design.floor}, ceiling={design.ceiling}, "
        f"missing={dict(design.missing)}"
    )


def _write(path: Path, text: str) -> None:
    # write then rename, so that an interrupted run never leaves half a file
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Simulated data sets for the mixed-model references",
        "",
        "Written by `tests/reference/make_mixed_data.py`; fitted in R by",
        "`tests/reference/lme4_reference.R`. Every row is simulated by `ipdmeta.simulate`;",
        "none is a real patient. Missing values are empty fields.",
        "",
    ]
    for ds in DATA_SETS:
        df = simulate_ipd(ds.design, seed=ds.seed)
        if ds.post is not None:
            df = ds.post(df, ds.seed)
        _write(OUT / f"{ds.name}.csv", df.to_csv(index=False, lineterminator="\n"))
        sizes = df.groupby("study_id").size()
        lines += [
            f"## {ds.name}.csv",
            "",
            f"simulated by ipdmeta.simulate, seed {ds.seed}, design {ds.note}.",
            "",
            f"- design: `SimulationDesign({_describe(ds.design)})`",
            f"- post-processing: {ds.post_note}",
            f"- rows: {len(df)}; studies: {sizes.size}; studies of 1-5 patients: "
            f"{int((sizes <= 5).sum())}",
            "",
        ]
    _write(OUT / "README.md", "\n".join(lines))


if __name__ == "__main__":
    main()
