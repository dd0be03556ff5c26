"""Load a review's data: find its files, read, type and cross-check them, derive outcomes.

:func:`load_review` is where data enters ipdmeta. It collects every problem in every table
before failing, so a reviewer fixes the spreadsheet once, not once per error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ipdmeta.data.categories import CategoryMap
from ipdmeta.data.outcomes import OutcomeOptions, derive_outcomes
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.readers import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    PARQUET_SUFFIXES,
    SHEET_NAMES,
    RawTable,
    read_tables,
)
from ipdmeta.data.schema import PATIENTS, QUALITY, STUDIES, normalise_header
from ipdmeta.data.typing import SOURCE_ROW, TypedTable, type_table
from ipdmeta.errors import ReadError, ValidationError

__all__ = ["CATEGORY_MAP_NAMES", "ReviewData", "find_review_files", "load_review"]

# .xls is listed so that an old workbook gets a clear "save it as .xlsx" message.
DATA_SUFFIXES = CSV_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES | {".xls"}
CATEGORY_MAP_NAMES = ("categories.csv", "category_map.csv")
_SCHEMAS = {"patients": PATIENTS, "studies": STUDIES, "quality": QUALITY}


@dataclass(frozen=True)
class ReviewData:
    """A review's checked, typed tables.

    Attributes
    ----------
    patients
        One row per patient with canonical columns, ``relief_pct`` derived,
        ``relief_source``, ``responder_<t>`` flags and ``source_row`` (spreadsheet row).
    studies, quality
        The optional studies and quality-appraisal tables (None when not given).
    label_map
        Which raw label went to which category: columns ``table, column, raw_label,
        category, source, n_rows``.
    warnings
        Problems that did not stop the data from being used.
    sources
        Table name -> where it was read from (file, and sheet for workbooks).
    outcome
        The options % relief was derived with.
    category_files
        The category map files that extended the built-in vocabularies.
    """

    patients: pd.DataFrame
    studies: pd.DataFrame | None
    quality: pd.DataFrame | None
    label_map: pd.DataFrame
    warnings: tuple[Problem, ...]
    sources: Mapping[str, str]
    outcome: OutcomeOptions
    category_files: tuple[str, ...] = field(default_factory=tuple)


def find_review_files(folder: str | Path) -> dict[str, Path]:
    """The data files in a review folder: ``patients.*``, ``studies.*``, ``quality.*``.

    A folder holding one workbook and no patients file uses that workbook for every table.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    for table in SHEET_NAMES:
        path = find_table_file(folder, table)
        if path is not None:
            found[table] = path
    if "patients" not in found:
        workbooks = [p for p in _data_files(folder) if p.suffix.lower() in EXCEL_SUFFIXES]
        if len(workbooks) == 1:
            return {"workbook": workbooks[0]}
        raise ReadError(
            f"{folder}: no patients file found; expected patients.csv, patients.xlsx or "
            "patients.parquet (one row per patient), or a single workbook"
        )
    return found


def find_table_file(folder: str | Path, table: str) -> Path | None:
    """The file in ``folder`` named as ``table`` ("patients", "studies", "quality") is
    named (``studies.csv``, ``included_studies.xlsx``, ...), or None."""
    folder = Path(folder)
    matches = [p for p in _data_files(folder) if normalise_header(p.stem) in SHEET_NAMES[table]]
    if len(matches) > 1:
        listed = ", ".join(p.name for p in matches)
        raise ReadError(f"{folder}: several files could be the {table} table ({listed}); keep one")
    return matches[0] if matches else None


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def load_review(
    path: str | Path,
    *,
    studies: str | Path | None = None,
    quality: str | Path | None = None,
    outcome: OutcomeOptions | None = None,
    vocabularies: Sequence[str] = ("general", "cnop"),
    category_files: Iterable[str | Path] = (),
    category_map: Mapping[str, Mapping[str, str]] | None = None,
) -> ReviewData:
    """Read, check and type a review's data.

    Parameters
    ----------
    path
        A review folder (see :func:`find_review_files`), a workbook, or a single patients
        file. A ``categories.csv`` in the folder (or beside the file) extends the category
        map unless ``category_files`` are given.
    studies, quality
        Explicit studies and quality files, overriding what the folder holds.
    outcome
        How % relief is derived (:class:`~ipdmeta.data.outcomes.OutcomeOptions`).
    vocabularies
        Built-in vocabularies to start the category map from.
    category_files
        CSV files (``column, label, category``) that extend or override the map.
    category_map
        ``{column: {label: category}}`` rules applied last.

    Raises
    ------
    ReadError
        A file cannot be read as a table.
    ValidationError
        The tables break the schema; ``problems`` lists every problem found.
    """
    path = Path(path)
    outcome = outcome or OutcomeOptions()
    raw = _read_all(path, studies, quality)
    categories = CategoryMap.from_vocabularies(vocabularies)
    extra_maps = list(category_files)
    if not extra_maps:
        folder = path if path.is_dir() else path.parent
        extra_maps = [folder / name for name in CATEGORY_MAP_NAMES if (folder / name).is_file()]
    for map_file in extra_maps:
        categories.extend_from_file(map_file)
    if category_map:
        categories.extend(category_map, "analysis specification")

    typed = {name: type_table(table, _SCHEMAS[name], categories) for name, table in raw.items()}
    patients = typed["patients"]
    if "study_id" in patients.frame:
        derive_outcomes(patients, outcome)
    _check_duplicates(patients, ("study_id", "patient_id"))
    if "studies" in typed:
        _check_duplicates(typed["studies"], ("study_id",))
        _check_studies(patients, typed["studies"])
    if "quality" in typed:
        _check_quality(typed["quality"], typed.get("studies") or patients)

    problems = [p for t in typed.values() for p in t.problems]
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        warnings = [p for p in problems if p.severity is Severity.WARNING]
        n = len(errors)
        raise ValidationError(
            errors + warnings,
            header=f"{path}: {n} problem{'s' if n != 1 else ''} to fix before analysis",
        )
    return ReviewData(
        patients=patients.frame,
        studies=typed["studies"].frame if "studies" in typed else None,
        quality=typed["quality"].frame if "quality" in typed else None,
        label_map=_label_map(typed),
        warnings=tuple(problems),
        sources={name: _describe(t) for name, t in raw.items()},
        outcome=outcome,
        category_files=tuple(str(p) for p in extra_maps),
    )


def _read_all(
    path: Path, studies: str | Path | None, quality: str | Path | None
) -> dict[str, RawTable]:
    if path.is_dir():
        files = find_review_files(path)
        if "workbook" in files:
            tables = read_tables(files["workbook"])
        else:
            tables = {name: _only_table(file) for name, file in files.items()}
    else:
        tables = read_tables(path)
        if "patients" not in tables:
            tables = {"patients": next(iter(tables.values()))}
    for name, explicit in (("studies", studies), ("quality", quality)):
        if explicit is not None:
            tables[name] = _only_table(Path(explicit))
    return tables


def _only_table(path: Path) -> RawTable:
    tables = read_tables(path)
    return next(iter(tables.values()))


def _describe(raw: RawTable) -> str:
    return raw.file + (f" [sheet {raw.sheet}]" if raw.sheet else "")


def _check_duplicates(table: TypedTable, key: tuple[str, ...]) -> None:
    frame = table.frame
    if not set(key) <= set(frame.columns):
        return
    complete = frame[list(key)].notna().all(axis=1)
    keyed = frame.loc[complete]
    dup = keyed.duplicated(list(key), keep=False)
    for values, group in keyed.loc[dup].groupby(list(key), sort=False):
        label = ", ".join(f"{k}={v!r}" for k, v in zip(key, values, strict=True))
        table.problems.append(
            table.problem(
                f"duplicate {' + '.join(key)}: {label} appears {len(group)} times",
                column=key[-1],
                rows=tuple(int(r) for r in group[SOURCE_ROW]),
                expected=f"each {' + '.join(key)} once",
                hint="Give each record its own id, or delete the repeated row",
            )
        )


def _check_studies(patients: TypedTable, studies: TypedTable) -> None:
    if "study_id" not in patients.frame or "study_id" not in studies.frame:
        return
    known = set(studies.frame["study_id"].dropna())
    ids = patients.frame["study_id"]
    for study in pd.unique(ids[~ids.isin(known) & ids.notna()]):
        patients.problems.append(
            patients.problem(
                "the patient's study is not in the studies table",
                column="study_id",
                rows=patients.rows_where(ids == study),
                value=study,
                expected=f"a study_id listed in {_describe(studies.raw)}",
                hint="Add the study to the studies table, or correct the id",
            )
        )
    counts = ids.value_counts()
    frame = studies.frame
    for i, study in enumerate(frame["study_id"]):
        if study is None:
            continue
        row = (int(frame[SOURCE_ROW].iloc[i]),)
        if study not in counts.index:
            studies.problems.append(
                studies.problem(
                    "the study has no patients in the patients table",
                    column="study_id",
                    rows=row,
                    value=study,
                    severity=Severity.WARNING,
                )
            )
        elif "n_patients" in frame and not pd.isna(frame["n_patients"].iloc[i]):
            stated = int(frame["n_patients"].iloc[i])
            if stated != counts[study]:
                studies.problems.append(
                    studies.problem(
                        f"n_patients says {stated} but the patients table has {counts[study]} "
                        "patients from this study",
                        column="n_patients",
                        rows=row,
                        value=stated,
                        severity=Severity.WARNING,
                        hint="Fine if the paper reports patients you could not extract",
                    )
                )


def _check_quality(quality: TypedTable, reference: TypedTable) -> None:
    if "study_id" not in quality.frame or "study_id" not in reference.frame:
        return
    known = set(reference.frame["study_id"].dropna())
    ids = quality.frame["study_id"]
    for study in pd.unique(ids[~ids.isin(known) & ids.notna()]):
        quality.problems.append(
            quality.problem(
                f"the appraised study is not in the {reference.name} table",
                column="study_id",
                rows=quality.rows_where(ids == study),
                value=study,
                expected=f"a study_id from {_describe(reference.raw)}",
            )
        )


def _label_map(typed: Mapping[str, TypedTable]) -> pd.DataFrame:
    rows = [
        {
            "table": name,
            "column": match.column,
            "raw_label": match.raw_label,
            "category": match.category,
            "source": match.source,
            "n_rows": count,
        }
        for name, table in typed.items()
        for match, count in table.label_matches
    ]
    columns = ["table", "column", "raw_label", "category", "source", "n_rows"]
    return pd.DataFrame(rows, columns=columns)
