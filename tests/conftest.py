"""Shared helpers: write small data files and run the command line as a user would."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipdmeta.cli import main
from ipdmeta.simulate import Covariate, SimulationDesign, simulate_review

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "imcs-cnop"

PATIENT_HEADER = (
    "study_id,patient_id,diagnosis,lesion_location,age,sex,pain_scale,pain_pre,pain_post"
)


def copy_example(tmp_path: Path) -> Path:
    """The example review's input files (not its report) copied into ``tmp_path``, to
    change one thing in."""
    folder = tmp_path / "review"
    folder.mkdir()
    for name in ("review.toml", "patients.csv", "studies.csv", "quality.csv", "categories.csv"):
        (folder / name).write_bytes((EXAMPLE / name).read_bytes())
    return folder


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    def write_file(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write_file


def edit_sheet_xml(workbook: bytes, change: Callable[[str], str]) -> bytes:
    """The workbook with its first sheet's XML changed, as Excel (or damage) leaves it."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data.decode()).encode()
            target.writestr(item, data)
    return out.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def patients_csv(*rows: str, header: str = PATIENT_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- simulated review folders with awkward shapes (all simulated data) ---

REVIEW_SPEC = """
[report]
title = "Simulated review"

[[models]]
name = "primary"
formula = "relief_pct ~ diagnosis + (1 | study_id)"
factor = "diagnosis"
headline = ["TN - DPS"]

[confounders]
candidates = ["age"]
model = "primary"

[sensitivity]
leave_one_study_out = true
"""


def write_review(
    folder: Path, design: SimulationDesign, seed: int, spec: str = REVIEW_SPEC
) -> Path:
    """Write a simulated review (patients, studies, quality, review.toml) into ``folder``."""
    review = simulate_review(design, seed=seed)
    review.write(folder)
    (folder / "review.toml").write_text(spec)
    return folder


BASE = dict(
    categories={"diagnosis": {"TN": 0.4, "DPS": 0.3, "AD": 0.3}},
    effects={"diagnosis": {"TN": 15.0, "DPS": -10.0}},
    covariates={"age": Covariate(mean=55.0, sd=12.0, lower=18, upper=90, decimals=0)},
)


@pytest.fixture
def singular_review(tmp_path: Path) -> Path:
    # No between-study variation at all: the REML estimate of tau2 is 0 (a singular fit).
    design = SimulationDesign(n_studies=12, n_patients=90, between_study_sd=0.0,
                              residual_sd=20.0, **BASE)  # fmt: skip
    return write_review(tmp_path / "singular", design, seed=11)


@pytest.fixture
def small_review(tmp_path: Path) -> Path:
    # Eight studies, 48 patients: small enough to run the whole pipeline in a second or two.
    design = SimulationDesign(n_studies=8, n_patients=48, **BASE)
    return write_review(tmp_path / "small", design, seed=4)


@pytest.fixture
def two_eligible_studies_review(tmp_path: Path) -> Path:
    # Three studies, one a case report: two studies are eligible for the two-stage analysis.
    design = SimulationDesign(n_studies=3, n_patients=14, study_size_skew=4.0, **BASE)
    return write_review(tmp_path / "two", design, seed=5)


@pytest.fixture
def one_eligible_study_review(tmp_path: Path) -> Path:
    # Four studies of sizes 5, 1, 1, 1: only one study is eligible for two-stage.
    design = SimulationDesign(n_studies=4, n_patients=8, study_size_skew=6.0, **BASE)
    return write_review(tmp_path / "one", design, seed=2)


@pytest.fixture
def single_patient_category_review(tmp_path: Path) -> Path:
    import pandas as pd

    design = SimulationDesign(n_studies=10, n_patients=70, **BASE)
    folder = write_review(tmp_path / "single", design, seed=3)
    patients = pd.read_csv(folder / "patients.csv")
    patients.loc[5, "diagnosis"] = "PHN"  # the only patient with post-herpetic neuralgia
    patients.to_csv(folder / "patients.csv", index=False)
    return folder
