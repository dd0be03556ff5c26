"""Screening decisions made elsewhere, imported from a CSV.

Two layouts are read:

- one row per decision: a column naming the reviewer (``reviewer``), the ``decision``
  (include / exclude / maybe, or Included, Excluded, Maybe, yes, no), optionally a
  ``reason``, and the record by ``record_id`` (ipdmeta's id), ``doi``, ``pmid`` or
  ``title``;
- Rayyan's export (``articles.csv``): one row per record, each reviewer's decision in
  its ``notes`` column as ``RAYYAN-INCLUSION: {"Ann"=>"Included", "Ben"=>"Excluded"}``
  and the exclusion reasons as ``RAYYAN-EXCLUSION-REASONS: ...``.

Records are matched by id, then DOI, PMID and normalised title. Every row either becomes
decisions or is reported with its line; nothing is stored unless every row can be (a
partial import of someone's screening would be a silent loss).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipdmeta.errors import ReadError
from ipdmeta.review.dedup import normal_title
from ipdmeta.review.imports import read_text
from ipdmeta.review.records import normalise_doi
from ipdmeta.review.screening import ScreeningState, check_decision
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = ["DecisionRow", "import_decisions", "read_decisions"]

_WORDS = {
    "include": "include", "included": "include", "yes": "include", "in": "include",
    "exclude": "exclude", "excluded": "exclude", "no": "exclude", "out": "exclude",
    "maybe": "maybe", "undecided": "maybe", "unsure": "maybe",
    "not_retrieved": "not_retrieved", "not retrieved": "not_retrieved",
}  # fmt: skip
_RAYYAN = re.compile(r'"([^"]+)"\s*=>\s*"([^"]+)"')


@dataclass(frozen=True)
class DecisionRow:
    line: int
    reviewer: str
    decision: str
    reason: str | None
    keys: dict[str, str]  # record_id, doi, pmid, title: whichever the row has


def read_decisions(path: Path) -> list[DecisionRow]:
    text = read_text(path, "a CSV of screening decisions")[0]
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ReadError(f"{path}: the file is empty")
    names = {name.strip().lower(): name for name in reader.fieldnames}
    rayyan = "notes" in names and "reviewer" not in names
    if not rayyan and not {"reviewer", "decision"} <= set(names):
        raise ReadError(
            f"{path}: expected the columns reviewer and decision (one row per decision), or "
            f"Rayyan's export with its notes column; found {', '.join(reader.fieldnames)}"
        )
    rows: list[DecisionRow] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        cells = {key: (row.get(original) or "").strip() for key, original in names.items()}
        keys = {k: cells[k] for k in ("record_id", "doi", "pmid", "title") if cells.get(k)}
        if rayyan:
            found = _RAYYAN.findall(cells.get("notes", ""))
            reason = _rayyan_reason(cells.get("notes", ""))
            pairs = [(who, said) for who, said in found]
        else:
            reason = cells.get("reason") or None
            pairs = [(cells.get("reviewer", ""), cells.get("decision", ""))]
        for who, said in pairs:
            decision = _WORDS.get(said.strip().lower())
            if not who:
                problems.append(f"line {line}: no reviewer")
            elif decision is None:
                problems.append(f"line {line}: {said!r} is not a decision (include, exclude, "
                                "maybe, not_retrieved)")  # fmt: skip
            elif not keys:
                problems.append(f"line {line}: no record_id, doi, pmid or title to find the record")
            else:
                rows.append(DecisionRow(line, who, decision, reason, keys))
    if problems:
        raise ReadError(f"{path}: " + "; ".join(problems[:10]) + (
            f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))  # fmt: skip
    return rows


def _rayyan_reason(notes: str) -> str | None:
    found = re.search(r"RAYYAN-EXCLUSION-REASONS:\s*([^|]+)", notes)
    return found.group(1).strip() if found else None


def _index(records: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    index: dict[tuple[str, str], int] = {}
    for r in records:
        index.setdefault(("record_id", str(r["id"])), r["id"])
        if r["doi"]:
            index.setdefault(("doi", r["doi"]), r["id"])
        if r["pmid"]:
            index.setdefault(("pmid", r["pmid"]), r["id"])
        if r["title"]:
            index.setdefault(("title", normal_title(r["title"])), r["id"])
    return index


def import_decisions(store: ReviewStore, path: Path, stage: str) -> int:
    """Store every decision of ``path`` at ``stage``; returns how many. All rows are
    checked before any is stored."""
    rows = read_decisions(path)
    records = store.records()
    index = _index(records)
    duplicates = store.duplicate_of()
    planned: list[tuple[DecisionRow, int]] = []
    problems = []
    for row in rows:
        record = None
        for key, value in row.keys.items():
            value = (normalise_doi(value) or "") if key == "doi" else value
            value = normal_title(value) if key == "title" else value
            record = index.get((key, value))
            if record is not None:
                break
        if record is None:
            problems.append(f"line {row.line}: no record matches {row.keys}")
            continue
        planned.append((row, duplicates.get(record, record)))
    for who in {row.reviewer for row in rows}:
        try:
            store.reviewer_id(who)
        except StoreError as exc:
            problems.append(str(exc))
    if problems:
        raise ReadError(f"{path}: nothing imported: " + "; ".join(problems[:10]))
    checked = []
    state = ScreeningState.of(store)
    for row, record in planned:
        try:
            checked.append(
                check_decision(store, row.reviewer, stage, record, row.decision, row.reason, state)
            )
        except StoreError as exc:
            raise ReadError(f"{path}: nothing imported: line {row.line}: {exc}") from None
    store.add_decisions(checked)
    return len(checked)
