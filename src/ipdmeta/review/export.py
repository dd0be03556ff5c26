"""Exports from the store: the included records (RIS or CSV) and the audit trail (every
decision, verdict and resolution with who and when, as CSV)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ipdmeta.data.writers import write_text
from ipdmeta.review.screening import stage_outcomes
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = ["audit_trail", "export_records", "included_records"]

CSV_COLUMNS = ("id", "title", "authors", "year", "journal", "volume", "issue", "pages", "doi",
               "pmid", "source", "abstract")  # fmt: skip


RIS_TAGS = (("PY", "year"), ("JO", "journal"), ("VL", "volume"), ("IS", "issue"),
            ("SP", "pages"), ("DO", "doi"), ("AN", "pmid"), ("AB", "abstract"))  # fmt: skip


def included_records(store: ReviewStore, stage: str) -> list[dict[str, Any]]:
    outcomes = stage_outcomes(store, stage)
    return [r for r in store.records() if outcomes.get(r["id"], {}).get("outcome") == "include"]


def _ris(records: list[dict[str, Any]]) -> str:
    lines = []
    for r in records:
        lines.append(f"TY  - {r['kind'] if r['kind'] and len(r['kind']) <= 4 else 'JOUR'}")
        lines.append(f"TI  - {r['title']}")
        lines += [f"AU  - {a}" for a in r["authors"]]
        for tag, key in RIS_TAGS:
            if r[key]:
                lines.append(f"{tag}  - {r[key]}")
        lines += [f"ID  - ipdmeta-{r['id']}", "ER  - ", ""]
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue()


def export_records(store: ReviewStore, path: Path, stage: str = "full_text") -> int:
    """Write the records included at ``stage`` to ``path`` (.ris or .csv)."""
    records = included_records(store, stage)
    suffix = path.suffix.lower()
    if suffix not in (".ris", ".csv"):
        raise StoreError(f"{path}: export to a .ris or .csv file")
    write_text(path, _ris(records) if suffix == ".ris" else _csv(records, CSV_COLUMNS))
    return len(records)


def audit_trail(store: ReviewStore, path: Path) -> int:
    """Every import, duplicate verdict, decision (withdrawn ones marked) and resolution, in
    time order, as CSV."""
    db = store.connection
    rows: list[dict[str, Any]] = []
    for r in db.execute("SELECT * FROM imports"):
        rows.append({"time": r["created"], "event": "import", "who": "", "record": "",
                     "stage": "", "what": f"{r['imported']} records from {r['source']}",
                     "detail": r["file_name"]})  # fmt: skip
    for r in db.execute("SELECT d.*, v.name FROM duplicates d LEFT JOIN reviewers v "
                        "ON v.id = d.reviewer_id"):  # fmt: skip
        rows.append({"time": r["created"], "event": "duplicate", "who": r["name"] or "dedup",
                     "record": r["record_id"], "stage": "",
                     "what": f"{r['status']} of {r['duplicate_of']}",
                     "detail": f"{r['rule']} ({r['score']:.1f})"})  # fmt: skip
    withdrawn = {w for (w,) in db.execute("SELECT decision_id FROM withdrawals")}
    for r in db.execute("SELECT d.*, v.name FROM decisions d JOIN reviewers v "
                        "ON v.id = d.reviewer_id"):  # fmt: skip
        rows.append({"time": r["created"], "event": "decision", "who": r["name"],
                     "record": r["record_id"], "stage": r["stage"],
                     "what": r["decision"] + (" (withdrawn)" if r["id"] in withdrawn else ""),
                     "detail": r["reason"] or ""})  # fmt: skip
    for r in db.execute("SELECT s.*, v.name FROM resolutions s LEFT JOIN reviewers v "
                        "ON v.id = s.reviewer_id"):  # fmt: skip
        rows.append({"time": r["created"], "event": "resolution", "who": r["name"] or "",
                     "record": r["record_id"], "stage": r["stage"], "what": r["decision"],
                     "detail": r["reason"] or ""})  # fmt: skip
    rows.sort(key=lambda row: row["time"])
    write_text(path, _csv(rows, ("time", "event", "who", "record", "stage", "what", "detail")))
    return len(rows)
