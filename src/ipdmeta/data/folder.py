"""One reading of a review folder: which file and sheet holds which table.

``ipdmeta validate``, ``ipdmeta run`` and :func:`ipdmeta.data.load_review` all find a
folder's tables here, so the same folder always gives the same tables. A folder holds
``patients.*`` (or ``extraction``, ``data``, ``ipd`` ...), optionally ``studies.*`` and
``quality.*``, or one workbook whose sheets hold the tables; review.toml ``[data]`` may
name the files. Files Excel and LibreOffice leave beside an open workbook (``~$name.xlsx``,
``.~lock.name.xlsx#``) and temporary files are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.layout import find_header, table_from_grid
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.readers import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    PARQUET_SUFFIXES,
    Grid,
    RawTable,
    read_grids,
)
from ipdmeta.data.schema import normalise_header
from ipdmeta.errors import ReadError, SpecError

__all__ = ["TABLES", "FolderFiles", "find_review_files", "is_ignored", "read_review_tables"]

TABLES = ("patients", "studies", "quality")
# .xls, .ods and .numbers are listed so that such a workbook gets a clear "save it as
# .xlsx" message.
DATA_SUFFIXES = CSV_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES | {".xls", ".ods", ".numbers"}

# File names (normalised stems) that hold each table.
FILE_NAMES = {
    "patients": ("patients", "patient", "ipd", "patient_data", "data", "extraction",
                 "extraction_sheet", "ipd_extraction", "patient_level_data"),
    "studies": ("studies", "study", "papers", "included_studies", "included"),
    "quality": ("quality", "quality_appraisal", "appraisal", "risk_of_bias", "critical_appraisal"),
}  # fmt: skip
# Words in a sheet's name that say which table it holds, checked in this order
# ("Study quality" is the quality table, "Included studies" the studies table).
SHEET_WORDS = {
    "quality": {"quality", "appraisal", "jbi", "rob", "bias", "critical", "checklist"},
    "studies": {"studies", "study", "papers", "included", "references", "articles"},
    "patients": {"patients", "patient", "ipd", "extraction", "data", "cases", "individual"},
}
# How many canonical columns a sheet's header must name to be taken for a table by its
# content alone, when its name does not say.
_MIN_RECOGNISED = {"patients": 3, "studies": 2, "quality": 3}


def is_ignored(path: Path) -> bool:
    """Lock files of an open workbook, temporary and hidden files."""
    name = path.name
    return (
        name.startswith(("~$", ".~lock.", "."))
        or name.endswith(("#", "~"))
        or path.suffix.lower() in (".tmp", ".bak")
    )


@dataclass(frozen=True)
class FolderFiles:
    """The files a review's tables come from; ``named`` says which were named explicitly."""

    patients: Path
    studies: Path | None = None
    quality: Path | None = None
    named: frozenset[str] = field(default_factory=frozenset)

    def get(self, table: str) -> Path | None:
        path: Path | None = getattr(self, table)
        return path


def find_review_files(
    folder: str | Path,
    patients: str | None = None,
    studies: str | None = None,
    quality: str | None = None,
    where: str | None = None,
) -> FolderFiles:
    """The data files of a review folder.

    ``patients``, ``studies`` and ``quality`` are file names relative to the folder, as
    review.toml ``[data]`` gives them; ``""`` for studies or quality means none. Otherwise
    files are found by name; a folder with no patients file but a single workbook uses it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReadError(f"{folder}: not a folder")
    named = {"patients": patients, "studies": studies, "quality": quality}
    found: dict[str, Path | None] = {}
    for table, name in named.items():
        if name == "":
            found[table] = None
        elif name is not None:
            path = folder / name
            if not path.is_file():
                raise SpecError(
                    f"{where or folder}: [data] {table} = {name!r}, but {path} is not a file"
                )
            found[table] = path
        else:
            found[table] = _file_named(folder, table)
    if found["patients"] is None:
        workbooks = [p for p in _data_files(folder) if p.suffix.lower() in EXCEL_SUFFIXES]
        if len(workbooks) != 1:
            listed = ", ".join(p.name for p in _data_files(folder)) or "none"
            raise ReadError(
                f"{folder}: no patients file found; expected patients.csv, patients.xlsx or "
                "patients.parquet (one row per patient), or a single workbook "
                f"(data files here: {listed})"
            )
        found["patients"] = workbooks[0]
    return FolderFiles(
        patients=found["patients"],  # type: ignore[arg-type]  # set just above
        studies=found["studies"],
        quality=found["quality"],
        named=frozenset(t for t, n in named.items() if n is not None),
    )


def _file_named(folder: Path, table: str) -> Path | None:
    matches = [p for p in _data_files(folder) if normalise_header(p.stem) in FILE_NAMES[table]]
    if len(matches) > 1:
        listed = ", ".join(p.name for p in matches)
        raise ReadError(
            f"{folder}: several files could be the {table} table ({listed}); keep one, or name "
            f'it in review.toml ([data] {table} = "...")'
        )
    return matches[0] if matches else None


def _data_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not is_ignored(p)
    )


def read_review_tables(
    path: Path,
    matchers: Mapping[str, HeaderMatcher],
    files: FolderFiles | None = None,
    studies: Path | None = None,
    quality: Path | None = None,
    is_label: Callable[[str], bool] = lambda text: False,
) -> dict[str, RawTable]:
    """Read a review's tables from its files (a folder's, or a single file and extras).

    A workbook's sheets are assigned to tables by name ("Patients", "Included studies",
    "JBI appraisal"), else by what their headers name; its only sheet is the patients
    table. A table found both as a sheet of the patients workbook and as a file of its
    own is an error unless review.toml names the file. ``is_label`` tells a category
    label ("Atypical facial pain") from a study name, for sub-headings in the study column.
    """
    if files is None:
        given = {"studies": studies, "quality": quality}
        named = frozenset(t for t, p in given.items() if p is not None)
        files = FolderFiles(patients=path, studies=studies, quality=quality, named=named)
    grids = read_grids(files.patients)
    sheets = _assign_sheets(files.patients, grids, matchers)
    tables: dict[str, RawTable] = {}
    for table in TABLES:
        own_file = files.get(table) if table != "patients" else None
        if own_file is not None:
            if table in sheets and own_file != files.patients and table not in files.named:
                raise ReadError(
                    f"{files.patients.parent}: two {table} tables: the sheet "
                    f"{sheets[table].sheet!r} of {files.patients.name} and {own_file.name}; keep "
                    f'one, or name the one to use in review.toml ([data] {table} = "...")'
                )
            own = read_grids(own_file)
            chosen = _assign_sheets(own_file, own, {table: matchers[table]}, only=table)
            grid = chosen.get(table, own[0])
        elif table in sheets and not (table in files.named and files.get(table) is None):
            grid = sheets[table]
        else:
            continue
        tables[table] = table_from_grid(
            grid,
            partial(_canonical, matchers[table]),
            # A study written once over its patients (or its checklist items) is filled down.
            study_column="study_id" if table in ("patients", "quality") else None,
            is_label=is_label,
        )
    return tables


def _canonical(matcher: HeaderMatcher, header: str) -> str | None:
    found = matcher.match(header)
    return found.canonical if found else None


def _assign_sheets(
    path: Path, grids: list[Grid], matchers: Mapping[str, HeaderMatcher], only: str | None = None
) -> dict[str, Grid]:
    """Table name -> the sheet holding it, for a file's grids."""
    if len(grids) == 1:
        grid = grids[0]
        if only:
            return {only: grid}
        # A file named studies.csv or quality.xlsx holds that table.
        for table in ("studies", "quality"):
            if normalise_header(path.stem) in FILE_NAMES[table]:
                return {table: grid}
        return {"patients": grid}
    chosen: dict[str, Grid] = {}
    for grid in grids:
        named = _table_named(grid.sheet or "")
        if named and named not in chosen and (only is None or named == only):
            chosen[named] = grid
    left = [g for g in grids if g not in chosen.values()]
    for table in (only,) if only else TABLES:
        if table in chosen or table not in matchers:
            continue
        recognise = partial(_canonical, matchers[table])
        scored = [(find_header(g, recognise).recognised, -i, g) for i, g in enumerate(left)]
        scored = [s for s in scored if s[0] >= _MIN_RECOGNISED[table]]
        if scored:
            grid = max(scored, key=lambda s: (s[0], s[1]))[2]
            chosen[table] = grid
            left.remove(grid)
    if only is None and "patients" not in chosen:
        raise ReadError(
            f"{path}: the workbook has several sheets ({', '.join(g.sheet or '' for g in grids)}) "
            "and none is named 'patients' or has a patients table's headers; rename the sheet "
            "with one row per patient to 'patients' (and the others 'studies' and 'quality')"
        )
    if "patients" in chosen:
        _report_unused(path, grids, chosen, matchers)
    return chosen


def _report_unused(
    path: Path, grids: list[Grid], chosen: dict[str, Grid], matchers: Mapping[str, HeaderMatcher]
) -> None:
    """Say which sheets were not read, on the patients sheet, which is always reported.

    A sheet that looks like more patients is a warning: its patients are not analysed.
    """
    target = chosen["patients"]
    unused = [g for g in grids if g not in chosen.values()]
    recognise = partial(_canonical, matchers["patients"])
    patients_like = [
        g for g in unused if find_header(g, recognise).recognised >= _MIN_RECOGNISED["patients"]
    ]
    for grid in unused:
        target.problems.extend(grid.problems)  # e.g. the hidden sheets, noted on the first
    if patients_like:
        listed = ", ".join(repr(g.sheet) for g in patients_like)
        target.problems.append(
            Problem(
                file=str(path),
                severity=Severity.WARNING,
                message=f"sheet{'s' if len(patients_like) > 1 else ''} {listed} also "
                f"look{'' if len(patients_like) > 1 else 's'} like patients, but only sheet "
                f"{target.sheet!r} is read: their patients are not analysed",
                hint="Put every patient on one sheet, with a column naming the study",
            )
        )
    others = [g.sheet for g in unused if g not in patients_like and g.sheet]
    if others:
        target.problems.append(
            Problem(
                file=str(path),
                severity=Severity.NOTE,
                message=(
                    f"sheet{'s' if len(others) > 1 else ''} {', '.join(repr(u) for u in others)} "
                    "not read (not a patients, studies or quality table)"
                ),
            )
        )


def _table_named(sheet: str) -> str | None:
    key = normalise_header(sheet)
    for table, names in FILE_NAMES.items():
        if key in names:
            return table
    words = set(key.split("_"))
    for table, keywords in SHEET_WORDS.items():
        if words & keywords:
            return table
    return None
