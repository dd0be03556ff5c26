"""Quality-appraisal sheets in the wide layout (one row per study, one column per item).

ipdmeta's quality table is long: one row per study and checklist item (``study_id, item,
judgement``). Reviewers keep a JBI, IHE or risk-of-bias appraisal wide: one row per study,
a column per item ("Q1" ... "Q10", or the question text), answers such as Y, N, U, N/A,
and often extra columns (tool, appraiser, total score, overall judgement, notes).
:func:`long_quality_table` turns the wide layout into the long one before typing, so that
every problem still points at the wide cell the reviewer has to fix.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from ipdmeta.data.categories import CategoryMap
from ipdmeta.data.cells import identifier_text
from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.quantities import read_cell
from ipdmeta.data.readers import RawTable
from ipdmeta.data.schema import QUALITY, normalise_header

__all__ = ["long_quality_table"]

JUDGEMENT = "judgement"

# Item headers as checklists number them: "Q1", "Q 10", "Item 3", "D2b", "5", "Q1 Clear
# criteria", "1. Clear criteria" (normalised: "q1", "q1_clear_criteria", "1_clear_criteria").
_NUMBERED_ITEM = re.compile(r"^((q|question|item|criterion|domain|d)_?)?\d{1,2}[a-z]?(_[a-z].*)?$")
# Headers (normalised) that summarise the appraisal rather than answer an item: the first
# word, or the whole header. Question texts start with Was/Were/Did/Is, never with these.
_SUMMARY_FIRST_WORDS = frozenset({"overall", "total", "summary", "sum"})
_SUMMARY_HEADERS = frozenset(
    {"risk_of_bias", "rob", "quality", "quality_score", "quality_rating", "rating", "score",
     "grade", "result", "conclusion", "decision", "final_decision", "verdict", "include",
     "included", "inclusion", "exclude", "excluded", "n_yes", "yes_count", "count"}
)  # fmt: skip
# Headers that describe the appraisal or the study rather than answer an item.
_ABOUT_FIRST_WORDS = frozenset(
    {"appraiser", "appraisers", "appraised", "reviewer", "reviewers", "rater", "raters",
     "assessor", "assessors", "assessed", "comment", "comments", "remark", "remarks", "note",
     "notes"}
)  # fmt: skip
_ABOUT_HEADERS = frozenset(
    {"author", "authors", "first_author", "year", "title", "doi", "pmid", "design",
     "study_design", "date", "n", "n_patients"}
)  # fmt: skip
# Beyond the schema's aliases, headers that mean the quality table's tool and note.
_TOOL_HEADERS = frozenset({"appraisal_tool", "instrument"})
_NOTE_HEADERS = frozenset({"comments", "remark", "remarks"})
# First words of a row below the studies that counts or explains instead ("Total", "%").
_FOOTER_WORDS = frozenset(
    {"total", "totals", "sum", "count", "counts", "n", "pct", "percent", "percentage", "mean",
     "median", "average", "yes", "no", "unclear", "legend", "key", "note", "notes",
     "abbreviations", "footnote"}
)  # fmt: skip
_LISTED = 12  # rows listed in one message before "and N more rows"
_KEPT_ROLES = ("study_id", "tool", "note")  # per-study columns copied to each item row


@dataclass(frozen=True)
class _Columns:
    """What each column of a wide sheet is: study, tool, note, items, and the rest."""

    study: str | None
    tool: str | None
    note: str | None
    items: list[str]
    skipped: dict[str, str]  # header -> why it is not an item ("summaries", "numbers")


def long_quality_table(
    raw: RawTable, categories: CategoryMap, matcher: HeaderMatcher | None = None
) -> RawTable:
    """The quality table in the long layout: one row per study and checklist item.

    A table is long, and returned unchanged, when a header means ``item`` (as typing reads
    headers) and its cells are item names rather than answers. Otherwise a wide table (one
    row per study, one column per item) becomes one row per study and item, in sheet
    order. Item columns are those headed like a numbered item ("Q1", "Item 3", "D2", "5")
    or a question ending in "?", and, otherwise, those of which at least half the filled
    cells are labels the category map knows for ``judgement``; columns headed as a summary
    ("Overall", "Total score", "Risk of bias", "Rating") or as a description ("Appraiser",
    "Year", "Study design") never are. A table without item columns, or without a study
    column, is returned with its cells unchanged, so that typing reports the missing
    columns, with an error saying what is missing (none when the table has a ``judgement``
    column: a long table whose item column is misnamed).

    Parameters
    ----------
    raw
        The quality table as read, headers as written.
    categories
        The review's category map; its ``judgement`` rules decide which cells are answers.
    matcher
        How typing reads the quality table's headers (with review.toml aliases); by default
        the quality schema's names, aliases and word rules.

    Returns
    -------
    RawTable
        Columns: the study column (its header kept when typing reads it as the study,
        otherwise ``study_id``), ``tool`` when the sheet has a tool column, ``item`` (the
        item's header as written, spacing tidied), ``judgement`` (the label as written;
        typing maps it) and ``note`` when the sheet has a notes column, repeated on each of
        the study's item rows. ``row_numbers`` are the wide rows' spreadsheet rows; ``file``,
        ``sheet`` and the reader's problems are kept, followed by these problems, each
        pointing at wide cells: non-item columns and total rows not read (warnings),
        unknown labels (errors, grouped by column and value, and left out so that typing
        does not report them again), empty cells, read as items not judged and left out
        (a warning), and a study on more than one row (an error).
    """
    matcher = matcher or HeaderMatcher(QUALITY)
    roles = {str(h): _role(str(h), matcher) for h in raw.cells.columns}
    if any(
        role == "item"
        and not _item_header(header)
        and not _answers(raw.cells[header].tolist(), categories)
        for header, role in roles.items()
    ):
        return raw
    columns = _classify(raw, roles, categories)
    if not columns.items:
        if JUDGEMENT in roles.values():  # a long table whose item column has another name
            return raw
        return replace(raw, problems=[*raw.problems, _neither_layout(raw, categories)])
    if columns.study is None:
        return replace(raw, problems=[*raw.problems, _no_study_column(raw, columns)])
    return _to_long(raw, categories, columns, columns.study, matcher)


# --- which column is what ---


def _classify(raw: RawTable, roles: dict[str, str | None], categories: CategoryMap) -> _Columns:
    found: dict[str, str] = {}
    items: list[str] = []
    skipped: dict[str, str] = {}
    for header, role in roles.items():
        cells = raw.cells[header].tolist()
        # Typing's word rules take "Study objective clearly stated" for the study column;
        # a column of answers is an item whatever its header says.
        if role in _KEPT_ROLES and (_item_header(header) or _answers(cells, categories)):
            role = None
        if role in _KEPT_ROLES and role not in found:
            found[role] = header
            continue
        reason = _not_an_item(header, role, cells, categories)
        if reason is None:
            items.append(header)
        else:
            skipped[header] = reason
    return _Columns(found.get("study_id"), found.get("tool"), found.get("note"), items, skipped)


def _role(header: str, matcher: HeaderMatcher) -> str | None:
    """The quality column a header means as typing reads it ("Study" is ``study_id``)."""
    key = normalise_header(header)
    if key in _ABOUT_HEADERS or key in _SUMMARY_HEADERS:
        return None  # "Study design" is not the study, "Rating" not the judgement column
    found = matcher.match(header)
    if found is not None:
        return found.canonical
    if key in _TOOL_HEADERS:
        return "tool"
    return "note" if key in _NOTE_HEADERS else None


def _item_header(header: str) -> bool:
    """A header only a checklist item has: numbered ("Q1", "Item 3") or a question."""
    return bool(_NUMBERED_ITEM.match(normalise_header(header))) or header.rstrip().endswith("?")


def _answers(cells: list[Any], categories: CategoryMap) -> bool:
    """At least half the filled cells are labels the map knows: with two or three studies
    one odd answer ("Partial") must not hide an item; it is reported as unknown instead."""
    filled = [text for text in map(_label_text, cells) if text is not None]
    known = sum(categories.match(JUDGEMENT, text).category is not None for text in filled)
    return known > 0 and 2 * known >= len(filled)


def _not_an_item(
    header: str, role: str | None, cells: list[Any], categories: CategoryMap
) -> str | None:
    """Why a column is not a checklist item ("numbers"), or None if it is one."""
    if _item_header(header):
        return None
    key = normalise_header(header)
    words = key.split("_")
    if role in _KEPT_ROLES:
        return f"a second {role} column"
    if role == JUDGEMENT or key in _SUMMARY_HEADERS or words[0] in _SUMMARY_FIRST_WORDS:
        return "summaries"
    if key in _ABOUT_HEADERS or words[0] in _ABOUT_FIRST_WORDS:
        return "about the study or the appraisal"
    if all(_label_text(c) is None for c in cells):
        return "empty"
    if _answers(cells, categories):
        return None
    if all(read_cell(c).error is None for c in cells):
        return "numbers"
    return "no judgements"


def _label_text(cell: Any) -> str | None:
    """A cell as the label typing will match, or None when it is truly blank."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return None
    text = identifier_text(cell) or str(cell).strip()  # "N/A" is a label here, not missing
    return text or None


# --- the long table ---


@dataclass
class _Reading:
    """The long rows read from a wide sheet, and what was left out and why."""

    rows: list[list[Any]] = field(default_factory=list)
    kinds: list[list[Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    studied_rows: list[int] = field(default_factory=list)
    footers: list[tuple[int, str]] = field(default_factory=list)
    unknown: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    empty: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


def _to_long(
    raw: RawTable, categories: CategoryMap, columns: _Columns, study: str, matcher: HeaderMatcher
) -> RawTable:
    kept = {"study_id": study, "tool": columns.tool, "note": columns.note}
    # A header typing reads as the column ("Study", "Notes") is kept, so that its messages
    # name the column the reviewer sees; any other ("Comments") becomes the canonical name.
    names = {
        role: header if _role(header, matcher) == role else role
        for role, header in kept.items()
        if header
    }
    long_columns = [names[r] for r in ("study_id", "tool") if r in names]
    long_columns += ["item", JUDGEMENT] + ([names["note"]] if "note" in names else [])
    reading = _read_rows(raw, categories, columns, study)

    problems = list(raw.problems)
    shown = ", ".join(repr(item) for item in columns.items[:3])
    problems.append(
        raw.problem(
            f"the quality table is in the wide layout (one row per study, one column per "
            f"checklist item: {shown}{', ...' if len(columns.items) > 3 else ''}); read as "
            f"{len(reading.rows)} judgements of {len(columns.items)} items",
            severity=Severity.NOTE,
        )
    )
    if columns.skipped:
        problems.append(_not_items_problem(raw, columns.skipped, categories))
    if reading.footers:
        problems.append(_footer_problem(raw, reading.footers))
    problems += _unknown_label_problems(raw, columns.items, reading.unknown, categories)
    if reading.empty:
        problems.append(_empty_problem(raw, columns.items, reading.empty, reading.studied_rows))
    problems += _repeated_study_problems(raw, study, reading.footers)
    return RawTable(
        file=raw.file,
        sheet=raw.sheet,
        cells=pd.DataFrame(reading.rows, columns=long_columns, dtype=object),
        row_numbers=reading.row_numbers,
        problems=problems,
        kinds=None
        if raw.kinds is None
        else pd.DataFrame(reading.kinds, columns=long_columns, dtype=object),
        header_row=raw.header_row,
    )


def _read_rows(raw: RawTable, categories: CategoryMap, columns: _Columns, study: str) -> _Reading:
    # Per-study columns, copied to each item row before and after item and judgement.
    before = [h for h in (study, columns.tool) if h]
    after = [columns.note] if columns.note else []
    cells = {h: raw.cells[h].tolist() for h in [*before, *columns.items, *after]}
    kinds = {h: raw.kinds_of(h) for h in cells}
    judged = JUDGEMENT in categories.rules

    def known(text: str) -> bool:
        return categories.match(JUDGEMENT, text).category is not None

    def long_row(values: dict[str, list[Any]], i: int, item: str, name: Any) -> list[Any]:
        row = [values[h][i] for h in before] + [name, values[item][i]]
        return row + [values[h][i] for h in after]

    reading = _Reading()
    for i, number in enumerate(raw.row_numbers):
        study_text = _label_text(cells[study][i])
        answers = [_label_text(cells[item][i]) for item in columns.items]
        if study_text is not None and _is_footer(study_text, answers, known):
            reading.footers.append((number, study_text))
            continue
        reading.studied_rows.append(number)
        for item, text in zip(columns.items, answers, strict=True):
            if text is None:
                reading.empty[number].append(item)
            elif judged and not known(text):
                reading.unknown[(item, text)].append(number)
            else:
                reading.row_numbers.append(number)
                # A header wrapped over lines in Excel names the item on one line.
                reading.rows.append(long_row(cells, i, item, " ".join(item.split())))
                reading.kinds.append(long_row(kinds, i, item, None))
    return reading


def _is_footer(study_text: str, answers: list[str | None], known: Callable[[str], bool]) -> bool:
    """A row below the studies that counts or explains ("Total", "%", "Legend"): its
    first cell starts with such a word and none of its item cells is an answer."""
    key = normalise_header(study_text)
    if not key or key.split("_")[0] not in _FOOTER_WORDS:
        return False
    return not any(text is not None and known(text) for text in answers)


# --- problems ---


def _or_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _expected(categories: CategoryMap) -> str:
    known = categories.categories(JUDGEMENT)
    return _or_list(known) if known else QUALITY.column(JUDGEMENT).description


def _quoted(headers: list[str]) -> str:
    return ", ".join(repr(h) for h in headers)


def _not_items_problem(raw: RawTable, skipped: dict[str, str], categories: CategoryMap) -> Problem:
    headers = list(skipped)
    if len(headers) == 1:
        message = f"column {headers[0]!r} is not a checklist item and was not read as judgements"
    else:
        message = (
            f"columns {_quoted(headers)} are not checklist items and were not read as judgements"
        )
    by_reason: dict[str, list[str]] = defaultdict(list)
    for header, reason in skipped.items():
        by_reason[reason].append(header)
    reasons = "; ".join(f"{_quoted(h)} ({reason})" for reason, h in by_reason.items())
    return raw.problem(
        message,
        severity=Severity.WARNING,
        hint=(
            f"Not items: {reasons}. A column is read as an item when its header is numbered "
            "like Q1, Item 1 or D1, or is a question ending in '?', or when at least half of "
            f"its cells are {_expected(categories)}; rename a header if it is an item"
        ),
    )


def _footer_problem(raw: RawTable, footers: list[tuple[int, str]]) -> Problem:
    labels = ", ".join(repr(text) for _, text in footers)
    if len(footers) == 1:
        message = f"{labels} is not a study but a total or note row, and was not read"
    else:
        message = f"{labels} are not studies but total or note rows, and were not read"
    return raw.problem(
        message,
        severity=Severity.WARNING,
        rows=tuple(number for number, _ in footers),
        hint="Delete the row if it is not needed; if it is a study, give it another name",
    )


def _unknown_label_problems(
    raw: RawTable,
    items: list[str],
    unknown: dict[tuple[str, str], list[int]],
    categories: CategoryMap,
) -> list[Problem]:
    problems = []
    order = sorted(unknown, key=lambda key: (items.index(key[0]), unknown[key][0]))
    for item, text in order:
        suggestion = categories.match(JUDGEMENT, text).suggestion
        if suggestion:
            hint = (
                f"Closest category: {suggestion!r}. If that is what it means, add the line "
                f"'{JUDGEMENT},{text},{suggestion}' to categories.csv (the review's category "
                "map, columns column,label,category)"
            )
        else:
            hint = (
                f"Correct the answer, or map it in categories.csv (the review's category map, "
                f"columns column,label,category): '{JUDGEMENT},{text},<category>'"
            )
        problems.append(
            raw.problem(
                f"unknown {JUDGEMENT} label",
                rows=tuple(unknown[(item, text)]),
                column=item,
                value=text,
                expected=_expected(categories),
                hint=hint,
            )
        )
    return problems


def _empty_problem(
    raw: RawTable, items: list[str], empty: dict[int, list[str]], studied_rows: list[int]
) -> Problem:
    every_row = [
        item
        for item in items
        if len(studied_rows) > 1 and all(item in empty.get(r, ()) for r in studied_rows)
    ]
    parts = []
    for number, headers in empty.items():
        rest = [h for h in headers if h not in every_row]
        if len(headers) == len(items) > 1:
            parts.append(f"row {number} (every item)")
        elif rest:
            parts.append(f"row {number} ({_quoted(rest)})")
    if len(parts) > _LISTED:
        parts[_LISTED:] = [f"and {len(parts) - _LISTED} more rows"]
    parts[:0] = [f"column {h!r} (every row)" for h in every_row]
    return raw.problem(
        "empty judgement cells, read as not judged and left out: " + ", ".join(parts),
        severity=Severity.WARNING,
        rows=tuple(empty),
        hint="Write N/A where an item does not apply to the study, and 'unclear' where the "
        "paper does not say",
    )


def _repeated_study_problems(
    raw: RawTable, study: str, footers: list[tuple[int, str]]
) -> list[Problem]:
    skipped = {number for number, _ in footers}
    rows: dict[str, list[int]] = defaultdict(list)
    for number, cell in zip(raw.row_numbers, raw.cells[study].tolist(), strict=True):
        text = _label_text(cell)
        if text is not None and number not in skipped:
            rows[text].append(number)
    return [
        raw.problem(
            f"the study is appraised on {len(numbers)} rows",
            rows=tuple(numbers),
            column=study,
            value=text,
            expected="one row per study in a quality table with a column per checklist item",
            hint=(
                "Keep one row per study (the appraisers' consensus). If the table is in the "
                "long layout (one row per study and item), name its columns study_id, item "
                "and judgement"
            ),
        )
        for text, numbers in rows.items()
        if len(numbers) > 1
    ]


def _no_study_column(raw: RawTable, columns: _Columns) -> Problem:
    items = _quoted(columns.items[:4]) + (", ..." if len(columns.items) > 4 else "")
    first = str(raw.cells.columns[0])
    guess = f" (is it {first!r}?)" if first in columns.skipped else ""
    return raw.problem(
        f"the quality table has a column per checklist item ({items}) but no column naming "
        "the study",
        expected="a study_id column naming the appraised study on each row",
        hint=f"Rename the column that names the study{guess} to 'study_id'; the item and "
        "judgement columns are then made from the item columns",
    )


def _neither_layout(raw: RawTable, categories: CategoryMap) -> Problem:
    return raw.problem(
        "the quality table is in neither layout ipdmeta reads: no column holds checklist answers",
        expected=(
            "the long layout (columns study_id, item and judgement: one row per study and "
            "item) or the wide layout (a study_id column and one column per checklist item, "
            f"answered {_expected(categories)})"
        ),
        hint=(
            "Head the item columns Q1, Q2, ... (or with the question, ending in '?'); if the "
            "answers are written another way, map them in categories.csv (the review's "
            "category map, columns column,label,category), e.g. 'judgement,+,yes'"
        ),
    )
