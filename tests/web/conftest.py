"""A review with a team that can sign in (owner ann, reviewers ben and cy), its web app,
and signed-in test clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from ipdmeta.review import create_store
from ipdmeta.review.imports import import_file
from ipdmeta.web import create_app
from tests.review.conftest import write_ris

PASSWORDS = {"ann": "ann-secret-1", "ben": "ben-secret-2", "cy": "cy-secret-3"}
RECORDS = [
    {
        "title": "Motor cortex stimulation for trigeminal neuropathic pain",
        "author": "Au0, A.",
        "year": 2001,
        "abstract": "A case series of 12 patients with individual data.",
    },
    {
        "title": "Deep brain stimulation in rats",
        "author": "Au1, A.",
        "year": 2002,
        "abstract": "An animal study.",
    },
    {
        "title": "Cortical stimulation for facial pain",
        "author": "Au2, A.",
        "year": 2003,
        "abstract": "A case series.",
    },
    {
        "title": "<img src=x onerror=alert(1)>",
        "author": "Au3, A.",
        "year": 2004,
        "abstract": "<script>alert('abstract')</script> & more",
    },
]


def make_team_review(folder: Path, records: list[dict[str, object]] = RECORDS) -> Path:
    hasher = PasswordHasher()
    with create_store(folder) as store:
        store.add_reviewer("ann", "owner", hasher.hash(PASSWORDS["ann"]))
        store.add_reviewer("ben", "reviewer", hasher.hash(PASSWORDS["ben"]))
        store.add_reviewer("cy", "reviewer", hasher.hash(PASSWORDS["cy"]))
        store.add_reviewer("dan", "reviewer")  # no password: cannot sign in
        import_file(store, write_ris(folder / "search.ris", records), source="PubMed")
        store.add_terms("keywords", [("include", "motor cortex"), ("exclude", "rats")])
        store.add_terms(
            "reasons",
            [("full_text", "no individual patient data"), ("title_abstract", "animal study")],
        )
    return folder


@pytest.fixture
def review(tmp_path: Path) -> Path:
    return make_team_review(tmp_path / "review")


@pytest.fixture
def app_client(review: Path) -> Iterator[TestClient]:
    with TestClient(create_app(review), base_url="http://127.0.0.1:8000") as client:
        yield client


@pytest.fixture
def signed_in(review: Path) -> Iterator[Callable[[str], TestClient]]:
    """A factory: a client signed in as ``name``, its CSRF token in its default headers."""
    app = create_app(review)
    clients: list[TestClient] = []

    def sign_in(name: str) -> TestClient:
        client = TestClient(app, base_url="http://127.0.0.1:8000")
        client.__enter__()
        clients.append(client)
        answer = client.post("/api/session", json={"name": name, "password": PASSWORDS[name]})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client

    yield sign_in
    for client in clients:
        client.__exit__(None, None, None)
