"""Importing a search export into the review store.

The file is read as bytes (never changed), decoded (UTF-8 with or without a byte-order
mark, else Windows-1252, which Latin-1 exports are), recognised by its content (RIS,
MEDLINE, BibTeX, CSV), parsed, and stored in one transaction with what PRISMA-S asks of a search:
source, kind, platform, date, query and the raw count. The same file imported again for the
same source adds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ipdmeta.data.readers import decode_bytes
from ipdmeta.errors import ReadError
from ipdmeta.review.bibtex import parse_bibtex, starts_bibtex
from ipdmeta.review.csv_records import MissingTitleColumn, parse_csv_records
from ipdmeta.review.medline import parse_medline, starts_medline
from ipdmeta.review.records import Parsed, Reported
from ipdmeta.review.ris import parse_ris, starts_ris
from ipdmeta.review.store import ReviewStore

__all__ = ["KINDS", "ImportResult", "import_file", "read_export"]

KINDS = ("database", "register", "other")


@dataclass(frozen=True)
class ImportResult:
    file: Path
    format: str
    source: str
    imported: int
    reported: tuple[Reported, ...]
    starts: int
    encoding: str
    already: bool = False  # this file was imported for this source before: nothing added
    notes: tuple[str, ...] = field(default_factory=tuple)


def read_text(path: Path, what: str = "a search export") -> tuple[str, str, bytes]:
    """A file a reviewer gives (an export, a decisions or appraisal sheet) as text, its
    encoding and its bytes, decoded as the data layer decodes tables (UTF-16, UTF-8,
    Windows-1252); an empty, PDF or binary file is refused naming what was expected."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReadError(f"{path} is a folder, not {what}") from None
    except OSError as exc:
        raise ReadError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise ReadError(f"{path}: the file is empty")
    if data.startswith(b"%PDF"):
        raise ReadError(f"{path} is a PDF, not {what}")
    text, encoding = decode_bytes(path, data)
    if "\x00" in text[:4096]:  # after decoding: UTF-16 text holds NUL bytes, text does not
        raise ReadError(f"{path} is a binary file, not {what}")
    return text, encoding, data


def read_export(path: Path) -> tuple[Parsed, str, bytes]:
    """The parsed file, its encoding and its bytes."""
    text, encoding, data = read_text(path, "a search export (RIS, MEDLINE/.nbib, BibTeX or CSV)")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if starts_ris(first):
        return parse_ris(text), encoding, data
    if starts_medline(first):
        return parse_medline(text), encoding, data
    if starts_bibtex(first):
        return parse_bibtex(text), encoding, data
    if path.suffix.lower() in (".csv", ".tsv", ".txt") and ("," in first or ";" in first
                                                            or "\t" in first):  # fmt: skip
        try:
            return parse_csv_records(text), encoding, data
        except MissingTitleColumn as exc:
            raise ReadError(f"{path}: {exc}") from None
    raise ReadError(
        f"{path}: not a search export ipdmeta can read: its first line is {first[:60]!r}; "
        "expected RIS (TY  - ...), MEDLINE (PMID- ...), BibTeX (@article{...) or a CSV with "
        "a title column"
    )


def import_file(
    store: ReviewStore,
    path: Path,
    *,
    source: str,
    kind: str = "database",
    searched: str | None = None,
    query: str | None = None,
    platform: str | None = None,
) -> ImportResult:
    if kind not in KINDS:
        raise ReadError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if not source.strip():
        raise ReadError("the source needs a name (--source PubMed, --source Embase, ...)")
    parsed, encoding, data = read_export(path)
    if parsed.starts == 0:
        raise ReadError(f"{path}: the file holds no records")
    digest = hashlib.sha256(data).hexdigest()
    result = ImportResult(
        file=path,
        format=parsed.format,
        source=source,
        imported=len(parsed.records),
        reported=tuple(parsed.reported),
        starts=parsed.starts,
        encoding=encoding,
        notes=tuple(parsed.notes),
    )
    if store.find_import(digest, source) is not None:
        return ImportResult(
            file=path, format=parsed.format, source=source, imported=0, reported=(),
            starts=parsed.starts, encoding=encoding, already=True,
        )  # fmt: skip
    store.add_import(
        {
            "file_name": path.name,
            "file_sha256": digest,
            "format": parsed.format,
            "source": source,
            "kind": kind,
            "platform": platform,
            "searched": searched,
            "query": query,
            "raw_count": parsed.starts,
        },
        parsed.records,
        [(r.line, r.problem) for r in parsed.reported],
    )
    return result
