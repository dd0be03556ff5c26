"""BibTeX exports (Scopus, Web of Science), read with bibtexparser 2.

Known traps, handled: two different papers exported under one citation key (bibtexparser
sets the second aside as a duplicate-key block; it is a record all the same), an entry
whose braces do not close (reported with its line; the parser resumes at the next entry),
LaTeX accents and protective braces in titles and names, fields over several lines.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

from ipdmeta.review.records import Parsed, Reported, normalise_doi, year_of

__all__ = ["parse_bibtex", "starts_bibtex"]

_NOT_RECORDS = {"string", "preamble", "comment"}
_ENTRY_START = re.compile(r"^\s*@\s*([A-Za-z]+)\s*[{(]", re.M)


def starts_bibtex(first_line: str) -> bool:
    return bool(_ENTRY_START.match(first_line)) or first_line.lstrip().startswith("%")


def parse_bibtex(text: str) -> Parsed:
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    parsed = Parsed(format="BibTeX")
    parsed.starts = sum(
        1 for m in _ENTRY_START.finditer(text) if m.group(1).lower() not in _NOT_RECORDS
    )
    logger = logging.getLogger("bibtexparser")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # its parse errors are reported here, with lines
    try:
        library = bibtexparser.parse_string(text)
    finally:
        logger.setLevel(level)
    for block in library.blocks:
        line = (block.start_line or 0) + 1  # bibtexparser counts from 0
        if isinstance(block, DuplicateBlockKeyBlock):
            entry = block.ignore_error_block
            if isinstance(entry, Entry):
                _add(parsed, entry, line, f"its key {block.key!r} is used twice in the file")
            continue
        if isinstance(block, ParsingFailedBlock):
            first = block.raw.splitlines()[0].strip() if block.raw else ""
            if first.startswith("@") and not _ENTRY_START.match(first):
                continue
            parsed.reported.append(
                Reported(line, f"the entry cannot be read ({_reason(block)}): {first[:60]!r}")
            )
            continue
        if isinstance(block, Entry) and block.entry_type.lower() not in _NOT_RECORDS:
            _add(parsed, block, line, None)
    return parsed


def _reason(block: Any) -> str:
    raw = block.raw or ""
    if raw.count("{") != raw.count("}") or raw.count('"') % 2:
        return "its braces or quotes do not close before the next entry"
    lines = [line for line in str(getattr(block, "error", "")).splitlines() if line.strip()]
    return lines[0][:80] if lines else "a syntax error"


def _add(parsed: Parsed, entry: Any, line: int, note: str | None) -> None:
    fields = {f.key.lower(): _text(f.value) for f in entry.fields}
    title = fields.get("title")
    if not title:
        parsed.reported.append(Reported(line, "the entry has no title and cannot be screened"))
        return
    if note:
        parsed.notes.append(f"line {line}: {note}; both entries are imported")
    authors = [a.strip() for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()]
    pmid = fields.get("pmid") or fields.get("pubmed_id") or ""
    parsed.records.append(
        {
            "line": line,
            "kind": entry.entry_type.lower(),
            "title": title,
            "abstract": fields.get("abstract"),
            "authors": authors,
            "year": year_of(fields.get("year") or fields.get("date")),
            "journal": fields.get("journal") or fields.get("booktitle"),
            "volume": fields.get("volume"),
            "issue": fields.get("number"),
            "pages": (fields.get("pages") or "").replace("--", "-") or None,
            "doi": normalise_doi(fields.get("doi") or fields.get("url")),
            "pmid": pmid if pmid.isdigit() else None,
            "url": fields.get("url"),
            "links": [],
            "fields": {"key": entry.key, **fields},
        }
    )


@cache
def _latex() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text  # bibtexparser's own dependency

    return LatexNodes2Text()


def _text(value: Any) -> str:
    """A field's value as plain text: enclosing braces or quotes off, LaTeX accents and
    protective braces decoded, white space collapsed."""
    text = str(value).strip()
    if len(text) >= 2 and text[0] + text[-1] in ("{}", '""'):
        text = text[1:-1]
    if "\\" in text or "{" in text:
        text = _latex().latex_to_text(text)
    return " ".join(text.split())
