"""Extraction in the web app: rows checked by `ipdmeta validate`'s own checks (the same
messages, the cell located), saved blind per extractor, compared cell by cell, agreed,
and exported to patients.csv and studies.csv that `ipdmeta validate` and `ipdmeta run`
read."""

from __future__ import annotations

import json
import re

from ipdmeta.review import open_store
from ipdmeta.review.extraction import compare_extractions, patient_columns

GOOD = [
    {"patient_id": "S01-P1", "diagnosis": "TN", "age": "54", "sex": "F", "pain_scale": "VAS-10",
     "pain_pre": "8", "pain_post": "2", "followup_months": "12"},
    {"patient_id": "S01-P2", "diagnosis": "PHN", "age": "61", "sex": "M",
     "pain_scale": "VAS-10", "pain_pre": "9", "pain_post": "4.5", "followup_months": "24"},
]  # fmt: skip


def _body(patients, details=None, consensus=False):
    return {"study": "S01", "details": details or {"first_author": "Smith", "year": "2001"},
            "patients": patients, "consensus": consensus}  # fmt: skip


def test_the_check_gives_validates_messages_cell_by_cell(signed_in, review, run_cli):
    ben = signed_in("ben")
    bad = [dict(GOOD[0], age="540"), dict(GOOD[1], diagnosis="migraine", pain_post="12")]
    answer = ben.post("/api/extraction/check", json=_body(bad, {"year": "20O1"}))
    assert answer.status_code == 200 and answer.json()["ok"] is False
    found = {(p["table"], p["row"], p["column"]) for p in answer.json()["problems"]}
    assert {("patients", 1, "age"), ("patients", 2, "diagnosis"), ("patients", 2, "pain_post"),
            ("studies", None, "year")} <= found  # fmt: skip
    # The same words as `ipdmeta validate` on the same rows in a file.
    folder = review / "check"
    folder.mkdir()
    rows = ["study_id,patient_id,diagnosis,age,sex,pain_scale,pain_pre,pain_post"]
    rows.append("S01,S01-P1,TN,540,F,VAS-10,8,2")
    (folder / "patients.csv").write_text("\n".join(rows) + "\n")
    said = json.loads(run_cli("validate", folder, "--json").out)["problems"]
    age = next(p for p in answer.json()["problems"] if p["column"] == "age")
    assert age["message"].startswith(said[0]["message"])
    good = ben.post("/api/extraction/check", json=_body(GOOD))
    assert good.json() == {"ok": True, "problems": []}
    # Cells typed as clinicians type them are read, and how each was read is said.
    typed = [dict(GOOD[0], age="45 yrs", pain_pre="8/10", followup_months="2 yrs")]
    notes = ben.post("/api/extraction/check", json=_body(typed)).json()
    assert notes["ok"] is True
    said = {p["column"]: p["message"] for p in notes["problems"] if p["severity"] == "note"}
    assert "'45 yrs' as 45 years" in said["age"]
    assert "'8/10' as 8 on a 0-10 scale" in said["pain_pre"]
    assert "'2 yrs' as 24 months" in said["followup_months"]


def test_extractions_are_blind_compared_agreed_and_exported(signed_in, review, run_cli):
    ann, ben, cy = signed_in("ann"), signed_in("ben"), signed_in("cy")
    assert ben.post("/api/extraction", json=_body(GOOD)).status_code == 201
    theirs = [dict(GOOD[0], age="55"), GOOD[1]]
    assert cy.post("/api/extraction", json=_body(theirs)).status_code == 201
    # Blind: each extractor gets back only their own rows; the owner all of them.
    mine = ben.get("/api/extraction", params={"study": "S01"}).json()["extractions"]
    assert [e["extractor"] for e in mine] == ["ben"] and mine[0]["patients"][0]["age"] == "54"
    everything = ann.get("/api/extraction", params={"study": "S01"}).json()["extractions"]
    assert sorted(e["extractor"] for e in everything) == ["ben", "cy"]
    page = ben.get("/extract/study", params={"study": "S01"}).text
    assert 'value="54"' in page and 'value="55"' not in page
    # The owner compares: one cell differs, and starts the agreed rows from ben's.
    compared = ann.get("/extract/compare", params={"study": "S01"}).text
    assert (
        "1 cell differ" in compared
        and '<span class="a">54</span> <span class="b">55</span>' in compared
    )
    assert ben.get("/extract/compare", params={"study": "S01"}).status_code == 403
    agreed_page = ann.get("/extract/study", params={"study": "S01", "consensus": "yes"}).text
    assert 'class="differs" title="ben: 54 / cy: 55"' in agreed_page
    assert ben.post("/api/extraction", json=_body(GOOD, consensus=True)).status_code == 403
    assert ann.post("/api/extraction", json=_body(GOOD, consensus=True)).status_code == 201
    # Export: the agreed rows become the folder's tables, read by validate.
    (review / "patients.csv").write_text("study_id,patient_id,diagnosis\nX,1,TN\n")
    page = ann.get("/extract").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = ann.post("/extract/export", data={"csrf_token": token}).text
    assert "Exported 2 patients of 1 studies" in done and "patients.csv.before-" in done
    backups = list(review.glob("patients.csv.before-*"))
    assert len(backups) == 1 and backups[0].read_text().startswith("study_id,patient_id,diag")
    written = (review / "patients.csv").read_text()
    assert written.splitlines()[1].startswith("S01,S01-P1,TN,")
    assert "Smith" in (review / "studies.csv").read_text()
    result = run_cli("validate", review)
    assert result.code == 0, result.err
    # A second export of unchanged files keeps no second copy.
    ann.post("/extract/export", data={"csrf_token": token})
    assert len(list(review.glob("patients.csv.before-*"))) == 1


def test_bad_extraction_bodies_are_refused_and_nothing_is_stored(signed_in, review):
    ben = signed_in("ben")
    cases = [
        ({"study": "", "patients": []}, 404),
        ({"study": "S01", "patients": "rows"}, 422),
        ({"study": "S01", "patients": [{"shoe_size": "42"}]}, 422),
        ({"study": "S01", "patients": [{"age": {"x": 1}}]}, 422),
        ({"study": "S01", "patients": [{"age": "9" * 2000}]}, 422),
        ({"study": "S01", "details": {"colour": "red"}, "patients": []}, 422),
        ({"study": "S\n01", "patients": []}, 422),
    ]
    for body, status in cases:
        assert ben.post("/api/extraction", json=body).status_code == status, body
    assert (
        ben.post(
            "/api/extraction", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    with open_store(review) as store:
        assert store.latest_extractions() == []
    assert ben.post("/extract/export", data={"csrf_token": "x"}).status_code == 403


def test_rows_are_paired_by_patient_id_then_by_order(review):
    columns = patient_columns(review)
    first = {"study": {}, "patients": [{"patient_id": "A", "age": "7"}, {"age": "30"}]}
    second = {"study": {}, "patients": [{"age": "31"}, {"patient_id": "A", "age": "7.0"}]}
    compared = compare_extractions(first, second, columns)
    assert compared["differing"] == 1
    assert compared["rows"][0]["age"] == ["7", "7.0", True]
    assert compared["rows"][1]["age"] == ["30", "31", False]


def test_an_extraction_can_start_from_the_folders_patients_csv(signed_in, review):
    (review / "patients.csv").write_text(
        "study_id,patient_id,diagnosis,age,my_own_column\nS01,P1,TN,54,x\nS02,P9,PHN,60,y\n"
    )
    (review / "studies.csv").write_text("study_id,first_author,year\nS01,Smith,2001\n")
    ben = signed_in("ben")
    page = ben.get("/extract/study", params={"study": "S01"}).text
    assert "patients.csv has 1 row of S01" in page and 'value="54"' not in page
    page = ben.get("/extract/study", params={"study": "S01", "from_file": "yes"}).text
    assert 'value="54"' in page and 'value="Smith"' in page and 'value="x"' in page
    assert 'data-column="my_own_column"' in page  # the review's own column is in the grid
    with open_store(review) as store:
        assert store.latest_extractions() == []  # nothing saved until saved
