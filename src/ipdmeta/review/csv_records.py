"""Records from a CSV: PubMed's CSV export, or a hand-search sheet a reviewer typed.

Columns are found by their header, whatever the case and spacing: a title column is
required; authors, year, journal, DOI, PMID, abstract, volume, issue and pages are read when
present. Every non-empty row is a record, numbered by the line it starts on.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from ipdmeta.review.records import Parsed, Reported, normalise_doi, year_of

__all__ = ["parse_csv_records"]

COLUMNS = {
    "title": ("title", "article title", "document title", "ti"),
    "authors": ("authors", "author", "author full names", "au"),
    "year": ("publication year", "year", "py", "publication date", "date"),
    "journal": ("journal/book", "journal", "source title", "source", "journal title"),
    "doi": ("doi",),
    "pmid": ("pmid", "pubmed id"),
    "abstract": ("abstract", "ab"),
    "volume": ("volume", "vl"),
    "issue": ("issue", "is"),
    "pages": ("pages", "page", "pg"),
}


class MissingTitleColumn(ValueError):
    pass


def parse_csv_records(text: str) -> Parsed:
    """Raises MissingTitleColumn when no column is a title."""
    parsed = Parsed(format="CSV")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if header is None:
        return parsed
    names = [h.strip().lower() for h in header]
    where = {}
    for key, options in COLUMNS.items():
        for option in options:
            if option in names:
                where[key] = names.index(option)
                break
    if "title" not in where:
        raise MissingTitleColumn(
            f"no title column among its headers ({', '.join(h.strip() for h in header)})"
        )
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        parsed.starts += 1
        cells = {key: row[i].strip() if i < len(row) else "" for key, i in where.items()}
        if not cells["title"]:
            parsed.reported.append(Reported(start, "the row has no title and cannot be screened"))
            continue
        parsed.records.append(_record(cells, start, dict(zip(header, row, strict=False))))
    return parsed


def _authors(text: str) -> list[str]:
    if not text:
        return []
    parts = text.split(";") if ";" in text else text.split(",")
    return [p.strip().rstrip(".").strip() for p in parts if p.strip()]


def _record(cells: dict[str, str], line: int, fields: dict[str, str]) -> dict[str, Any]:
    pmid = cells.get("pmid", "")
    return {
        "line": line,
        "kind": None,
        "title": cells["title"],
        "abstract": cells.get("abstract") or None,
        "authors": _authors(cells.get("authors", "")),
        "year": year_of(cells.get("year")),
        "journal": cells.get("journal") or None,
        "volume": cells.get("volume") or None,
        "issue": cells.get("issue") or None,
        "pages": cells.get("pages") or None,
        "doi": normalise_doi(cells.get("doi")),
        "pmid": pmid if pmid.isdigit() else None,
        "url": None,
        "links": [],
        "fields": fields,
    }
