"""The review store: created in a review folder, versioned, in WAL mode, shared by two
sessions, and intact after a process is killed mid-import."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipdmeta.review import StoreError, create_store, import_file, open_store
from ipdmeta.review.store import MIGRATIONS, STORE_NAME
from tests.conftest import copy_example


def _ris(path: Path, n: int, tag: str = "A") -> Path:
    lines = []
    for i in range(n):
        lines += ["TY  - JOUR", f"TI  - Record {tag}{i} on motor cortex stimulation",
                  f"AU  - Author {i}", "PY  - 2010", "ER  - ", ""]  # fmt: skip
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_init_in_an_existing_review_folder_leaves_its_files_alone(tmp_path, run_cli):
    folder = copy_example(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert run_cli("review", "init", folder).code == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before} == before
    with open_store(folder) as store:
        assert store.version == len(MIGRATIONS)
        assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.integrity_ok()
    again = run_cli("review", "init", folder)
    assert again.code == 0 and "opened the existing" in again.out


def test_a_store_from_a_newer_ipdmeta_is_refused(tmp_path):
    create_store(tmp_path).close()
    raw = sqlite3.connect(tmp_path / STORE_NAME)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer ipdmeta"):
        open_store(tmp_path)


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path, run_cli):
    path = tmp_path / STORE_NAME
    path.write_bytes(b"this is not SQLite at all" * 100)
    result = run_cli("review", "status", tmp_path)
    assert result.code == 2 and "not a review store" in result.err
    assert path.read_bytes() == b"this is not SQLite at all" * 100


def test_reviewers(tmp_path, run_cli, monkeypatch):
    import io

    from argon2 import PasswordHasher

    folder = tmp_path / "r"
    run_cli("review", "init", folder)
    assert run_cli("review", "user", "add", folder, "Ann", "--role", "owner").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert run_cli("review", "user", "add", folder, "Ben", "--password-stdin").code == 0
    again = run_cli("review", "user", "add", folder, "Ann")
    assert again.code == 2 and "already a reviewer called 'Ann'" in again.err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run_cli("review", "user", "add", folder, "Cy", "--password-stdin").code == 2
    with open_store(folder) as store:
        rows = store.connection.execute("SELECT name, role, password_hash FROM reviewers")
        people = {name: (role, hashed) for name, role, hashed in rows}
    assert set(people) == {"Ann", "Ben"} and people["Ann"] == ("owner", None)
    role, hashed = people["Ben"]
    assert role == "reviewer" and hashed.startswith("$argon2")
    assert PasswordHasher().verify(hashed, "correct horse battery")


def test_two_sessions_import_at_once(tmp_path):
    """WAL and the busy timeout: a second writer waits for the first instead of failing."""
    folder = tmp_path / "r"
    create_store(folder).close()
    files = [_ris(tmp_path / f"{tag}.ris", 3000, tag) for tag in "AB"]
    errors: list[BaseException] = []

    def work(path: Path) -> None:
        try:
            with open_store(folder) as store:
                import_file(store, path, source=path.stem)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(folder) as store:
        assert store.counts_by_source() == {"A": 3000, "B": 3000}


def test_kill_9_during_an_import_leaves_the_store_intact(tmp_path):
    """The import is one transaction: killed while it writes (after BEGIN, before COMMIT),
    the store passes its integrity check and holds none of the file, and the import can
    simply be run again."""
    folder = tmp_path / "r"
    create_store(folder).close()
    big = _ris(tmp_path / "big.ris", 60_000)
    # The child says when its write transaction has begun, then writes 60,000 records.
    code = """
import sys
from contextlib import contextmanager
from pathlib import Path
from ipdmeta.review import open_store, import_file
from ipdmeta.review.store import ReviewStore

plain = ReviewStore.transaction

@contextmanager
def announced(self):
    with plain(self) as db:
        print("begun", flush=True)
        yield db

ReviewStore.transaction = announced
with open_store(Path(sys.argv[1])) as store:
    import_file(store, Path(sys.argv[2]), source="Big")
print("committed", flush=True)
"""
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder), str(big)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "begun"
    time.sleep(0.05)  # inside the transaction, writing rows
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert "committed" not in child.stdout.read()
    with open_store(folder) as store:
        assert store.integrity_ok()
        assert store.records() == [] and store.imports() == []
        assert import_file(store, big, source="Big").imported == 60_000
        assert len(store.records()) == 60_000


def test_two_reviewers_deciding_at_once_and_a_kill_9_lose_no_acknowledged_decision(
    tmp_path, run_cli
):
    """Two processes decide side by side (WAL, busy timeout); one is killed with kill -9
    mid-session. Every decision a process printed as stored is in the store, and the
    store passes its integrity check."""
    folder = tmp_path / "r"
    run_cli("review", "init", folder)
    for name in ("ann", "ben"):
        run_cli("review", "user", "add", folder, name)
    run_cli("review", "import", folder, _ris(tmp_path / "s.ris", 400), "--source", "S")
    code = """
import sys
from pathlib import Path
from ipdmeta.review import open_store
from ipdmeta.review.screening import decide
with open_store(Path(sys.argv[1])) as store:
    for record in range(1, 401):
        decide(store, sys.argv[2], "title_abstract", record, "exclude")
        print(record, flush=True)
"""
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", code, str(folder), name], stdout=subprocess.PIPE, text=True
        )
        for name in ("ann", "ben")
    }
    acknowledged: dict[str, list[int]] = {"ann": [], "ben": []}
    stream = children["ann"].stdout
    assert stream is not None
    for line in stream:  # ann runs until 150 decisions are stored, then is killed
        acknowledged["ann"].append(int(line))
        if len(acknowledged["ann"]) == 150:
            os.kill(children["ann"].pid, signal.SIGKILL)
            break
    children["ann"].wait()
    out, _ = children["ben"].communicate(timeout=300)
    assert children["ben"].returncode == 0
    acknowledged["ben"] = [int(x) for x in out.split()]
    with open_store(folder) as store:
        assert store.integrity_ok()
        decided = store.latest_decisions("title_abstract")
        for name, reviewer in (("ann", 1), ("ben", 2)):
            mine = {r for r, d in decided.items() if reviewer in d}
            assert set(acknowledged[name]) <= mine
        assert len(acknowledged["ben"]) == 400
