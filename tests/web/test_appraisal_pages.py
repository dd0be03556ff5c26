"""Appraisal in the browser's forms: two raters blind, then the owner's consensus with
the raters side by side, which the report's quality table reads."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from ipdmeta.review import open_store
from ipdmeta.review.appraisal import consensus_table
from ipdmeta.web import create_app
from tests.web.conftest import PASSWORDS

JBI = "jbi_case_series"


def _browser(review, name):
    client = TestClient(create_app(review), base_url="http://127.0.0.1:8000")
    client.post("/login", data={"name": name, "password": PASSWORDS[name]})
    return client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _fill(client, study, answers, path="study"):
    url = f"/appraise/{JBI}/{path}?study={study}"
    page = client.get(url).text
    form = {"csrf_token": _csrf(page)}
    for item, said in answers.items():
        form[f"judgement_{item}"] = said
    return client.post(url, data=form), page


def test_two_raters_blind_then_the_owners_consensus(review):
    with open_store(review) as store:  # a report included at full text, linked to S01
        store.link(1, "S01", None)
        for stage in ("title_abstract", "full_text"):
            store.add_decisions([(1, 2, stage, "include", None), (1, 3, stage, "include", None)])
    ann, ben, cy = (_browser(review, n) for n in ("ann", "ben", "cy"))
    assert "S01" in ben.get("/appraise").text
    answer, _ = _fill(ben, "S01", {"Q1": "yes", "Q2": "no", "Q3": "unclear"})
    assert "S01: 3 judgements stored" in answer.text
    _, page = _fill(cy, "S01", {"Q1": "yes", "Q2": "yes"})
    # cy's form never shows ben's judgements: nothing is checked before cy answers.
    assert "checked" not in page
    page = ben.get(f"/appraise/{JBI}/study?study=S01").text
    assert len(re.findall(r"checked", page)) == 3  # ben sees his own
    assert ben.get(f"/appraise/{JBI}/consensus?study=S01").status_code == 403
    page = ann.get(f"/appraise/{JBI}/consensus?study=S01").text
    assert re.search(r'id="item-Q2"', page) and 'class="disagree" id="item-Q2"' in page
    assert "<option selected>yes</option>" in page  # Q1: both said yes, filled in
    answer, _ = _fill(ann, "S01", {"Q1": "yes", "Q2": "yes", "Q3": "unclear"}, "consensus")
    assert "S01: consensus on 3 items stored" in answer.text
    with open_store(review) as store:
        table = consensus_table(store)
    assert table is not None and list(table["judgement"]) == ["yes", "yes", "unclear"]
    overview = ann.get("/appraise").text
    assert "Agreement between ben and cy over 2 judgements" in overview


def test_bad_appraisal_forms_store_nothing(review):
    ben = _browser(review, "ben")
    answer, _ = _fill(ben, "S02", {"Q1": "perhaps"})
    assert "is not a judgement" in answer.text
    answer, _ = _fill(ben, "S02", {})
    assert "no item was judged" in answer.text
    with open_store(review) as store:
        assert store.latest_appraisals() == []
    assert ben.get("/appraise/nope/study?study=S02").status_code == 404
    assert ben.get("/appraise?tool=nope").status_code == 404
    page = ben.get("/appraise/go", params={"tool": JBI, "study": "S 09/x"})
    assert page.status_code == 200 and "S 09/x: JBI case series" in page.text
    assert ben.get(f"/appraise/{JBI}/study").status_code == 404  # no study given
    refused = ben.post(f"/appraise/{JBI}/study?study=S02", data={"judgement_Q1": "yes"})
    assert refused.status_code == 403
