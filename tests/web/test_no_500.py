"""Never a 500 for anything a client sends: every route, every method it takes, with
bodies and query strings as a careless or hostile client sends them, signed out, as a
reviewer and as the owner (with and without the CSRF token)."""

from __future__ import annotations

import itertools

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from ipdmeta.web import create_app
from tests.web.conftest import PASSWORDS

BODIES = [
    None,
    b"{",
    b'{"record_id": 1e999, "stage": [], "decision": {}, "reason": "\\u0000"}',
    b'{"study": "S01", "patients": [[]], "details": [], "consensus": "yes"}',
    b'{"name": ["ann"], "password": "\\u00e9\\u0000\\ud7ff"}',
    b"a=1&b=%ZZ&csrf_token=&record_id=99999999999999999999&decision=include&stage=x",
]
QUERIES = ["", "?stage=full_text&limit=99999999999999999999", "?study=%00&tool=..%2F",
           "?limit=-1&stage=%F0%9F%98%80", "?study=" + "x" * 5000]  # fmt: skip
PATHS = {
    "{record:int}": ["1", "0", "99999999999999999999999"],
    "{stage}": ["title_abstract", "full_text", "..", "%2e%2e"],
    "{tool}": ["jbi_case_series", "nope"],
    "{path:path}": ["report.html", "../review.sqlite", "a/b/c"],
}


def _paths(template: str) -> list[str]:
    options = [[(key, value) for value in values] for key, values in PATHS.items()
               if key in template]  # fmt: skip
    out = []
    for combination in itertools.product(*options):
        path = template
        for key, value in combination:
            path = path.replace(key, value)
        out.append(path)
    return out


@pytest.mark.parametrize("who", [None, "ben", "ann"])
def test_no_route_answers_500(review, who):
    app = create_app(review)
    client = TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=True)
    if who is not None:
        answer = client.post("/api/session", json={"name": who, "password": PASSWORDS[who]})
        token = answer.json()["csrf_token"]
    for route in app.routes:
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD" or (route.path in ("/api/analysis",) and method == "POST"):
                continue
            for path in _paths(route.path):
                for query, body in itertools.product(QUERIES[:2], BODIES):
                    headers = {"content-type": "application/x-www-form-urlencoded"}
                    if who is not None:
                        headers["X-CSRF-Token"] = token
                    answer = client.request(method, path + query, content=body,
                                            headers=headers, follow_redirects=False)  # fmt: skip
                    assert answer.status_code < 500, (method, path, query, body, answer.text)
                for query in QUERIES[2:]:
                    answer = client.request(method, path + query, follow_redirects=False)
                    assert answer.status_code < 500, (method, path, query, answer.text)
