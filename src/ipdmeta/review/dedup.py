"""Finding duplicate records across and within search exports, in the spirit of ASySD.

Rules, in order:

1. the same DOI (normalised) or the same PMID: a duplicate;
2. blocks of candidate pairs (records that share a year and the start of their normalised
   title, or a year and the first author's surname) are compared with rapidfuzz;
3. a title that differs by a character or two (a typo, British and American spelling)
   with the same year and first author: a duplicate;
4. a close title with the same year and a matching journal, first page or author, where
   the rules cannot be sure (other DOIs, a less close title): a pair for a person to
   confirm or reject, counted as unique until confirmed;
5. anything in another year or with another DOI and a merely similar title (a follow-up of
   the same cohort, a reply) is not a duplicate.

A duplicate points at the earliest imported record of its group.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Match", "find_duplicates", "normal_title"]

# Title similarity (rapidfuzz's normalised Indel ratio, 0-100) of the automatic rule: in a
# title of 60 characters, two characters changed. Below it and above UNSURE: a person's call.
SAME_TITLE = 96.5
UNSURE_TITLE = 90.0
_TITLE_BLOCK = 10  # characters of the normalised title that put records in one block


@dataclass(frozen=True)
class Match:
    """``record`` duplicates ``of`` (an earlier record) by ``rule`` with ``score``;
    ``sure`` False: a person confirms or rejects it."""

    record: int
    of: int
    rule: str
    score: float
    sure: bool


def normal_title(text: str | None) -> str:
    """Lower case, accents and markup off, letters and digits only, single spaces."""
    if not text:
        return ""
    text = re.sub(r"<[^>]+>", " ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _surname(authors: Sequence[str]) -> str:
    if not authors:
        return ""
    first = authors[0]
    name = first.split(",")[0] if "," in first else first.split(" ")[0]
    return normal_title(name)


def _first_page(pages: str | None) -> str:
    if not pages:
        return ""
    found = re.match(r"\s*([A-Za-z]?\d+)", pages)
    return found.group(1).lower() if found else ""


@dataclass(frozen=True)
class _Key:
    id: int
    title: str
    year: int | None
    surname: str
    journal: str
    page: str
    doi: str | None


def _keys(records: Iterable[dict[str, Any]]) -> list[_Key]:
    return [
        _Key(
            id=int(r["id"]),
            title=normal_title(r.get("title")),
            year=r.get("year"),
            surname=_surname(r.get("authors") or []),
            journal=normal_title(r.get("journal")),
            page=_first_page(r.get("pages")),
            doi=r.get("doi"),
        )
        for r in records
    ]


def find_duplicates(records: Sequence[dict[str, Any]]) -> list[Match]:
    """Every record that duplicates an earlier one, by the rules above."""
    keys = _keys(records)
    by_id = {k.id: k for k in keys}
    reason: dict[int, tuple[str, float]] = {}
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    def join(a: int, b: int, rule: str, score: float) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
        for record in (a, b):  # the rule that first put each record in a group
            reason.setdefault(record, (rule, score))

    for field in ("doi", "pmid"):
        first_seen: dict[str, int] = {}
        for record in records:
            value = record.get(field)
            if not value:
                continue
            if value in first_seen:
                join(first_seen[value], int(record["id"]), field, 100.0)
            else:
                first_seen[value] = int(record["id"])

    unsure: list[Match] = []
    for a, b in _candidate_pairs(keys):
        ka, kb = by_id[a], by_id[b]
        if root(a) == root(b) or ka.year is None or ka.year != kb.year:
            continue
        score = _similarity(ka.title, kb.title)
        if score < UNSURE_TITLE:
            continue
        other_doi = bool(ka.doi and kb.doi and ka.doi != kb.doi)
        same_author = bool(ka.surname) and ka.surname == kb.surname
        corroborated = same_author or (
            bool(ka.journal) and _similarity(ka.journal, kb.journal) >= 90
        ) or (bool(ka.page) and ka.page == kb.page)  # fmt: skip
        if score >= SAME_TITLE and same_author and not other_doi:
            join(a, b, "title, year and first author", score)
        elif corroborated:
            unsure.append(Match(max(a, b), min(a, b), "similar title, same year", score, False))
    # The sure groups point at their earliest record; an unsure pair stays a question
    # unless the sure rules already joined its two records.
    out = [
        Match(record, root(record), *reason[record], True)
        for record in sorted(reason)
        if root(record) != record
    ]
    asked = {(m.record, m.of) for m in out}
    for m in unsure:
        # Asked against the head of each group: one question per pair of groups.
        late, early = max(root(m.record), root(m.of)), min(root(m.record), root(m.of))
        if late != early and (late, early) not in asked:
            out.append(Match(late, early, m.rule, m.score, False))
            asked.add((late, early))
    return sorted(out, key=lambda m: (m.record, m.of))


def _similarity(a: str, b: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(a, b))


def _candidate_pairs(keys: Sequence[_Key]) -> set[tuple[int, int]]:
    """Pairs sharing a block: (year, start of title) or (year, first author)."""
    blocks: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for k in keys:
        if not k.title:
            continue
        blocks[("t", k.year, k.title[:_TITLE_BLOCK])].append(k.id)
        if k.surname:
            blocks[("a", k.year, k.surname)].append(k.id)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2:
            continue
        members = sorted(members)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add((a, b))
    return pairs
