"""The web app's pages through the ASGI test client: sign-in form, screening with forms
(decide, skip, undo), escaping of record text, full-text uploads, conflicts, dashboard."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from ipdmeta.review import open_store
from ipdmeta.web import create_app
from tests.web.conftest import PASSWORDS

TA = "title_abstract"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _browser(review, name: str | None = None, **options) -> TestClient:
    client = TestClient(create_app(review, **options), base_url="http://127.0.0.1:8000")
    if name is not None:
        form = {"name": name, "password": PASSWORDS[name], "next": "/screen/title_abstract"}
        answer = client.post("/login", data=form, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/screen/title_abstract"
    return client


def test_the_login_form_and_the_next_record_after_signing_in(review):
    client = _browser(review)
    page = client.get("/login").text
    assert 'name="name"' in page and 'name="password"' in page
    assert client.get("/screen/title_abstract", follow_redirects=False).status_code == 303
    wrong = client.post("/login", data={"name": "ann", "password": "x"})
    assert wrong.status_code == 401 and "Wrong name or password." in wrong.text
    client = _browser(review, "ben")
    page = client.get("/screen/title_abstract").text
    assert "Record 1" in page and "4</span> left for you" in page


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_signing_in_never_sends_the_browser_elsewhere(review, target):
    client = _browser(review)
    form = {"name": "ben", "password": PASSWORDS["ben"], "next": target}
    answer = client.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_record_text_is_shown_as_text_and_keywords_marked(review):
    client = _browser(review, "ben")
    page = client.get("/screen/title_abstract").text
    assert '<mark class="include">Motor cortex</mark>' in page
    # Screen records 1-3 so that the planted record 4 comes up.
    for record in (1, 2, 3):
        client.post(
            "/screen/title_abstract",
            data={"csrf_token": _csrf(page), "record_id": record, "decision": "exclude"},
        )
    page = client.get("/screen/title_abstract").text
    assert "Record 4" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;abstract&#39;)" in page


def test_decide_skip_and_undo_with_the_forms(review):
    client = _browser(review, "ben")
    token = _csrf(client.get("/screen/title_abstract").text)
    answer = client.post(
        "/screen/title_abstract",
        data={"csrf_token": token, "record_id": "1", "decision": "include"},
    )
    assert "Record 1: include" in answer.text and "Record 2" in answer.text
    answer = client.post(
        "/screen/title_abstract/skip", data={"csrf_token": token, "record_id": "2"}
    )
    assert "Record 3" in answer.text  # 2 waits until the others are done
    answer = client.post("/screen/title_abstract/undo", data={"csrf_token": token})
    assert "Undone: record 1 include" in answer.text and "Record 1" in answer.text
    answer = client.post(
        "/screen/title_abstract",
        data={
            "csrf_token": token,
            "record_id": "1",
            "decision": "exclude",
            "reason": "animal study",
        },
    )
    with open_store(review) as store:
        decisions = store.latest_decisions(TA)
    assert decisions[1][2]["decision"] == "exclude" and decisions[1][2]["reason"] == "animal study"
    # A form without its token is refused and stores nothing.
    refused = client.post("/screen/title_abstract", data={"record_id": "3", "decision": "include"})
    assert refused.status_code == 403
    with open_store(review) as store:
        assert 3 not in store.latest_decisions(TA)


def test_a_full_text_needs_inclusion_and_an_exclusion_needs_its_reason(review):
    ann, ben = _browser(review, "ann"), _browser(review, "ben")
    for client in (ann, ben):
        token = _csrf(client.get("/screen/title_abstract").text)
        client.post(
            "/screen/title_abstract",
            data={"csrf_token": token, "record_id": "1", "decision": "include"},
        )
    page = ben.get("/screen/full_text").text
    assert "Record 1" in page and 'value="not_retrieved"' in page
    answer = ben.post(
        "/screen/full_text", data={"csrf_token": token, "record_id": "1", "decision": "exclude"}
    )
    assert "a full-text exclusion needs its reason" in answer.text
    answer = ben.post(
        "/screen/full_text", data={"csrf_token": token, "record_id": "2", "decision": "include"}
    )
    assert "not included at title and abstract" in answer.text


def test_full_texts_are_pdfs_within_the_limit_under_generated_names(review):
    ben = _browser(review, "ben", max_upload=1024)
    token = _csrf(ben.get("/screen/title_abstract").text)
    headers = {"X-CSRF-Token": token}

    def upload(content: bytes, name: str = "paper.pdf", record: int = 1):
        return ben.post(
            f"/api/records/{record}/fulltext",
            headers=headers,
            files={"file": (name, content, "application/pdf")},
        )

    stored = upload(PDF, name="../../evil.pdf")
    assert stored.status_code == 201
    files = list((review / "fulltext").iterdir())
    assert len(files) == 1 and re.fullmatch(r"record-1-[0-9a-f]{16}\.pdf", files[0].name)
    assert not (review.parent / "evil.pdf").exists()
    got = ben.get("/api/records/1/fulltext")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("inline")
    assert upload(b"<html>not a pdf</html>").status_code == 415
    assert upload(b"%PDF-" + b"x" * 2000).status_code == 413
    assert upload(PDF, record=999).status_code == 404
    assert ben.get("/api/records/2/fulltext").status_code == 404
    no_file = ben.post("/api/records/1/fulltext", headers=headers, data={"x": "1"})
    assert no_file.status_code == 422
    not_a_form = ben.post("/api/records/1/fulltext", headers=headers, content=PDF)
    assert not_a_form.status_code == 422
    # Nothing half-written is left behind.
    assert [p.name for p in (review / "fulltext").iterdir()] == [files[0].name]
    unsigned = _browser(review)
    assert (
        unsigned.post("/api/records/1/fulltext", files={"file": ("a.pdf", PDF)}).status_code == 401
    )


def test_the_upload_form_of_the_full_text_page(review):
    ann, ben = _browser(review, "ann"), _browser(review, "ben")
    for client in (ann, ben):
        token = _csrf(client.get("/screen/title_abstract").text)
        client.post(
            "/screen/title_abstract",
            data={"csrf_token": token, "record_id": "1", "decision": "include"},
        )
    page = ben.get("/screen/full_text").text
    assert 'enctype="multipart/form-data"' in page and "<iframe" not in page
    answer = ben.post(
        "/screen/full_text/1/fulltext",
        data={"csrf_token": token},
        files={"file": ("paper.pdf", PDF, "application/pdf")},
    )
    assert "Full text attached to record 1" in answer.text
    assert '<iframe class="pdf" src="/api/records/1/fulltext"' in answer.text
    refused = ben.post(
        "/screen/full_text/1/fulltext",
        data={"csrf_token": "wrong"},
        files={"file": ("paper.pdf", PDF, "application/pdf")},
    )
    assert refused.status_code == 403


def test_conflicts_are_for_owners_and_resolved_with_a_reason(review):
    ann, ben, cy = (_browser(review, n) for n in ("ann", "ben", "cy"))
    for client, decision in ((ben, "include"), (cy, "exclude")):
        token = _csrf(client.get("/screen/title_abstract").text)
        client.post(
            "/screen/title_abstract",
            data={"csrf_token": token, "record_id": "3", "decision": decision},
        )
    assert ben.get("/conflicts").status_code == 403
    page = ann.get("/conflicts").text
    assert "Record 3" in page and "ben</strong>: include" in page and "cy</strong>: exclude" in page
    answer = ann.post(
        "/conflicts",
        data={
            "csrf_token": _csrf(page),
            "record_id": "3",
            "stage": TA,
            "decision": "include",
            "reason": "case series",
        },
    )
    assert "Record 3 resolved: include" in answer.text and "Record 3:" not in answer.text
    with open_store(review) as store:
        assert store.latest_resolutions(TA)[3]["reason"] == "case series"
    again = ann.post(
        "/conflicts",
        data={"csrf_token": _csrf(page), "record_id": "3", "stage": TA, "decision": "exclude"},
    )
    # A later resolution replaces the earlier (both stay in the store), as on the command line.
    assert "Record 3 resolved: exclude" in again.text
    no_conflict = ann.post(
        "/conflicts",
        data={"csrf_token": _csrf(page), "record_id": "1", "stage": TA, "decision": "exclude"},
    )
    assert "has no conflict to resolve" in no_conflict.text


def test_the_dashboard_shows_progress_and_the_prisma_diagram(review):
    ben = _browser(review, "ben")
    token = _csrf(ben.get("/screen/title_abstract").text)
    ben.post(
        "/screen/title_abstract",
        data={"csrf_token": token, "record_id": "1", "decision": "include"},
    )
    page = ben.get("/").text
    assert "4 records imported from 1 source;" in page
    assert re.search(r"<td>ben</td><td class=\"num\">1</td>", page)
    svg = ben.get("/prisma.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"Records screened" in svg.content


def test_signing_out_with_the_form(review):
    ben = _browser(review, "ben")
    token = _csrf(ben.get("/").text)
    answer = ben.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert ben.get("/", follow_redirects=False).status_code == 303


def test_pages_answer_what_clients_get_wrong_without_a_500(review):
    ben = _browser(review, "ben")
    token = _csrf(ben.get("/").text)
    assert ben.get("/screen/abstracts").status_code == 404
    assert (
        ben.post(
            "/screen/title_abstract",
            data={"csrf_token": token, "record_id": "x" * 40, "decision": "include"},
        ).status_code
        == 200
    )
    assert (
        ben.post(
            "/screen/title_abstract",
            data={"csrf_token": token, "record_id": "1", "decision": "<b>"},
        ).status_code
        == 200
    )
    assert (
        ben.post(
            "/screen/full_text/999/fulltext",
            data={"csrf_token": token},
            files={"file": ("a.pdf", PDF)},
        ).status_code
        == 404
    )
    assert ben.post(
        "/login", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"}
    ).status_code in (401, 422)
