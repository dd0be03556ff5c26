"""What an imported bibliographic record holds, and the normalisation every parser shares.

A parser turns a file's text into :class:`Parsed`: one dict per record it could read (with
the line the record starts on) and one :class:`Reported` per record it could not, so that
the records a file starts equal the records imported plus the records reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Parsed", "Reported", "normalise_doi", "year_of"]

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*|https?://doi\.org/)", re.I)
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")


@dataclass(frozen=True)
class Reported:
    """A record that was not imported: where it starts and what is wrong."""

    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass
class Parsed:
    """A file's records, the records it could not read, and how many records it starts."""

    format: str
    records: list[dict[str, Any]] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)
    starts: int = 0
    notes: list[str] = field(default_factory=list)


def normalise_doi(text: str | None) -> str | None:
    """A DOI as ``10.xxxx/...`` in lower case (DOIs are case-insensitive), from the forms
    exports write: a URL, ``doi:`` prefixed, upper case, with trailing punctuation."""
    if not text:
        return None
    value = _DOI_PREFIX.sub("", text.strip())
    found = _DOI.search(value)
    if not found:
        return None
    return found.group(0).rstrip(".,;)]}").lower()


def year_of(text: str | None) -> int | None:
    """The first plausible year in a date field ("2019 Mar 5", "2019///", "2019-03")."""
    if not text:
        return None
    found = _YEAR.search(text)
    return int(found.group(1)) if found else None
