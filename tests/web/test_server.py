"""The web app as users run it: `ipdmeta review serve` under uvicorn. Loopback by default;
eight clients posting decisions at once lose nothing; a kill -9 in the middle of a burst
loses no acknowledged (201) decision and leaves the store intact."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from pathlib import Path

from argon2 import PasswordHasher

from ipdmeta.review import open_store
from ipdmeta.web.client import Client, running_server
from tests.web.conftest import make_team_review

TA = "title_abstract"
TEAM = [f"rev{i}" for i in range(8)]


def _big_review(folder: Path, n: int = 60) -> Path:
    records = [
        {
            "title": f"Study number {i} of cortical stimulation",
            "author": f"Au{i}, A.",
            "year": 1990 + i % 30,
            "abstract": f"Abstract {i}.",
        }
        for i in range(n)
    ]
    make_team_review(folder, records)
    hasher = PasswordHasher()
    password = hasher.hash("team-password")
    with open_store(folder) as store:
        for name in TEAM:
            store.add_reviewer(name, "reviewer", password)
    return folder


def test_serve_listens_on_loopback_and_refuses_other_addresses_without_the_flag(tmp_path, run_cli):
    folder = make_team_review(tmp_path / "review")
    refused = run_cli("review", "serve", folder, "--host", "0.0.0.0")
    assert refused.code == 2 and "--allow-remote" in refused.err and "TLS" in refused.err
    assert run_cli("review", "serve", folder, "--port", "70000").code == 2
    assert run_cli("review", "serve", tmp_path / "nothing").code == 2
    with running_server(folder) as (_, port):
        client = Client(port)
        assert client.request("GET", "/login")[0] == 200
        client.close()


def test_serve_on_another_address_warns_to_put_tls_in_front(tmp_path, monkeypatch, run_cli):
    import uvicorn

    folder = make_team_review(tmp_path / "review")
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    result = run_cli("review", "serve", folder, "--host", "0.0.0.0", "--allow-remote")
    assert result.code == 0 and seen["host"] == "0.0.0.0"
    assert "warning: serving on 0.0.0.0" in result.err and "TLS proxy" in result.err
    result = run_cli("review", "serve", folder)
    assert seen["host"] == "127.0.0.1" and "http://127.0.0.1:8000/" in result.out


def _burst(
    port: int,
    acknowledged: list[tuple[str, int]],
    records: list[int],
    stop: threading.Event | None = None,
) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(name: str) -> None:
        client = Client(port)
        try:
            client.sign_in(name, "team-password")
            for record in records:
                if stop is not None and stop.is_set():
                    return
                status, _ = client.request(
                    "POST",
                    "/api/decisions",
                    {"record_id": record, "stage": TA, "decision": "exclude"},
                )
                if status == 201:
                    acknowledged.append((name, record))
                else:
                    errors.append(AssertionError(f"{name} record {record}: {status}"))
        except (OSError, http.client.HTTPException) as exc:
            # A kill -9 can cut a response short: IncompleteRead is not an OSError.
            if stop is None:
                errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(name,)) for name in TEAM]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_eight_clients_posting_at_once_lose_nothing(tmp_path):
    folder = _big_review(tmp_path / "review")
    acknowledged: list[tuple[str, int]] = []
    with running_server(folder) as (_, port):
        errors = _burst(port, acknowledged, list(range(1, 41)))
    assert errors == []
    assert len(acknowledged) == 8 * 40
    with open_store(folder) as store:
        assert store.integrity_ok()
        stored = store.latest_decisions(TA)
        names = {r["id"]: r["name"] for r in store.reviewers()}
        found = {(names[who], record) for record, by in stored.items() for who in by}
    assert found == set(acknowledged)


def test_a_kill_9_during_a_burst_loses_no_acknowledged_decision(tmp_path):
    folder = _big_review(tmp_path / "review", n=400)
    acknowledged: list[tuple[str, int]] = []
    stop = threading.Event()
    with running_server(folder) as (process, port):
        burst = threading.Thread(
            target=_burst, args=(port, acknowledged, list(range(1, 401)), stop)
        )
        burst.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        stop.set()
        burst.join(timeout=60)
    assert 100 <= len(acknowledged) < 8 * 400  # killed in the middle
    with open_store(folder) as store:
        assert store.integrity_ok()
        names = {r["id"]: r["name"] for r in store.reviewers()}
        stored = {
            (names[who], record) for record, by in store.latest_decisions(TA).items() for who in by
        }
    assert set(acknowledged) <= stored


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_ranking_process_ends_with_the_server_even_after_a_kill_9(tmp_path):
    """A review of 1,000 records or more ranks in a process of its own, started when the
    app starts; stopping the server, or killing it, must not leave it behind."""
    folder = _big_review(tmp_path / "review", n=1_200)
    for stop in (signal.SIGTERM, signal.SIGKILL):
        with running_server(folder) as (process, _):
            deadline = time.monotonic() + 30
            while not (workers := _children(process.pid)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert workers, "the ranking process did not start"
            os.kill(process.pid, stop)
            process.wait()
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), f"left behind after {stop.name}"
