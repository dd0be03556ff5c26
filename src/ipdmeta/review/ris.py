"""RIS exports (PubMed, Embase, Scopus, Web of Science, Ovid, Cochrane).

Each line is ``XY  - value``; ``TY`` starts a record and ``ER`` ends it. Read line by line,
not with a library, so that every record keeps the line it starts on and the known traps
are handled: a missing ``ER`` (a new ``TY`` or the end of the file closes the record),
fields continued on untagged lines, several ``AU``/``KW`` lines, vendors' own tags (kept).
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.review.records import Parsed, Reported, normalise_doi, year_of

__all__ = ["parse_ris", "starts_ris"]

_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: (.*))?$")
_TITLE_TAGS = ("TI", "T1", "CT", "BT")
_AUTHOR_TAGS = ("AU", "A1", "A2")


def starts_ris(first_line: str) -> bool:
    return bool(re.match(r"^TY  -", first_line))


def parse_ris(text: str) -> Parsed:
    parsed = Parsed(format="RIS")
    current: dict[str, list[str]] | None = None
    start = 0
    last_tag: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        match = _TAG.match(line)
        if match is None:
            if current is not None and last_tag and line.strip():
                current[last_tag][-1] = f"{current[last_tag][-1]} {line.strip()}".strip()
            elif line.strip() and current is None:
                parsed.notes.append(f"line {number}: text outside any record, left out: "
                                    f"{_short(line)!r}")  # fmt: skip
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            parsed.starts += 1
            if current is not None:  # the previous record had no ER
                _close(parsed, current, start, "its ER line is missing")
            current, start, last_tag = {"TY": [value]}, number, "TY"
            continue
        if current is None:
            parsed.notes.append(f"line {number}: {tag} line outside a record (no TY before it), "
                                "left out")  # fmt: skip
            continue
        if tag == "ER":
            _close(parsed, current, start, None)
            current, last_tag = None, None
            continue
        current.setdefault(tag, []).append(value)
        last_tag = tag
    if current is not None:
        _close(parsed, current, start, "the file ends before its ER line")
    return parsed


def _close(parsed: Parsed, tags: dict[str, list[str]], line: int, missing: str | None) -> None:
    record = _record(tags, line)
    if not record["title"]:
        parsed.reported.append(
            Reported(line, "the record has no title (TI, T1, CT or BT) and cannot be screened")
        )
        return
    if missing:
        parsed.notes.append(f"line {line}: {missing}; the record is imported as it stands")
    parsed.records.append(record)


def _first(tags: dict[str, list[str]], names: tuple[str, ...]) -> str | None:
    for name in names:
        values = [v for v in tags.get(name, []) if v]
        if values:
            return values[0]
    return None


def _record(tags: dict[str, list[str]], line: int) -> dict[str, Any]:
    authors = [a for name in _AUTHOR_TAGS for a in tags.get(name, []) if a]
    start, end = _first(tags, ("SP",)), _first(tags, ("EP",))
    pages = f"{start}-{end}" if start and end and end != start else start
    doi = normalise_doi(_first(tags, ("DO", "DI")))
    if doi is None:  # some exports put the DOI (or its URL) in UR, L3 or M3
        for name in ("UR", "L3", "M3", "N1"):
            doi = next((d for d in map(normalise_doi, tags.get(name, [])) if d), None)
            if doi:
                break
    return {
        "line": line,
        "kind": _first(tags, ("TY",)),
        "title": _first(tags, _TITLE_TAGS),
        "abstract": _first(tags, ("AB", "N2")),
        "authors": authors,
        "year": year_of(_first(tags, ("PY", "Y1", "DA", "Y2"))),
        "journal": _first(tags, ("T2", "JO", "JF", "JA", "J2", "T3")),
        "volume": _first(tags, ("VL",)),
        "issue": _first(tags, ("IS",)),
        "pages": pages,
        "doi": doi,
        "pmid": _pmid(tags),
        "url": _first(tags, ("UR", "L1", "L2")),
        "links": [],
        "fields": tags,
    }


def _pmid(tags: dict[str, list[str]]) -> str | None:
    for name in ("PM", "AN", "C2"):
        for value in tags.get(name, []):
            found = re.fullmatch(r"(?:PMID:\s*)?(\d{5,9})", value.strip())
            if found:
                return found.group(1)
    return None


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
