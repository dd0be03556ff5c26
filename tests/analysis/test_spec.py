"""review.toml: defaults, every documented key, and errors naming key, line and the
closest valid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipdmeta.analysis.spec import KEYS, load_spec, parse_spec
from ipdmeta.errors import SpecError
from tests.conftest import EXAMPLE, REPO

FOLDER = Path(".")


def _parse(text: str):
    return parse_spec(text, folder=FOLDER)


def test_example_spec_loads():
    spec = load_spec(EXAMPLE)
    assert [m.name for m in spec.models] == ["primary", "secondary", "responders"]
    assert spec.model("primary").headline == ("TN - DPS",)
    assert spec.inference.ddf == "satterthwaite" and spec.inference.also_adjust == ("holm",)
    assert spec.prisma.studies_included == 23


def test_folder_without_spec_gets_defaults(tmp_path):
    spec = load_spec(tmp_path)
    assert spec.model("primary").formula == "relief_pct ~ diagnosis + (1 | study_id)"
    assert spec.outcome.worsening == "keep" and spec.sensitivity.leave_one_study_out


def test_empty_text_gets_defaults():
    spec = _parse("")
    assert spec.inference.alpha == 0.05 and len(spec.models) == 2


def test_unknown_key_names_line_and_closest_key():
    text = "[inference]\nalpha = 0.05\nddff = 'satterthwaite'\n"
    with pytest.raises(
        SpecError, match=r"line 3: unknown key 'ddff' in \[inference\]; did you mean 'ddf'"
    ):
        _parse(text)


def test_unknown_table_names_line_and_closest_table():
    with pytest.raises(
        SpecError, match=r"line 2: unknown table \[heterogenity\]; did you mean 'heterogeneity'"
    ):
        _parse("\n[heterogenity]\nmethod = 'REML'\n")


def test_bad_value_names_key_line_and_expectation():
    text = "[heterogeneity]\nmethod = 'REML'\ntest = 't'\n"
    with pytest.raises(
        SpecError, match=r"line 3: bad value 't' for heterogeneity.test .*expected one of z, knha"
    ):
        _parse(text)


def test_model_key_error_points_into_the_right_model():
    text = (
        "[[models]]\nname = 'a'\nformula = 'y ~ x + (1 | s)'\nfactor = 'x'\n\n"
        "[[models]]\nname = 'b'\nformula = 'y ~ z + (1 | s)'\nfactr = 'z'\n"
    )
    with pytest.raises(
        SpecError, match=r"line 9: unknown key 'factr' in \[models\]; did you mean 'factor'"
    ):
        _parse(text)


def test_model_needs_name_formula_factor():
    with pytest.raises(SpecError, match="the model needs a 'factor'"):
        _parse("[[models]]\nname = 'a'\nformula = 'y ~ x + (1 | s)'\n")


def test_formula_is_kept_as_text_never_evaluated():
    spec = _parse(
        "[[models]]\nname = 'a'\nformula = \"__import__('os').system('false') ~ x\"\nfactor = 'x'\n"
    )
    assert spec.model("a").formula.startswith("__import__")


def test_confounder_model_must_exist():
    with pytest.raises(SpecError, match=r"confounders\.model names 'main'"):
        _parse("[confounders]\ncandidates = ['age']\nmodel = 'main'\n")


def test_duplicate_model_names():
    model = "[[models]]\nname = 'a'\nformula = 'y ~ x + (1 | s)'\nfactor = 'x'\n"
    with pytest.raises(SpecError, match="two models are named 'a'"):
        _parse(model + model)


def test_invalid_toml():
    with pytest.raises(SpecError, match="not valid TOML"):
        _parse("[inference\n")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[outcome]\nresponder_thresholds = [30, 140]\n", "expected a number from 0 to 100"),
        ("[outcome]\nworsening = 'clip'\n", "expected one of keep, floor"),
        ("[inference]\nalpha = true\n", "expected a number"),
        ("[prisma]\nduplicates_removed = -3\n", "expected a whole number >= 0"),
        ("[prisma]\nrecords_identified = 5\n", "expected a table of counts"),
        ("[sensitivity]\nddf = ['satterthwaite', 'wald']\n", "expected one of satterthwaite"),
        ("[data]\npatients = ''\n", "expected non-empty text"),
        ("models = 3\n", "models are given as [[models]] tables"),
        ("inference = 3\n", "'inference' must be a [inference] table"),
    ],
)
def test_bad_values(text, fragment):
    with pytest.raises(SpecError) as caught:
        _parse(text)
    assert fragment in str(caught.value)


def test_docs_list_every_key():
    docs = (REPO / "docs" / "review-toml.md").read_text()
    for section, keys in KEYS.items():
        assert f"[{section}]" in docs or f"[[{section}]]" in docs, section
        for key in keys:
            assert f"`{key}`" in docs, f"{section}.{key} is not documented"


def test_data_files_default_to_discovery_and_empty_means_none():
    assert _parse("").data.patients is None and _parse("").data.studies is None
    spec = _parse("[data]\nstudies = ''\nquality = 'appraisal.csv'\n")
    assert spec.data.studies == "" and spec.data.quality == "appraisal.csv"


def test_reference_levels_are_a_table_of_column_and_level(tmp_path):
    spec = parse_spec('[reference]\ndiagnosis = "TN"\n', folder=tmp_path)
    assert spec.reference == {"diagnosis": "TN"}
    inline = parse_spec('reference = { lesion_location = "trigeminal_nerve" }\n', folder=tmp_path)
    assert inline.reference == {"lesion_location": "trigeminal_nerve"}
    with pytest.raises(SpecError, match=r"line 2: bad value 3 for reference.diagnosis"):
        parse_spec("[reference]\ndiagnosis = 3\n", folder=tmp_path)
