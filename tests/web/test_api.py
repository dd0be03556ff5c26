"""The HTTP contract of the web app, endpoint by endpoint, with the ASGI test client:
sign-in, CSRF, the queue, decisions, blindness, status, conflicts, full texts, and the
answers to everything a client can get wrong (never a 500)."""

from __future__ import annotations

import json

from ipdmeta.review import open_store
from tests.web.conftest import PASSWORDS

TA = "title_abstract"


def test_sign_in_returns_a_csrf_token_and_an_httponly_strict_cookie(app_client):
    answer = app_client.post("/api/session", json={"name": "ann", "password": PASSWORDS["ann"]})
    assert answer.status_code == 200
    assert len(answer.json()["csrf_token"]) >= 32 and answer.json()["role"] == "owner"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert app_client.get("/api/status").status_code == 200


def test_a_sign_in_posted_from_another_site_is_refused(app_client):
    cross = {"Origin": "https://evil.example"}
    body = {"name": "ann", "password": PASSWORDS["ann"]}
    assert app_client.post("/api/session", json=body, headers=cross).status_code == 403
    form = app_client.post("/login", data=body, headers=cross, follow_redirects=False)
    assert form.status_code == 403 and "ipdmeta_session" not in form.headers.get("set-cookie", "")


def test_wrong_passwords_and_unknown_names_get_the_same_answer(app_client):
    wrong = app_client.post("/api/session", json={"name": "ann", "password": "nope"})
    unknown = app_client.post("/api/session", json={"name": "zed", "password": "nope"})
    no_password = app_client.post("/api/session", json={"name": "dan", "password": ""})
    assert wrong.status_code == unknown.status_code == no_password.status_code == 401
    assert (
        wrong.json() == unknown.json() == no_password.json() == {"error": "Wrong name or password."}
    )


def test_sign_in_is_throttled_after_repeated_failures(app_client):
    for _ in range(5):
        assert (
            app_client.post("/api/session", json={"name": "ben", "password": "x"}).status_code
            == 401
        )
    # Now even the right password waits, and an unknown name is throttled the same way.
    right = app_client.post("/api/session", json={"name": "ben", "password": PASSWORDS["ben"]})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in right.json()["error"]


def test_without_a_session_every_api_answers_401(app_client):
    for method, path in (
        ("GET", "/api/queue"),
        ("GET", "/api/status"),
        ("GET", "/api/records/1/decisions"),
        ("POST", "/api/decisions"),
        ("GET", "/api/conflicts"),
        ("GET", "/api/records/1/fulltext"),
        ("DELETE", "/api/session"),
    ):
        assert app_client.request(method, path).status_code == 401, path


def test_a_state_change_needs_the_csrf_token(signed_in):
    ben = signed_in("ben")
    token = ben.headers.pop("X-CSRF-Token")
    body = {"record_id": 1, "stage": TA, "decision": "include"}
    assert ben.post("/api/decisions", json=body).status_code == 403
    assert (
        ben.post("/api/decisions", json=body, headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    )
    # A cross-site request is refused even with the token.
    cross = ben.post(
        "/api/decisions",
        json=body,
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert ben.post("/api/decisions", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_no_state_changes_by_get(signed_in):
    ben = signed_in("ben")
    assert ben.get("/api/decisions").status_code == 405
    assert ben.get("/logout").status_code == 405


def test_the_queue_lists_undecided_unique_records_without_decisions(signed_in):
    ben, cy = signed_in("ben"), signed_in("cy")
    queue = ben.get("/api/queue", params={"stage": TA, "limit": 2000}).json()
    assert queue["left"] == 4 and {r["id"] for r in queue["records"]} == {1, 2, 3, 4}
    assert set(queue["records"][0]) == {
        "id",
        "title",
        "abstract",
        "authors",
        "year",
        "journal",
        "doi",
    }
    assert (
        ben.post(
            "/api/decisions",
            json={
                "record_id": 2,
                "stage": TA,
                "decision": "exclude",
                "reason": "planted reason xyz",
            },
        ).status_code
        == 201
    )
    assert [r["id"] for r in ben.get("/api/queue").json()["records"]] == [1, 3, 4]
    seen = json.dumps(cy.get("/api/queue", params={"limit": 10}).json())
    assert "planted reason xyz" not in seen and "exclude" not in seen and "ben" not in seen
    assert cy.get("/api/queue", params={"limit": 1}).json()["left"] == 4
    assert len(cy.get("/api/queue", params={"limit": 1}).json()["records"]) == 1


def test_a_decision_returns_201_once_stored(signed_in, review):
    ben = signed_in("ben")
    answer = ben.post("/api/decisions", json={"record_id": 1, "stage": TA, "decision": "include"})
    assert answer.status_code == 201
    assert answer.json() == {
        "record_id": 1,
        "stage": TA,
        "decision": "include",
        "reason": None,
        "reviewer": "ben",
    }
    with open_store(review) as store:
        assert store.latest_decisions(TA)[1][2]["decision"] == "include"


def test_blind_a_reviewer_sees_only_their_own_until_resolved(signed_in):
    ann, ben, cy = signed_in("ann"), signed_in("ben"), signed_in("cy")
    ben.post("/api/decisions", json={"record_id": 3, "stage": TA, "decision": "include"})
    cy.post(
        "/api/decisions",
        json={"record_id": 3, "stage": TA, "decision": "exclude", "reason": "not orofacial"},
    )
    mine = ben.get("/api/records/3/decisions").json()
    assert [(d["reviewer"], d["decision"]) for d in mine] == [("ben", "include")]
    assert set(mine[0]) == {"reviewer", "stage", "decision", "reason", "time"}
    assert "not orofacial" not in json.dumps(ben.get("/api/records/3").json())
    everything = ann.get("/api/records/3/decisions").json()
    assert [(d["reviewer"], d["decision"]) for d in everything] == [
        ("ben", "include"),
        ("cy", "exclude"),
    ]
    # The owner resolves the conflict; now both reviewers see the whole record.
    conflicts = ann.get("/api/conflicts", params={"stage": TA}).json()["conflicts"]
    assert [c["record_id"] for c in conflicts] == [3]
    assert ben.get("/api/conflicts").status_code == 403
    assert (
        ben.post(
            "/api/resolutions", json={"record_id": 3, "stage": TA, "decision": "include"}
        ).status_code
        == 403
    )
    resolved = ann.post(
        "/api/resolutions",
        json={"record_id": 3, "stage": TA, "decision": "include", "reason": "discussed"},
    )
    assert resolved.status_code == 201
    assert len(ben.get("/api/records/3/decisions").json()) == 2
    assert ann.get("/api/conflicts").json()["conflicts"] == []


def test_agreement_between_two_reviewers_unblinds_only_those_who_decided(signed_in):
    ben, cy, ann = signed_in("ben"), signed_in("cy"), signed_in("ann")
    for who in (ben, cy):
        who.post("/api/decisions", json={"record_id": 1, "stage": TA, "decision": "include"})
    assert len(ben.get("/api/records/1/decisions").json()) == 2
    # ann (owner) sees all anyway; a third reviewer who has not decided would see none.
    assert len(ann.get("/api/records/1/decisions").json()) == 2


def test_undo_withdraws_the_latest_decision(signed_in):
    ben = signed_in("ben")
    ben.post("/api/decisions", json={"record_id": 1, "stage": TA, "decision": "exclude"})
    undone = ben.post("/api/decisions/undo", json={"stage": TA})
    assert undone.status_code == 200 and undone.json()["withdrawn"]["record_id"] == 1
    assert ben.get("/api/queue").json()["left"] == 4
    assert ben.post("/api/decisions/undo", json={"stage": TA}).status_code == 404


def test_status_is_the_command_lines(signed_in, review, run_cli):
    ben = signed_in("ben")
    ben.post("/api/decisions", json={"record_id": 1, "stage": TA, "decision": "include"})
    from_cli = json.loads(run_cli("review", "status", review, "--json").out)
    assert ben.get("/api/status").json() == from_cli


def test_bad_bodies_get_422_with_a_message(signed_in):
    ben = signed_in("ben")
    post = ben.post
    cases = [
        (b"not json", 422, "not JSON"),
        (b"[1, 2]", 422, "JSON object"),
        (json.dumps({"record_id": "1", "stage": TA, "decision": "include"}), 422, "whole number"),
        (json.dumps({"record_id": True, "stage": TA, "decision": "include"}), 422, "whole number"),
        (json.dumps({"record_id": 1, "stage": "abstract", "decision": "include"}), 422, "stage"),
        (json.dumps({"record_id": 1, "stage": TA, "decision": "yes"}), 422, "decision"),
        (
            json.dumps({"record_id": 1, "stage": TA, "decision": "include", "reason": 5}),
            422,
            "reason",
        ),
        (
            json.dumps({"record_id": 1, "stage": TA, "decision": "not_retrieved"}),
            422,
            "full-text decision",
        ),
        (
            json.dumps({"record_id": 1, "stage": "full_text", "decision": "include"}),
            422,
            "not included at title and abstract",
        ),
        (json.dumps({"record_id": 999, "stage": TA, "decision": "include"}), 404, "no record"),
        (json.dumps({"record_id": 10**30, "stage": TA, "decision": "include"}), 404, "no record"),
        (json.dumps({"record_id": -1, "stage": TA, "decision": "include"}), 404, "no record"),
        ("x" * 70_000, 413, "larger"),
    ]
    for body, status, words in cases:
        answer = post("/api/decisions", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == status, (body[:80], answer.text)
        assert words in answer.json()["error"], (body[:80], answer.text)


def test_unknown_ids_and_paths_are_404_and_bad_parameters_422(signed_in):
    ben = signed_in("ben")
    assert ben.get("/api/records/999/decisions").status_code == 404
    assert ben.get("/api/records/99999999999999999999999/decisions").status_code == 404
    assert ben.get("/api/records/abc/decisions").status_code == 404
    assert ben.get("/api/records/1/../../review.sqlite").status_code == 404
    assert ben.get("/static/../../review/store.py").status_code == 404
    assert ben.get("/static/%2e%2e/web/app.py").status_code == 404
    assert ben.get("/api/queue", params={"stage": "x"}).status_code == 422
    assert ben.get("/api/queue", params={"limit": "many"}).status_code == 422
    assert ben.get("/api/queue", params={"limit": 0}).status_code == 422
    assert ben.get("/api/nothing").status_code == 404


def test_signing_out_ends_the_session_on_the_server(signed_in):
    ben = signed_in("ben")
    cookie = ben.cookies.get("ipdmeta_session")
    assert ben.delete("/api/session").status_code == 204
    ben.cookies.set("ipdmeta_session", cookie)  # a copied cookie no longer works
    assert ben.get("/api/status").status_code == 401


def test_every_response_has_the_security_headers(app_client):
    for path in ("/login", "/api/status", "/static/app.css"):
        headers = app_client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"


def test_a_new_password_ends_the_old_sessions(signed_in, review, run_cli, monkeypatch):
    import io

    ben = signed_in("ben")
    monkeypatch.setattr("sys.stdin", io.StringIO("a new password 9\n"))
    result = run_cli("review", "user", "password", review, "ben", "--password-stdin")
    assert result.code == 0 and "password set for 'ben'" in result.out
    assert ben.get("/api/status").status_code == 401
    fresh = ben.post("/api/session", json={"name": "ben", "password": "a new password 9"})
    assert fresh.status_code == 200
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run_cli("review", "user", "password", review, "ben", "--password-stdin").code == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough 123\n"))
    missing = run_cli("review", "user", "password", review, "zed", "--password-stdin")
    assert missing.code == 2 and "'zed' is not a registered reviewer" in missing.err
    # Without --password-stdin and no terminal to ask on, it says how.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    asked = run_cli("review", "user", "password", review, "ben")
    assert asked.code == 2 and "--password-stdin" in asked.err


def test_the_throttle_forgets_stale_names_instead_of_growing(monkeypatch):
    from ipdmeta.web import auth

    throttle = auth.Throttle()
    monkeypatch.setattr(auth, "MAX_TRACKED", 10)
    clock = iter(range(0, 10**6, 1000))  # each failure 1000 s after the last: all stale
    monkeypatch.setattr(auth.time, "monotonic", lambda: float(next(clock)))
    for i in range(50):
        throttle.fail([f"name:user{i}"])
    assert len(throttle.failures) <= 11


def test_the_first_reviewer_gets_records_in_relevance_order(review):
    """The app ranks the records when it starts: once there is an inclusion and an
    exclusion to learn from, the first queue of a new reviewer is ranked."""
    import time

    from starlette.testclient import TestClient

    from ipdmeta.web import create_app

    with open_store(review) as store:
        store.add_decisions([(1, 2, TA, "include", None), (2, 2, TA, "exclude", None)])
    app = create_app(review)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        deadline = time.monotonic() + 30
        while app.state.ranking.version == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.ranking.version == 1  # ranked before anyone asked
        client.post("/api/session", json={"name": "cy", "password": PASSWORDS["cy"]})
        first = client.get("/api/queue", params={"limit": 4}).json()["records"]
    assert first[0]["id"] == 1  # the record like the inclusion leads
