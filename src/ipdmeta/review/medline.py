"""PubMed's MEDLINE format (``.nbib``, "PubMed" format ``.txt``).

Each line is a tag padded to four characters, ``- `` and a value; continuation lines start
with six spaces; ``PMID-`` starts a record. Read line by line so that each record keeps its
line. Authors come from ``FAU`` (full names) or, when a record has none, from ``AU``; links
to errata, retractions, comments and updates (``EIN``, ``RIN``, ``ROF``, ``CIN``, ``UIN``,
...) are kept with the record.
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.review.records import Parsed, Reported, normalise_doi, year_of

__all__ = ["LINK_TAGS", "parse_medline", "starts_medline"]

_TAG = re.compile(r"^([A-Z]{2,4}) {0,3}- ?(.*)$")  # "PMID-123" too, as some exports write it
# PubMed's tags for links between records: erratum, retraction, comment, update,
# republished, expression of concern (in / of).
LINK_TAGS = {
    "EIN": "erratum in", "EFR": "erratum for", "RIN": "retraction in",
    "ROF": "retraction of", "CIN": "comment in", "CON": "comment on", "UIN": "update in",
    "UOF": "update of", "RPI": "republished in", "RPF": "republished from",
    "ECI": "expression of concern in", "ECF": "expression of concern for",
}  # fmt: skip


def starts_medline(first_line: str) -> bool:
    return bool(re.match(r"^PMID- ?\d", first_line))


def parse_medline(text: str) -> Parsed:
    parsed = Parsed(format="MEDLINE")
    current: dict[str, list[str]] | None = None
    start = 0
    last_tag: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.startswith("      ") and current is not None and last_tag:
            current[last_tag][-1] = f"{current[last_tag][-1]} {line.strip()}"
            continue
        match = _TAG.match(line)
        if match is None:
            parsed.notes.append(f"line {number}: not a MEDLINE tag line, left out: {line[:60]!r}")
            continue
        tag, value = match.group(1), match.group(2).strip()
        if tag == "PMID":
            parsed.starts += 1
            if current is not None:
                _close(parsed, current, start)
            current, start, last_tag = {"PMID": [value]}, number, "PMID"
            continue
        if current is None:
            parsed.notes.append(f"line {number}: {tag} line before the first PMID, left out")
            continue
        current.setdefault(tag, []).append(value)
        last_tag = tag
    if current is not None:
        _close(parsed, current, start)
    return parsed


def _close(parsed: Parsed, tags: dict[str, list[str]], line: int) -> None:
    record = _record(tags, line)
    if not record["title"]:
        parsed.reported.append(
            Reported(line, "the record has no title (TI or BTI) and cannot be screened")
        )
        return
    parsed.records.append(record)


def _first(tags: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = [v for v in tags.get(name, []) if v]
        if values:
            return values[0]
    return None


def _doi(tags: dict[str, list[str]]) -> str | None:
    for name in ("LID", "AID"):
        for value in tags.get(name, []):
            if value.endswith("[doi]"):
                return normalise_doi(value.removesuffix("[doi]"))
    return None


def _record(tags: dict[str, list[str]], line: int) -> dict[str, Any]:
    pmid = re.match(r"\d+", _first(tags, "PMID") or "")
    return {
        "line": line,
        "kind": _first(tags, "PT"),
        "title": _first(tags, "TI", "BTI"),
        "abstract": _first(tags, "AB"),
        "authors": tags.get("FAU") or tags.get("AU") or [],
        "year": year_of(_first(tags, "DP", "DEP", "DA")),
        "journal": _first(tags, "JT", "TA"),
        "volume": _first(tags, "VI"),
        "issue": _first(tags, "IP"),
        "pages": _first(tags, "PG"),
        "doi": _doi(tags),
        "pmid": pmid.group(0) if pmid else None,
        "url": None,
        "links": [
            {"kind": LINK_TAGS[tag], "text": value}
            for tag in LINK_TAGS
            for value in tags.get(tag, [])
        ],
        "fields": tags,
    }
