"""The review store: one SQLite file in the review folder. This module owns the SQL.

Nothing is deleted: an import, a record, a decision, a duplicate verdict is a new row; a
changed decision is a later row. The schema is versioned (``PRAGMA user_version``) and
brought up to date by the migrations below, each in its own transaction. The database
runs in WAL mode with a busy timeout, so that two terminal sessions can work at once, and
every write is one transaction: a process killed mid-import leaves the store as it was.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ipdmeta.errors import IpdmetaError

__all__ = [
    "ROLES",
    "STORE_NAME",
    "ReviewStore",
    "StoreError",
    "create_store",
    "open_store",
]

STORE_NAME = "review.sqlite"
ROLES = ("owner", "reviewer")
BUSY_TIMEOUT_MS = 10_000
# A record's columns without the export's raw tags (``fields``).
_RECORD_COLUMNS = (
    "r.id, r.import_id, r.line, r.title, r.abstract, r.authors, r.year, r.journal, "
    "r.volume, r.issue, r.pages, r.doi, r.pmid, r.url, r.kind, r.links"
)
_DUPLICATE = ("duplicate", "confirmed")  # the verdicts that make a record a duplicate

# One entry per schema version: the SQL that takes the store from the version before.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE reviewers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('owner', 'reviewer')),
        password_hash TEXT,
        created TEXT NOT NULL
    );
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        file_name TEXT NOT NULL,
        file_sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('database', 'register', 'other')),
        platform TEXT,
        searched TEXT,
        query TEXT,
        raw_count INTEGER NOT NULL,
        imported INTEGER NOT NULL,
        reported INTEGER NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (file_sha256, source)
    );
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL REFERENCES imports (id),
        line INTEGER NOT NULL,
        title TEXT,
        abstract TEXT,
        authors TEXT NOT NULL,
        year INTEGER,
        journal TEXT,
        volume TEXT,
        issue TEXT,
        pages TEXT,
        doi TEXT,
        pmid TEXT,
        url TEXT,
        kind TEXT,
        links TEXT NOT NULL,
        fields TEXT NOT NULL
    );
    CREATE INDEX records_doi ON records (doi);
    CREATE INDEX records_pmid ON records (pmid);
    CREATE TABLE reported (
        id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL REFERENCES imports (id),
        line INTEGER NOT NULL,
        problem TEXT NOT NULL
    );
    """,
    # 2: duplicate verdicts, appended: the latest row for a record is its state.
    """
    CREATE TABLE duplicates (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        duplicate_of INTEGER NOT NULL REFERENCES records (id),
        rule TEXT NOT NULL,
        score REAL NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('duplicate', 'pending', 'confirmed',
                                               'rejected')),
        reviewer_id INTEGER REFERENCES reviewers (id),
        created TEXT NOT NULL
    );
    CREATE INDEX duplicates_record ON duplicates (record_id, duplicate_of);
    """,
    # 3: screening decisions and the resolutions of conflicts, appended.
    """
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id),
        stage TEXT NOT NULL CHECK (stage IN ('title_abstract', 'full_text')),
        decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude', 'maybe',
                                                   'not_retrieved')),
        reason TEXT,
        created TEXT NOT NULL
    );
    CREATE INDEX decisions_record ON decisions (record_id, stage);
    CREATE TABLE resolutions (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        stage TEXT NOT NULL CHECK (stage IN ('title_abstract', 'full_text')),
        decision TEXT NOT NULL CHECK (decision IN ('include', 'exclude')),
        reason TEXT,
        reviewer_id INTEGER REFERENCES reviewers (id),
        created TEXT NOT NULL
    );
    """,
    # 4: undo (a decision withdrawn, not deleted), the review's keywords and its list of
    # exclusion reasons.
    """
    CREATE TABLE withdrawals (
        id INTEGER PRIMARY KEY,
        decision_id INTEGER NOT NULL UNIQUE REFERENCES decisions (id),
        created TEXT NOT NULL
    );
    CREATE TABLE keywords (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('include', 'exclude')),
        term TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (kind, term)
    );
    CREATE TABLE reasons (
        id INTEGER PRIMARY KEY,
        stage TEXT NOT NULL CHECK (stage IN ('title_abstract', 'full_text')),
        text TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (stage, text)
    );
    """,
    # 5: reports linked to studies (the study_id of the patients table); the latest link
    # of a record stands, an empty study_id unlinks it.
    """
    CREATE TABLE links (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        study_id TEXT NOT NULL,
        reviewer_id INTEGER REFERENCES reviewers (id),
        created TEXT NOT NULL
    );
    """,
    # 6: quality appraisal: each rater's judgements and the consensus (reviewer_id NULL),
    # appended; the latest row for (study, tool, item, rater) stands.
    """
    CREATE TABLE appraisals (
        id INTEGER PRIMARY KEY,
        study_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        item TEXT NOT NULL,
        judgement TEXT NOT NULL,
        note TEXT,
        reviewer_id INTEGER REFERENCES reviewers (id),
        consensus INTEGER NOT NULL CHECK (consensus IN (0, 1)),
        created TEXT NOT NULL
    );
    CREATE INDEX appraisals_study ON appraisals (study_id, tool);
    """,
    # 7: the review's settings (a stopping rule, a check sample), appended: latest wins.
    """
    CREATE TABLE settings (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created TEXT NOT NULL
    );
    """,
    # 8: the web app: sign-in sessions (a hash of the cookie's token, never the token; a
    # session ends when signed out or expired) and the full texts attached to records.
    """
    CREATE TABLE web_sessions (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        reviewer_id INTEGER NOT NULL REFERENCES reviewers (id),
        csrf_token TEXT NOT NULL,
        created TEXT NOT NULL,
        expires TEXT NOT NULL,
        ended TEXT
    );
    CREATE TABLE fulltexts (
        id INTEGER PRIMARY KEY,
        record_id INTEGER NOT NULL REFERENCES records (id),
        file_name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        original_name TEXT,
        reviewer_id INTEGER REFERENCES reviewers (id),
        created TEXT NOT NULL
    );
    CREATE INDEX fulltexts_record ON fulltexts (record_id);
    CREATE INDEX decisions_reviewer ON decisions (reviewer_id, stage);
    """,
    # 9: data extraction: each extractor's (or, with reviewer_id NULL, the agreed) patient
    # rows and study details of a study, saved whole each time; the latest stands.
    """
    CREATE TABLE extractions (
        id INTEGER PRIMARY KEY,
        study_id TEXT NOT NULL,
        reviewer_id INTEGER REFERENCES reviewers (id),
        data TEXT NOT NULL,
        created TEXT NOT NULL
    );
    CREATE INDEX extractions_study ON extractions (study_id, reviewer_id);
    """,
)


class StoreError(IpdmetaError):
    """The review store is missing, damaged or from a newer ipdmeta."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys = ON")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StoreError(f"{path}: the store cannot use write-ahead logging ({mode})")
    connection.execute("PRAGMA synchronous = FULL")  # an acknowledged write survives a crash
    return connection


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer ipdmeta (store version {version}; this one knows "
            f"up to {len(MIGRATIONS)}). Update ipdmeta"
        )
    for number in range(version, len(MIGRATIONS)):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # A second session may have migrated while this one waited for the lock.
            if connection.execute("PRAGMA user_version").fetchone()[0] != number:
                connection.execute("ROLLBACK")
                continue
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {number + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


@dataclass
class ReviewStore:
    """An open store. Use as a context manager, or call :meth:`close`."""

    path: Path
    connection: sqlite3.Connection

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is stored, or none (``BEGIN IMMEDIATE`` takes
        the write lock at once, waiting up to the busy timeout for another session)."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self.connection.execute("PRAGMA user_version").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- reviewers --------------------------------------------------------------------------
    def add_reviewer(self, name: str, role: str, password_hash: str | None = None) -> int:
        name = name.strip()
        if not name or any(ch in name for ch in "\n\r\t"):
            raise StoreError(f"a reviewer's name is one line of text; got {name!r}")
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM reviewers WHERE name = ?", (name,)).fetchone():
                raise StoreError(f"{self.path}: there is already a reviewer called {name!r}")
            cursor = db.execute(
                "INSERT INTO reviewers (name, role, password_hash, created) VALUES (?, ?, ?, ?)",
                (name, role, password_hash, _now()),
            )
        return int(cursor.lastrowid or 0)

    def set_password(self, name: str, password_hash: str) -> None:
        """A team member's new password (hashed); their web sessions end."""
        with self.transaction() as db:
            found = db.execute("SELECT id FROM reviewers WHERE name = ?", (name,)).fetchone()
            if found is None:
                raise StoreError(f"{name!r} is not a registered reviewer")
            db.execute("UPDATE reviewers SET password_hash = ? WHERE id = ?",
                       (password_hash, found[0]))  # fmt: skip
            db.execute("UPDATE web_sessions SET ended = ? WHERE reviewer_id = ? AND ended IS "
                       "NULL", (_now(), found[0]))  # fmt: skip

    def reviewers(self) -> list[dict[str, Any]]:
        rows = self.connection.execute("SELECT id, name, role, created FROM reviewers ORDER BY id")
        return [dict(row) for row in rows]

    # -- imports ------------------------------------------------------------------------------
    def find_import(self, sha256: str, source: str) -> dict[str, Any] | None:
        row = self.connection.execute(
            "SELECT * FROM imports WHERE file_sha256 = ? AND source = ?", (sha256, source)
        ).fetchone()
        return dict(row) if row else None

    def add_import(
        self,
        info: dict[str, Any],
        records: Sequence[dict[str, Any]],
        reported: Sequence[tuple[int, str]],
    ) -> int:
        """One file's import: its PRISMA-S details, its records and the records reported,
        in one transaction."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO imports (file_name, file_sha256, format, source, kind, platform, "
                "searched, query, raw_count, imported, reported, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info["file_name"], info["file_sha256"], info["format"], info["source"],
                    info["kind"], info.get("platform"), info.get("searched"), info.get("query"),
                    info["raw_count"], len(records), len(reported), _now(),
                ),
            )  # fmt: skip
            import_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO records (import_id, line, title, abstract, authors, year, journal, "
                "volume, issue, pages, doi, pmid, url, kind, links, fields) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        import_id, r["line"], r.get("title"), r.get("abstract"),
                        json.dumps(r.get("authors", []), ensure_ascii=False), r.get("year"),
                        r.get("journal"), r.get("volume"), r.get("issue"), r.get("pages"),
                        r.get("doi"), r.get("pmid"), r.get("url"), r.get("kind"),
                        json.dumps(r.get("links", []), ensure_ascii=False),
                        json.dumps(r.get("fields", {}), ensure_ascii=False),
                    )
                    for r in records
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO reported (import_id, line, problem) VALUES (?, ?, ?)",
                [(import_id, line, problem) for line, problem in reported],
            )
        return import_id

    def imports(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.connection.execute("SELECT * FROM imports ORDER BY id")]

    def records(self, with_fields: bool = False) -> list[dict[str, Any]]:
        """Every record with its source. ``with_fields=True`` adds the raw tags of the
        export (``fields``), kept for provenance: nothing in ipdmeta reads them, and they
        are most of the decoding time of a large store."""
        columns = "r.*" if with_fields else _RECORD_COLUMNS
        rows = self.connection.execute(
            f"SELECT {columns}, i.source AS source, i.file_name AS file_name FROM records r "
            "JOIN imports i ON i.id = r.import_id ORDER BY r.id"
        )
        out = []
        for row in rows:
            record = dict(row)
            for key in ("authors", "links", "fields"):
                if key in record:
                    record[key] = json.loads(record[key])
            out.append(record)
        return out

    def record_ids(self) -> list[int]:
        return [i for (i,) in self.connection.execute("SELECT id FROM records ORDER BY id")]

    # -- duplicates ---------------------------------------------------------------------------
    def duplicate_state(self) -> dict[tuple[int, int], dict[str, Any]]:
        """(record, duplicate_of) -> the latest verdict on that pair."""
        rows = self.connection.execute(
            "SELECT d.* FROM duplicates d JOIN (SELECT MAX(id) AS id FROM duplicates "
            "GROUP BY record_id, duplicate_of) latest ON latest.id = d.id"
        )
        return {(r["record_id"], r["duplicate_of"]): dict(r) for r in rows}

    def duplicate_of(self) -> dict[int, int]:
        """record -> the record it duplicates (automatic or confirmed verdicts)."""
        direct: dict[int, int] = {}
        for (record, of), row in sorted(self.duplicate_state().items()):
            if row["status"] in _DUPLICATE:
                direct.setdefault(record, of)
        out = {}
        for record, of in direct.items():
            seen = {record}
            while of in direct and of not in seen:  # a chain from later imports: its head
                seen.add(of)
                of = direct[of]
            out[record] = of
        return out

    def duplicate_head(self, record: int) -> int | None:
        """What :meth:`duplicate_of` says of one record, read for that record alone (the
        verdicts on it, then on the record it duplicates, up the chain)."""

        def direct(of_record: int) -> int | None:
            row = self.connection.execute(
                "SELECT MIN(d.duplicate_of) FROM duplicates d JOIN (SELECT MAX(id) AS id FROM "
                "duplicates WHERE record_id = ? GROUP BY duplicate_of) latest ON latest.id = "
                f"d.id WHERE d.status IN ({', '.join('?' * len(_DUPLICATE))})",
                (of_record, *_DUPLICATE),
            ).fetchone()
            return None if row[0] is None else int(row[0])

        head = direct(record)
        seen = {record}
        while head is not None and head not in seen:
            seen.add(head)
            further = direct(head)
            if further is None:
                break
            head = further
        return head

    def record(self, record_id: int) -> dict[str, Any] | None:
        """One record, as :meth:`records` gives it without the export's raw tags."""
        row = self.connection.execute(
            f"SELECT {_RECORD_COLUMNS}, i.source AS source, i.file_name AS file_name FROM "
            "records r JOIN imports i ON i.id = r.import_id WHERE r.id = ?",
            (record_id,),
        ).fetchone()
        if row is None:
            return None
        found = dict(row)
        for key in ("authors", "links"):
            found[key] = json.loads(found[key])
        return found

    def pending_duplicates(self) -> list[dict[str, Any]]:
        duplicates = self.duplicate_of()
        return [
            row
            for (record, of), row in sorted(self.duplicate_state().items())
            if row["status"] == "pending" and record not in duplicates
        ]

    def add_duplicate_verdicts(self, verdicts: Sequence[tuple[int, int, str, float, str]]) -> int:
        """Append (record, duplicate_of, rule, score, status) rows for the pairs without a
        verdict yet; returns how many were added."""
        with self.transaction() as db:
            known = {
                (r, o) for r, o in db.execute("SELECT record_id, duplicate_of FROM duplicates")
            }
            new = [v for v in verdicts if (v[0], v[1]) not in known]
            db.executemany(
                "INSERT INTO duplicates (record_id, duplicate_of, rule, score, status, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*v, _now()) for v in new],
            )
        return len(new)

    def decide_duplicate(self, record: int, of: int, confirm: bool, reviewer: str) -> None:
        """A person's verdict on a pair the rules were unsure of."""
        with self.transaction() as db:
            person = db.execute("SELECT id FROM reviewers WHERE name = ?", (reviewer,)).fetchone()
            if person is None:
                raise StoreError(f"{reviewer!r} is not a registered reviewer "
                                 "(ipdmeta review user add)")  # fmt: skip
            row = db.execute(
                "SELECT rule, score FROM duplicates WHERE record_id = ? AND duplicate_of = ? "
                "ORDER BY id DESC LIMIT 1",
                (record, of),
            ).fetchone()
            if row is None:
                raise StoreError(f"records {record} and {of} are not a pair found by dedup")
            db.execute(
                "INSERT INTO duplicates (record_id, duplicate_of, rule, score, status, "
                "reviewer_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record, of, row["rule"], row["score"],
                 "confirmed" if confirm else "rejected", person["id"], _now()),
            )  # fmt: skip

    # -- screening ----------------------------------------------------------------------------
    def reviewer_id(self, name: str) -> int:
        row = self.connection.execute("SELECT id FROM reviewers WHERE name = ?", (name,))
        found = row.fetchone()
        if found is None:
            known = ", ".join(r["name"] for r in self.reviewers()) or "none yet"
            raise StoreError(
                f"{name!r} is not a registered reviewer (registered: {known}); add with "
                "`ipdmeta review user add`"
            )
        return int(found[0])

    def record_exists(self, record: int) -> bool:
        found = self.connection.execute("SELECT 1 FROM records WHERE id = ?", (record,))
        return found.fetchone() is not None

    def add_decisions(self, rows: Sequence[tuple[int, int, str, str, str | None]]) -> None:
        """(record, reviewer id, stage, decision, reason) rows, all in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO decisions (record_id, reviewer_id, stage, decision, reason, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, _now()) for row in rows],
            )

    def add_resolution(
        self, record: int, stage: str, decision: str, reason: str | None, reviewer: int | None
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resolutions (record_id, stage, decision, reason, reviewer_id, "
                "created) VALUES (?, ?, ?, ?, ?, ?)",
                (record, stage, decision, reason, reviewer, _now()),
            )

    def latest_decisions(
        self, stage: str, record: int | None = None
    ) -> dict[int, dict[int, dict[str, Any]]]:
        """record -> reviewer -> that reviewer's latest decision at ``stage`` (of one
        ``record`` only, when given)."""
        one = "AND record_id = ? " if record is not None else ""
        rows = self.connection.execute(
            "SELECT d.record_id, d.reviewer_id, d.decision, d.reason, r.name FROM decisions d "
            "JOIN reviewers r ON r.id = d.reviewer_id JOIN (SELECT MAX(id) AS id FROM "
            f"decisions WHERE stage = ? {one}AND id NOT IN (SELECT decision_id FROM "
            "withdrawals) GROUP BY record_id, reviewer_id) latest ON latest.id = d.id",
            (stage,) if record is None else (stage, record),
        )
        out: dict[int, dict[int, dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["record_id"], {})[row["reviewer_id"]] = {
                "decision": row["decision"], "reason": row["reason"], "reviewer": row["name"],
            }  # fmt: skip
        return out

    def withdraw_last(self, reviewer: int, stage: str) -> dict[str, Any] | None:
        """Undo: withdraw the reviewer's latest standing decision at ``stage`` (it stays in
        the store, marked withdrawn). Returns it, or None when there is none."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT id, record_id, decision FROM decisions WHERE reviewer_id = ? AND "
                "stage = ? AND id NOT IN (SELECT decision_id FROM withdrawals) "
                "ORDER BY id DESC LIMIT 1",
                (reviewer, stage),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "INSERT INTO withdrawals (decision_id, created) VALUES (?, ?)", (row["id"], _now())
            )
        return dict(row)

    def add_terms(self, table: str, rows: Sequence[tuple[str, str]]) -> None:
        """Keywords (kind, term) or reasons (stage, text); repeats are ignored."""
        columns = {"keywords": "kind, term", "reasons": "stage, text"}[table]
        with self.transaction() as db:
            db.executemany(
                f"INSERT OR IGNORE INTO {table} ({columns}, created) VALUES (?, ?, ?)",
                [(*row, _now()) for row in rows],
            )

    def keywords(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"include": [], "exclude": []}
        for kind, term in self.connection.execute("SELECT kind, term FROM keywords ORDER BY id"):
            out[kind].append(term)
        return out

    def reasons(self, stage: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT text FROM reasons WHERE stage = ? ORDER BY id", (stage,)
        )
        return [text for (text,) in rows]

    def link(self, record: int, study: str, reviewer: int | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO links (record_id, study_id, reviewer_id, created) VALUES (?, ?, ?, ?)",
                (record, study, reviewer, _now()),
            )

    def study_of(self) -> dict[int, str]:
        """record -> the study it reports (records never linked, or unlinked, are absent)."""
        rows = self.connection.execute(
            "SELECT l.record_id, l.study_id FROM links l JOIN (SELECT MAX(id) AS id FROM links "
            "GROUP BY record_id) latest ON latest.id = l.id"
        )
        return {record: study for record, study in rows if study}

    def add_appraisals(self, rows: Sequence[tuple[str, str, str, str, str | None, int | None,
                                                  int]]) -> None:  # fmt: skip
        """(study, tool, item, judgement, note, reviewer id or None, consensus 0/1) rows,
        in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO appraisals (study_id, tool, item, judgement, note, reviewer_id, "
                "consensus, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, _now()) for row in rows],
            )

    def latest_appraisals(self) -> list[dict[str, Any]]:
        """The standing judgements: one per (study, tool, item, rater or consensus)."""
        rows = self.connection.execute(
            "SELECT a.*, r.name AS reviewer FROM appraisals a LEFT JOIN reviewers r "
            "ON r.id = a.reviewer_id JOIN (SELECT MAX(id) AS id FROM appraisals GROUP BY "
            "study_id, tool, item, reviewer_id, consensus) latest ON latest.id = a.id "
            "ORDER BY a.id"
        )
        return [dict(row) for row in rows]

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO settings (key, value, created) VALUES (?, ?, ?)",
                (key, json.dumps(value), _now()),
            )

    def setting(self, key: str, default: Any = None) -> Any:
        row = self.connection.execute(
            "SELECT value FROM settings WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)
        ).fetchone()
        return default if row is None else json.loads(row[0])

    def decision_history(self, reviewer: int, stage: str) -> list[str]:
        """The reviewer's standing decisions at ``stage`` in the order they were made."""
        rows = self.connection.execute(
            "SELECT decision FROM decisions WHERE reviewer_id = ? AND stage = ? AND id NOT IN "
            "(SELECT decision_id FROM withdrawals) ORDER BY id",
            (reviewer, stage),
        )
        return [decision for (decision,) in rows]

    def latest_resolutions(
        self, stage: str, record: int | None = None
    ) -> dict[int, dict[str, Any]]:
        one = "AND record_id = ? " if record is not None else ""
        rows = self.connection.execute(
            "SELECT r.* FROM resolutions r JOIN (SELECT MAX(id) AS id FROM resolutions "
            f"WHERE stage = ? {one}GROUP BY record_id) latest ON latest.id = r.id",
            (stage,) if record is None else (stage, record),
        )
        return {row["record_id"]: dict(row) for row in rows}

    # -- the web app ------------------------------------------------------------------------
    def add_web_session(self, token_hash: str, reviewer: int, csrf: str, expires: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO web_sessions (token_hash, reviewer_id, csrf_token, created, expires) "
                "VALUES (?, ?, ?, ?, ?)",
                (token_hash, reviewer, csrf, _now(), expires),
            )

    def web_session(self, token_hash: str) -> dict[str, Any] | None:
        """The live session with this token hash, with its reviewer's name and role."""
        row = self.connection.execute(
            "SELECT s.id, s.reviewer_id, s.csrf_token, s.expires, r.name, r.role FROM "
            "web_sessions s JOIN reviewers r ON r.id = s.reviewer_id WHERE s.token_hash = ? "
            "AND s.ended IS NULL AND s.expires > ?",
            (token_hash, _now()),
        ).fetchone()
        return None if row is None else dict(row)

    def end_web_session(self, token_hash: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE web_sessions SET ended = ? WHERE token_hash = ? AND ended IS NULL",
                (_now(), token_hash),
            )

    def password_hash(self, name: str) -> tuple[int, str, str | None] | None:
        """(id, role, password hash) of the reviewer called ``name``, or None."""
        row = self.connection.execute(
            "SELECT id, role, password_hash FROM reviewers WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (row["id"], row["role"], row["password_hash"])

    def add_fulltext(
        self, record: int, file_name: str, sha256: str, size: int, original: str | None,
        reviewer: int,
    ) -> None:  # fmt: skip
        with self.transaction() as db:
            db.execute(
                "INSERT INTO fulltexts (record_id, file_name, sha256, size, original_name, "
                "reviewer_id, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record, file_name, sha256, size, original, reviewer, _now()),
            )

    def fulltext(self, record: int) -> dict[str, Any] | None:
        """The latest full text attached to ``record``."""
        row = self.connection.execute(
            "SELECT * FROM fulltexts WHERE record_id = ? ORDER BY id DESC LIMIT 1", (record,)
        ).fetchone()
        return None if row is None else dict(row)

    def decided_by(self, reviewer: int, stage: str) -> set[int]:
        """The records on which ``reviewer`` has a standing decision at ``stage``."""
        rows = self.connection.execute(
            "SELECT DISTINCT record_id FROM decisions WHERE reviewer_id = ? AND stage = ? AND "
            "id NOT IN (SELECT decision_id FROM withdrawals)",
            (reviewer, stage),
        )
        return {r[0] for r in rows}

    def decisions_of(self, record: int) -> list[dict[str, Any]]:
        """Every decision on ``record`` not withdrawn, oldest first, with the reviewer's
        name."""
        rows = self.connection.execute(
            "SELECT d.id, d.stage, d.decision, d.reason, d.created AS time, d.reviewer_id, "
            "r.name AS reviewer FROM decisions d JOIN reviewers r ON r.id = d.reviewer_id "
            "WHERE d.record_id = ? AND d.id NOT IN (SELECT decision_id FROM withdrawals) "
            "ORDER BY d.id",
            (record,),
        )
        return [dict(r) for r in rows]

    def add_extraction(self, study: str, reviewer: int | None, data: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO extractions (study_id, reviewer_id, data, created) "
                "VALUES (?, ?, ?, ?)",
                (study, reviewer, json.dumps(data, ensure_ascii=False), _now()),
            )

    def latest_extractions(self, study: str | None = None) -> list[dict[str, Any]]:
        """The standing extraction of each (study, extractor or consensus), with the
        extractor's name (None for the consensus)."""
        where = "WHERE e.study_id = ?" if study is not None else ""
        rows = self.connection.execute(
            "SELECT e.study_id, e.reviewer_id, e.data, e.created, r.name AS reviewer FROM "
            "extractions e LEFT JOIN reviewers r ON r.id = e.reviewer_id JOIN (SELECT MAX(id) "
            "AS id FROM extractions GROUP BY study_id, IFNULL(reviewer_id, 0)) latest ON "
            f"latest.id = e.id {where} ORDER BY e.study_id, e.id",
            (study,) if study is not None else (),
        )
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    def change_counter(self) -> tuple[int, ...]:
        """Changes whenever a record, duplicate verdict, decision, withdrawal or resolution
        is added: what the web app's caches are keyed on."""
        row = self.connection.execute(
            "SELECT (SELECT IFNULL(MAX(id), 0) FROM records), (SELECT IFNULL(MAX(id), 0) FROM "
            "duplicates), (SELECT IFNULL(MAX(id), 0) FROM decisions), (SELECT IFNULL(MAX(id), "
            "0) FROM withdrawals), (SELECT IFNULL(MAX(id), 0) FROM resolutions), (SELECT "
            "IFNULL(MAX(id), 0) FROM links)"
        ).fetchone()
        return tuple(int(v) for v in row)

    def counts_by_source(self) -> dict[str, int]:
        rows = self.connection.execute(
            "SELECT i.source, COUNT(r.id) FROM imports i LEFT JOIN records r "
            "ON r.import_id = i.id GROUP BY i.source ORDER BY MIN(i.id)"
        )
        return {source: int(n) for source, n in rows}


def create_store(folder: Path) -> ReviewStore:
    """Create the store in ``folder`` (which may already hold a review's data), or open the
    one there."""
    if not folder.exists():
        folder.mkdir(parents=True)
    elif not folder.is_dir():
        raise StoreError(f"{folder} is a file, not a folder")
    return open_store(folder, create=True)


def open_store(folder: Path, create: bool = False, check: bool = True) -> ReviewStore:
    """The store of the review in ``folder``, migrated to this ipdmeta's schema.
    ``check=False`` skips SQLite's quick check (a server's second and later connections:
    the check reads the whole file)."""
    path = folder / STORE_NAME
    if not create and not path.is_file():
        raise StoreError(
            f"{folder} has no review store ({STORE_NAME}); create one with "
            f"`ipdmeta review init {folder}`"
        )
    try:
        connection = _connect(path)
        if check and connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise StoreError(f"{path} is damaged (SQLite's integrity check fails)")
        _migrate(connection, path)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a review store SQLite can read ({exc})") from None
    return ReviewStore(path, connection)
