"""Data extraction kept in the store: each extractor's patient rows and study details of
a study, checked by the same validation as ``ipdmeta validate``, compared cell by cell
when two people extracted the same study, and exported to the review folder's
patients.csv and studies.csv, which ``ipdmeta run`` reads.

An extraction is ``{"study": {column: text}, "patients": [{column: text}, ...]}``, every
value as typed (the data layer reads the text as it reads a spreadsheet's cells).
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ipdmeta.data.problems import Problem
from ipdmeta.data.schema import PATIENTS, STUDIES
from ipdmeta.errors import IpdmetaError, ValidationError
from ipdmeta.review.store import ReviewStore, StoreError

__all__ = [
    "PATIENT_COLUMNS",
    "STUDY_COLUMNS",
    "check_extraction",
    "clean_extraction",
    "compare_extractions",
    "export_extractions",
    "final_extractions",
    "patient_columns",
    "rows_from_folder",
    "study_details_from_records",
]

PATIENT_COLUMNS = tuple(c.name for c in PATIENTS.columns if c.name != "study_id")
STUDY_COLUMNS = tuple(c.name for c in STUDIES.columns if c.name != "study_id")
MAX_ROWS = 5_000
MAX_CELL = 1_000


def patient_columns(folder: Path) -> list[str]:
    """The grid's columns: the canonical ones, then the review's own (the extra headers
    of the folder's patients.csv, when there is one)."""
    extra: list[str] = []
    existing = folder / "patients.csv"
    if existing.is_file():
        with existing.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            header = next(csv.reader(handle), [])
        known = {"study_id", *PATIENT_COLUMNS}
        extra = [h.strip() for h in header if h.strip() and h.strip() not in known]
    return [*PATIENT_COLUMNS, *dict.fromkeys(extra)]


def clean_extraction(data: Any, columns: list[str]) -> dict[str, Any]:
    """The extraction a client sent, checked for shape: StoreError when it is not one."""
    if not isinstance(data, dict):
        raise StoreError("an extraction is an object with 'study' and 'patients'")
    study, patients = data.get("study") or {}, data.get("patients") or []
    if not isinstance(study, dict) or not isinstance(patients, list):
        raise StoreError("'study' is an object of study details and 'patients' a list of rows")
    if len(patients) > MAX_ROWS:
        raise StoreError(f"at most {MAX_ROWS} patient rows per study")

    def cells(row: Any, allowed: set[str]) -> dict[str, str]:
        if not isinstance(row, dict):
            raise StoreError("each patient row is an object of column: text")
        out = {}
        for key, value in row.items():
            if key not in allowed:
                raise StoreError(f"unknown column {key!r}")
            if value is None:
                continue
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise StoreError(f"column {key!r}: a cell holds text; got {value!r}")
            text = str(value).strip()
            if len(text) > MAX_CELL:
                raise StoreError(f"column {key!r}: a cell holds at most {MAX_CELL} characters")
            if text:
                out[key] = text
        return out

    rows = [cells(r, set(columns)) for r in patients]
    return {"study": cells(study, set(STUDY_COLUMNS)), "patients": [r for r in rows if r]}


def _write_tables(folder: Path, by_study: dict[str, dict[str, Any]], columns: list[str]) -> None:
    """patients.csv and studies.csv of ``by_study`` in ``folder``, each replaced whole."""
    patients = io.StringIO()
    writer = csv.writer(patients, lineterminator="\n")
    writer.writerow(["study_id", *columns])
    for study, data in by_study.items():
        for row in data["patients"]:
            writer.writerow([study, *(row.get(c, "") for c in columns)])
    studies = io.StringIO()
    writer = csv.writer(studies, lineterminator="\n")
    writer.writerow(["study_id", *STUDY_COLUMNS])
    for study, data in by_study.items():
        writer.writerow([study, *(data["study"].get(c, "") for c in STUDY_COLUMNS)])
    _replace(folder / "patients.csv", patients.getvalue())
    _replace(folder / "studies.csv", studies.getvalue())


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _options(folder: Path) -> dict[str, Any]:
    """The review's own reading options (outcome, vocabularies, category maps, aliases)."""
    if not (folder / "review.toml").is_file():
        maps = [folder / "categories.csv"] if (folder / "categories.csv").is_file() else []
        return {"category_files": maps or None}
    from ipdmeta.analysis.spec import load_spec
    from ipdmeta.data.outcomes import OutcomeOptions

    spec = load_spec(folder)
    maps = [folder / m for m in spec.data.category_maps]
    if not maps and (folder / "categories.csv").is_file():
        maps = [folder / "categories.csv"]
    return {
        "outcome": OutcomeOptions.from_spec(spec.outcome),
        "vocabularies": list(spec.data.vocabularies),
        "category_files": maps or None,
        "aliases": {k: list(v) for k, v in spec.data.aliases.items()},
    }


def check_extraction(folder: Path, study: str, data: dict[str, Any],
                     columns: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """What ``ipdmeta validate`` says about this study's rows: each problem with its grid
    row (1 for the first patient; None for the table or the study details), column,
    severity (error, warning, or note: how a cell was read, such as '8/10' as 8 on a 0-10
    scale) and message."""
    if not data["patients"]:
        return [{"row": None, "column": None, "severity": "error",
                 "message": "no patient rows yet"}]  # fmt: skip
    try:
        options = _options(folder)
    except IpdmetaError as exc:
        return [{"row": None, "column": None, "severity": "error",
                 "message": f"review.toml: {exc}"}]  # fmt: skip
    from ipdmeta.data import load_review

    with tempfile.TemporaryDirectory(prefix="ipdmeta-check-") as tmp:
        here = Path(tmp)
        _write_tables(here, {study: data}, columns)
        try:
            review = load_review(here / "patients.csv", studies=here / "studies.csv",
                                 **options)  # fmt: skip
            problems = [*review.warnings, *review.notes]  # notes: how a cell was read
        except ValidationError as exc:
            problems = [p for p in (*exc.problems, *exc.notes) if isinstance(p, Problem)]
        except IpdmetaError as exc:
            return [{"row": None, "column": None, "severity": "error", "message": str(exc)}]
    out = []
    for p in problems:
        studies_table = Path(p.file).name == "studies.csv"
        rows: list[int | None] = [None] if studies_table or not p.rows else [r - 1 for r in p.rows]
        # The message as `ipdmeta validate` words it, without the file and row, which
        # the grid shows by marking the cell.
        words = str(p).split(": ", 1)[1] if ": " in str(p) else str(p)
        for row in rows:
            out.append({"row": row, "column": p.column, "severity": str(p.severity),
                        "message": words,
                        "table": "studies" if studies_table else "patients"})  # fmt: skip
    return out


def rows_from_folder(folder: Path, study: str, columns: list[str]) -> dict[str, Any] | None:
    """The study's rows as the folder's patients.csv and studies.csv hold them (cells as
    written), to start an extraction from a sheet made before the app; None when
    patients.csv has no row of the study."""

    def read(name: str) -> list[dict[str, str]]:
        path = folder / name
        if not path.is_file():
            return []
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                    for row in csv.DictReader(handle)]  # fmt: skip

    patients = [r for r in read("patients.csv") if r.get("study_id") == study]
    if not patients:
        return None
    details = next((r for r in read("studies.csv") if r.get("study_id") == study), {})
    return {
        "study": {c: details[c] for c in STUDY_COLUMNS if details.get(c)},
        "patients": [{c: r[c] for c in columns if r.get(c)} for r in patients],
    }


def study_details_from_records(store: ReviewStore, study: str) -> dict[str, str]:
    """The study's details as its first linked report gives them (first author's
    surname, year, title, DOI, PMID)."""
    linked = sorted(r for r, s in store.study_of().items() if s == study)
    if not linked:
        return {}
    record = store.record(linked[0]) or {}
    authors = record.get("authors") or []
    details = {
        "first_author": authors[0].split(",")[0].strip() if authors else "",
        "year": str(record.get("year") or ""),
        "title": record.get("title") or "",
        "doi": record.get("doi") or "",
        "pmid": record.get("pmid") or "",
    }
    return {k: v for k, v in details.items() if v}


def compare_extractions(first: dict[str, Any], second: dict[str, Any],
                        columns: list[str]) -> dict[str, Any]:  # fmt: skip
    """Two extractions of one study cell by cell. Patient rows are paired by patient_id
    where both have it, else by their order. Returns the paired rows (each cell as
    ``[first, second, same]``), the study details the same way, and the count of
    differing cells."""
    left, right = list(first["patients"]), list(second["patients"])
    right_ids = {r["patient_id"]: k for k, r in enumerate(right) if r.get("patient_id")}
    paired: dict[int, int] = {}
    for i, row in enumerate(left):
        k = right_ids.get(row.get("patient_id", ""))
        if k is not None and k not in paired.values():
            paired[i] = k
    # Rows without a matching patient_id are paired in their order.
    rest_left = [i for i in range(len(left)) if i not in paired]
    rest_right = [k for k in range(len(right)) if k not in paired.values()]
    paired.update(zip(rest_left, rest_right, strict=False))
    pairs: list[tuple[dict[str, str] | None, dict[str, str] | None]] = [
        (row, right[paired[i]] if i in paired else None) for i, row in enumerate(left)
    ]
    pairs += [(None, right[k]) for k in rest_right[len(rest_left) :]]
    differing = 0
    rows = []
    for a, b in pairs:
        cells = {}
        for column in columns:
            x, y = (a or {}).get(column, ""), (b or {}).get(column, "")
            same = _same(x, y)
            differing += not same
            cells[column] = [x, y, same]
        rows.append(cells)
    study = {}
    for column in STUDY_COLUMNS:
        x, y = first["study"].get(column, ""), second["study"].get(column, "")
        study[column] = [x, y, _same(x, y)]
        differing += not study[column][2]
    return {"rows": rows, "study": study, "differing": differing}


def _same(x: str, y: str) -> bool:
    """Equal as typed, or as numbers (7.0 and 7), or apart only in case and spaces."""
    if x.strip().casefold() == y.strip().casefold():
        return True
    try:
        return float(x) == float(y)
    except ValueError:
        return False


def final_extractions(store: ReviewStore) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each study's extraction to export: the consensus where there is one, else the one
    extractor's; studies extracted by two or more people without a consensus are named
    in the second list and left out."""
    by_study: dict[str, list[dict[str, Any]]] = {}
    for row in store.latest_extractions():
        by_study.setdefault(row["study_id"], []).append(row)
    final, waiting = {}, []
    for study, rows in sorted(by_study.items()):
        agreed = [r for r in rows if r["reviewer_id"] is None]
        if agreed:
            final[study] = agreed[0]["data"]
        elif len(rows) == 1:
            final[study] = rows[0]["data"]
        else:
            waiting.append(study)
    return final, waiting


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_extractions(store: ReviewStore, folder: Path) -> dict[str, Any]:
    """Write patients.csv and studies.csv from the store's extractions; a file there that
    the last export did not write is kept beside them first (``patients.csv.before-...``).
    """
    final, waiting = final_extractions(store)
    if not final:
        raise StoreError("nothing has been extracted yet")
    columns = patient_columns(folder)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    last = store.setting("extraction_export") or {}
    kept = []
    for name in ("patients.csv", "studies.csv"):
        path = folder / name
        if path.is_file() and _digest(path) != last.get(name):
            backup = folder / f"{name}.before-{stamp}"
            backup.write_bytes(path.read_bytes())
            kept.append(backup.name)
    _write_tables(folder, final, columns)
    written = {name: _digest(folder / name) for name in ("patients.csv", "studies.csv")}
    store.set_setting("extraction_export", written)
    return {
        "studies": len(final),
        "patients": sum(len(d["patients"]) for d in final.values()),
        "waiting": waiting,
        "kept": kept,
    }
