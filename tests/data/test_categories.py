"""The built-in vocabularies, a user's category map extending and overriding them, and the
report of which raw label went to which category."""

from __future__ import annotations

import pytest

from ipdmeta.data import CategoryMap, load_review, normalise_label
from ipdmeta.errors import ReadError, ValidationError


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("Trigeminal neuralgia", "TN"),
        ("tic douloureux", "TN"),
        ("post-traumatic trigeminal neuropathic pain", "TNP"),
        ("Post-herpetic neuralgia", "PHN"),
        ("anaesthesia dolorosa", "AD"),
        ("deafferentation pain", "AD"),
        ("Wallenberg", "central"),
        ("thalamic pain", "central"),
        ("Atypical facial pain", "DPS"),
        ("persistent idiopathic facial pain", "DPS"),
        ("dps", "DPS"),
    ],
)
def test_cnop_diagnosis_synonyms(label, category):
    assert CategoryMap.from_vocabularies().match("diagnosis", label).category == category


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("Trigeminal ganglion", "trigeminal_nerve"),
        ("(supra)nuclear", "supranuclear"),
        ("Thalamus", "supranuclear"),
        ("no identifiable lesion", "no_lesion"),
        ("Not reported", "unknown"),
    ],
)
def test_cnop_lesion_synonyms(label, category):
    assert CategoryMap.from_vocabularies().match("lesion_location", label).category == category


def test_normalise_label():
    assert normalise_label("  Post–herpetic   Neuralgia. ") == "post herpetic neuralgia"


def _write(tmp_path, patients, categories=None):
    (tmp_path / "patients.csv").write_text(patients)
    if categories is not None:
        (tmp_path / "categories.csv").write_text(categories)


def test_user_map_extends_and_overrides(tmp_path):
    _write(
        tmp_path,
        "study_id,patient_id,diagnosis,relief_pct\n"
        "S1,1,facial pain NOS,50\nS1,2,deafferentation pain,60\n",
        "column,label,category\n"
        "diagnosis,facial pain NOS,DPS\n"
        "diagnosis,deafferentation pain,TNP\n",
    )
    review = load_review(tmp_path)
    assert list(review.patients["diagnosis"]) == ["DPS", "TNP"]
    sources = dict(zip(review.label_map["raw_label"], review.label_map["source"], strict=True))
    assert sources == {
        "facial pain NOS": "categories.csv row 2",
        "deafferentation pain": "categories.csv row 3",
    }


def test_other_reviews_bring_their_own_vocabulary(tmp_path):
    (tmp_path / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,migraine,50\nS1,2,cluster headache,60\n"
    )
    review = load_review(tmp_path, vocabularies=["general"])
    assert list(review.patients["diagnosis"]) == ["migraine", "cluster headache"]
    mapped = load_review(
        tmp_path,
        vocabularies=["general"],
        category_map={"diagnosis": {"migraine": "primary", "cluster headache": "primary"}},
    )
    assert list(mapped.patients["diagnosis"]) == ["primary", "primary"]


def test_unknown_label_error_lists_rows_and_suggestion(tmp_path):
    _write(
        tmp_path,
        "study_id,patient_id,diagnosis,relief_pct\nS1,1,atypical facal pain,50\nS1,2,TN,50\n",
    )
    with pytest.raises(ValidationError) as caught:
        load_review(tmp_path)
    (problem,) = caught.value.problems
    assert problem.rows == (2,) and problem.value == "atypical facal pain"
    assert "Closest category: 'DPS'" in str(problem)


def test_bad_category_map_file(tmp_path):
    _write(tmp_path, "study_id,patient_id,diagnosis,relief_pct\nS1,1,TN,50\n", "label,category\n")
    with pytest.raises(ReadError, match="needs the columns column, label, category"):
        load_review(tmp_path)


def test_label_map_reports_every_label(tmp_path):
    _write(tmp_path, "study_id,patient_id,diagnosis,sex,relief_pct\nS1,1,TN,female,5\n")
    label_map = load_review(tmp_path).label_map
    assert set(label_map.columns) == {
        "table",
        "column",
        "raw_label",
        "category",
        "source",
        "n_rows",
    }
    assert ("sex", "female", "F") in set(
        zip(label_map["column"], label_map["raw_label"], label_map["category"], strict=True)
    )
