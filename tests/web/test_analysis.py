"""The analysis button: `ipdmeta run` in its own process with its progress, the new report
swapped in only when complete, served to the team with a script-free policy; a failing
run says why and leaves the previous report."""

from __future__ import annotations

import time

from argon2 import PasswordHasher
from starlette.testclient import TestClient

from ipdmeta.review import create_store
from ipdmeta.web import create_app
from tests.conftest import copy_example


def _team(folder):
    with create_store(folder) as store:
        store.add_reviewer("ann", "owner", PasswordHasher().hash("ann-secret-1"))
    client = TestClient(create_app(folder), base_url="http://127.0.0.1:8000")
    token = client.post("/api/session", json={"name": "ann", "password": "ann-secret-1"})
    client.headers["X-CSRF-Token"] = token.json()["csrf_token"]
    return client


def _wait(client, seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.get("/api/analysis").json()
        if run["state"] != "running":
            return run
        time.sleep(0.3)
    raise AssertionError("the analysis did not finish")


def test_the_analysis_runs_and_its_report_is_served(tmp_path):
    folder = copy_example(tmp_path)
    with _team(folder) as client:
        assert client.get("/report/report.html").status_code == 404  # no report yet
        started = client.post("/api/analysis")
        assert started.status_code == 202 and started.json()["state"] == "running"
        assert client.post("/api/analysis").status_code == 409  # one at a time
        seen_stages = set()
        deadline = time.monotonic() + 240
        while (run := client.get("/api/analysis").json())["state"] == "running":
            seen_stages.add(run["stage"])
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert run["state"] == "done" and run["done_stages"] == run["total_stages"]
        assert len(seen_stages) >= 2  # progress was seen stage by stage
        report = client.get("/report/report.html")
        assert report.status_code == 200 and "PRISMA" in report.text
        policy = report.headers["content-security-policy"]
        assert "script-src 'none'" in policy
        assert client.get("/report/").status_code == 200
        assert client.get("/report/results.json").json()
        assert client.get("/report/../review.toml").status_code == 404
        assert client.get("/report/%2e%2e/review.toml").status_code == 404
        assert not (folder / ".out-new").exists()
        page = client.get("/analysis").text
        assert 'src="/report/report.html"' in page and "The last run finished" in page


def test_a_failed_run_says_why_and_keeps_the_previous_report(tmp_path):
    folder = copy_example(tmp_path)
    (folder / "out").mkdir()
    (folder / "out" / "report.html").write_text("<p>the previous report</p>")
    (folder / "review.toml").write_text("[[models]]\nname = 'x'\nformula = 'nonsense ~ ('\n")
    with _team(folder) as client:
        assert client.post("/api/analysis").status_code == 202
        run = _wait(client)
        assert run["state"] == "failed" and run["message"]
        assert "Traceback" not in run["message"]
        assert client.get("/report/report.html").text == "<p>the previous report</p>"
        page = client.get("/analysis").text
        assert "The last run stopped:" in page
    unsigned = TestClient(create_app(folder))
    assert unsigned.get("/api/analysis").status_code == 401
    answer = unsigned.get("/report/report.html", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
