"""Quality appraisal in the store: checklists defined as data, two blind raters, then the
consensus, with the raters' agreement, as in screening.

Checklists ship as TOML in ``ipdmeta/review/checklists/``: the JBI checklist for case
series (10 items), Murad et al. 2018 (8 questions in 4 domains) and the NIH case-series
tool (9 items). An item is named by its id (``Q4``), its number (``4``) or its text. The
consensus of a study is what the report's quality table and traffic-light plot show when
the review folder has a store that holds one.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.errors import ReadError
from ipdmeta.review.imports import read_text
from ipdmeta.review.screening import Agreement, agreement
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = [
    "CHECKLISTS",
    "Checklist",
    "appraise",
    "checklist",
    "consensus_table",
    "import_appraisals",
    "judgement_row",
    "rater_agreement",
]  # fmt: skip

CHECKLISTS = ("jbi_case_series", "murad_2018", "nih_case_series")
# What the report's traffic-light plot draws, for the NIH tool's other words.
_AS_REPORTED = {"cannot determine": "unclear", "not reported": "unclear"}


@dataclass(frozen=True)
class Checklist:
    key: str
    name: str
    judgements: tuple[str, ...]
    items: tuple[dict[str, str], ...]

    def item(self, text: str) -> dict[str, str]:
        wanted = text.strip()
        for number, item in enumerate(self.items, start=1):
            if wanted.lower() in (item["id"].lower(), str(number), item["text"].lower()):
                return item
        ids = ", ".join(i["id"] for i in self.items)
        raise StoreError(f"{self.name} has no item {text!r}; items: {ids} (or their numbers)")


@cache
def checklist(key: str) -> Checklist:
    if key not in CHECKLISTS:
        raise StoreError(f"unknown checklist {key!r}; checklists: {', '.join(CHECKLISTS)}")
    text = resources.files("ipdmeta.review").joinpath(f"checklists/{key}.toml").read_text()
    data = tomllib.loads(text)
    return Checklist(key, data["name"], tuple(data["judgements"]), tuple(data["items"]))


def judgement_row(
    store: ReviewStore, tool: str, study: str, item: str, judgement: str, note: str | None,
    reviewer: str | None, consensus: bool,
) -> tuple[str, str, str, str, str | None, int | None, int]:  # fmt: skip
    """The row :func:`appraise` stores, after every check (nothing is written)."""
    sheet = checklist(tool)
    found = sheet.item(item)
    said = judgement.strip().lower()
    if said not in sheet.judgements:
        raise StoreError(
            f"{sheet.name}: {judgement!r} is not a judgement; one of {', '.join(sheet.judgements)}"
        )
    study = study.strip()
    if not study or any(ch in study for ch in "\n\r\t"):
        raise StoreError(f"a study id is one line of text; got {study!r}")
    person = store.reviewer_id(reviewer) if reviewer else None
    if not consensus and person is None:
        raise StoreError("a rater's judgement needs the rater: --reviewer NAME")
    return (study, tool, found["id"], said, (note or "").strip() or None, person, int(consensus))


def appraise(
    store: ReviewStore, tool: str, study: str, item: str, judgement: str,
    note: str | None = None, reviewer: str | None = None, consensus: bool = False,
) -> None:  # fmt: skip
    """One judgement by a rater, or the consensus (``consensus=True``)."""
    store.add_appraisals(
        [judgement_row(store, tool, study, item, judgement, note, reviewer, consensus)]
    )


def import_appraisals(
    store: ReviewStore, path: Path, tool: str, reviewer: str | None, consensus: bool
) -> int:
    """A rater's (or the consensus) judgements from a CSV with columns study_id, item,
    judgement and optionally note: all stored, or none."""
    text = read_text(path, "a CSV of appraisal judgements")[0]
    reader = csv.DictReader(text.splitlines())
    names = {n.strip().lower(): n for n in reader.fieldnames or []}
    if not {"study_id", "item", "judgement"} <= set(names):
        raise ReadError(f"{path}: expected the columns study_id, item and judgement")
    rows, problems = [], []
    for row in reader:
        try:
            rows.append(judgement_row(store, tool, row[names["study_id"]], row[names["item"]],
                             row[names["judgement"]], row.get(names.get("note", ""), None),
                             reviewer, consensus))  # fmt: skip
        except StoreError as exc:
            problems.append(f"line {reader.line_num}: {exc}")
    if problems:
        raise ReadError(f"{path}: nothing imported: " + "; ".join(problems[:10]))
    store.add_appraisals(rows)
    return len(rows)


def rater_agreement(store: ReviewStore, tool: str) -> Agreement | None:
    """The two raters with most judgements in common, over those (study, item) pairs."""
    by_rater: dict[str, dict[tuple[str, str], str]] = {}
    for a in store.latest_appraisals():
        if a["tool"] == tool and not a["consensus"]:
            by_rater.setdefault(a["reviewer"], {})[(a["study_id"], a["item"])] = a["judgement"]
    best: tuple[int, str, str] | None = None
    raters = sorted(by_rater)
    for i, first in enumerate(raters):
        for second in raters[i + 1 :]:
            common = len(by_rater[first].keys() & by_rater[second].keys())
            if common and (best is None or common > best[0]):
                best = (common, first, second)
    if best is None:
        return None
    _, first, second = best
    keys = sorted(by_rater[first].keys() & by_rater[second].keys())
    return agreement([(by_rater[first][k], by_rater[second][k]) for k in keys], (first, second))


def consensus_table(store: ReviewStore) -> pd.DataFrame | None:
    """The consensus judgements as the quality table the report reads (study_id, tool,
    item, judgement, note), or None when the store holds no consensus."""
    rows: list[dict[str, Any]] = []
    for a in store.latest_appraisals():
        if not a["consensus"]:
            continue
        sheet = checklist(a["tool"])
        text = sheet.item(a["item"])["text"]
        judgement = _AS_REPORTED.get(a["judgement"], a["judgement"])
        note = a["note"]
        if judgement != a["judgement"]:
            note = "; ".join(filter(None, [f"judged '{a['judgement']}'", note]))
        rows.append(
            {"source_row": len(rows) + 1, "study_id": a["study_id"], "tool": sheet.name,
             "item": text, "judgement": judgement, "note": note}
        )  # fmt: skip
    if not rows:
        return None
    order = {c: k for k, c in enumerate(CHECKLISTS)}
    frame = pd.DataFrame(rows)
    frame["_item"] = [int(checklist(_key(t)).item(i)["id"].lstrip("Q"))
                      for t, i in zip(frame["tool"], frame["item"], strict=True)]  # fmt: skip
    frame["_tool"] = [order[_key(t)] for t in frame["tool"]]
    frame = frame.sort_values(["study_id", "_tool", "_item"]).drop(columns=["_item", "_tool"])
    return frame.reset_index(drop=True)


def _key(name: str) -> str:
    return next(k for k in CHECKLISTS if checklist(k).name == name)
