"""Load a review's data: find its files, read, type and cross-check them, derive outcomes.

:func:`load_review` is where data enters ipdmeta, the one reading of a review folder that
``ipdmeta validate``, ``ipdmeta run`` and the Python API share. It collects every problem
in every table before failing, so a reviewer fixes the spreadsheet once, not once per
error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.data.categories import CategoryMap
from ipdmeta.data.cells import is_missing_marker
from ipdmeta.data.folder import FolderFiles, find_review_files, read_review_tables
from ipdmeta.data.headers import HeaderMatcher
from ipdmeta.data.outcomes import NO_OUTCOME, OutcomeOptions, derive_outcomes
from ipdmeta.data.plausibility import check_plausibility
from ipdmeta.data.problems import Problem, Severity
from ipdmeta.data.quality_layout import long_quality_table
from ipdmeta.data.readers import RawTable
from ipdmeta.data.schema import PATIENTS, QUALITY, STUDIES
from ipdmeta.data.typing import SOURCE_ROW, TypedTable, type_table
from ipdmeta.errors import ValidationError

if TYPE_CHECKING:
    from ipdmeta.analysis.spec import ReviewSpec

__all__ = ["CATEGORY_MAP_NAMES", "ReviewData", "find_review_files", "load_review"]

CATEGORY_MAP_NAMES = ("categories.csv", "category_map.csv")
_SCHEMAS = {"patients": PATIENTS, "studies": STUDIES, "quality": QUALITY}
EXCLUDED_COLUMNS = ["study_id", "patient_id", SOURCE_ROW, "exclusion_reason"]


@dataclass(frozen=True, repr=False)
class ReviewData(ResultDisplay):
    """A review's checked, typed tables.

    Attributes
    ----------
    patients
        One row per analysed patient with canonical columns, ``relief_pct`` derived,
        ``relief_source``, ``responder_<t>`` flags and ``source_row`` (spreadsheet row).
    excluded
        Patients kept in the extraction but out of the analysis: ``study_id, patient_id,
        source_row, exclusion_reason`` (marked ``excluded`` in the sheet, or with no
        outcome at all).
    studies, quality
        The optional studies and quality-appraisal tables (None when not given).
    label_map
        Which raw label went to which category: columns ``table, column, raw_label,
        category, source, n_rows``.
    warnings
        Problems that did not stop the data from being used.
    notes
        How the data were read where it was not plain (a header below a title, units in
        cells, percent-formatted cells, merged cells filled, summary rows left out).
    sources
        Table name -> where it was read from (file, and sheet for workbooks).
    outcome
        The options % relief was derived with.
    category_files
        The category map files that extended the built-in vocabularies.
    spec_file
        The review.toml whose [data] and [outcome] were used, if any.
    """

    patients: pd.DataFrame
    studies: pd.DataFrame | None
    quality: pd.DataFrame | None
    label_map: pd.DataFrame
    warnings: tuple[Problem, ...]
    sources: Mapping[str, str]
    outcome: OutcomeOptions
    category_files: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[Problem, ...] = ()
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXCLUDED_COLUMNS))
    spec_file: Path | None = None

    def _display_title(self) -> str:
        studies = self.patients["study_id"].nunique() if "study_id" in self.patients else 0
        return (
            f"Review data: {len(self.patients)} patients in {studies} studies, "
            f"{len(self.warnings)} warnings, {len(self.excluded)} patients excluded"
        )

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        tables: list[tuple[str | None, pd.DataFrame]] = [("Patients", self.patients)]
        if self.studies is not None:
            tables.append(("Studies", self.studies))
        if len(self.excluded):
            tables.append(("Excluded patients", self.excluded))
        return tables


def load_review(
    path: str | Path,
    *,
    studies: str | Path | None = None,
    quality: str | Path | None = None,
    outcome: OutcomeOptions | None = None,
    outcome_overrides: Mapping[str, Any] | None = None,
    vocabularies: Sequence[str] | None = None,
    category_files: Iterable[str | Path] | None = None,
    category_map: Mapping[str, Mapping[str, str]] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    strict: bool = False,
    spec: ReviewSpec | None = None,
) -> ReviewData:
    """Read, check and type a review's data.

    Parameters
    ----------
    path
        A review folder, a workbook, or a single patients file. A folder's
        ``review.toml`` (or ``spec``) says which files hold the tables (``[data]``), how
        the outcome is derived (``[outcome]``) and the review's own header aliases; a
        ``categories.csv`` in the folder (or beside the file) extends the category map
        unless category files are named.
    studies, quality
        Explicit studies and quality files, overriding what the folder holds.
    outcome
        How % relief is derived (:class:`~ipdmeta.data.outcomes.OutcomeOptions`); by
        default review.toml's ``[outcome]``.
    outcome_overrides
        Options set on top of those (``{"worsening": "floor"}``), as the command line's
        ``--worsening`` and ``--thresholds`` do.
    vocabularies
        Built-in vocabularies to start the category map from (default: review.toml's, or
        general and cnop).
    category_files
        CSV files (``column, label, category``) that extend or override the map.
    category_map
        ``{column: {label: category}}`` rules applied last.
    aliases
        ``{canonical column: [header, ...]}``: headers that mean a column, beyond the
        built-in ones (added to review.toml's ``[data.aliases]``).
    strict
        Treat warnings as errors.
    spec
        An analysis specification to use instead of the folder's review.toml.

    Raises
    ------
    ReadError
        A file cannot be read as a table.
    ValidationError
        The tables break the schema; ``problems`` lists every problem found.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if spec is None and path.is_dir() and (path / "review.toml").is_file():
        from ipdmeta.analysis.spec import load_spec  # the spec module imports no data code

        spec = load_spec(path)
    data = spec.data if spec is not None else None
    outcome = outcome or (OutcomeOptions.from_spec(spec.outcome) if spec else OutcomeOptions())
    if outcome_overrides:
        outcome = dataclasses.replace(outcome, **outcome_overrides)

    if vocabularies is None:  # [] is a choice: no built-in vocabulary at all
        vocabularies = data.vocabularies if data else ("general", "cnop")
    categories = CategoryMap.from_vocabularies(vocabularies)
    maps = _category_files(folder, category_files, data.category_maps if data else ())
    for map_file in maps:
        categories.extend_from_file(map_file)
    if category_map:
        categories.extend(category_map, "analysis specification")
    own_aliases: dict[str, list[str]] = {
        k: list(v) for k, v in (data.aliases if data else {}).items()
    }
    for key, headers in (aliases or {}).items():
        own_aliases.setdefault(key, []).extend(headers)
    matchers = {name: HeaderMatcher(schema, own_aliases) for name, schema in _SCHEMAS.items()}

    raw = _read(path, matchers, studies, quality, data, spec, partial(_is_label, categories))
    if "quality" in raw:
        raw["quality"] = long_quality_table(raw["quality"], categories, matchers["quality"])
    typed = {
        name: type_table(table, _SCHEMAS[name], categories, matchers[name])
        for name, table in raw.items()
    }
    patients = typed["patients"]
    if "study_id" in patients.frame:
        derive_outcomes(patients, outcome)
        check_plausibility(patients)
    _check_duplicates(patients, ("study_id", "patient_id"))
    if "studies" in typed:
        _check_duplicates(typed["studies"], ("study_id",))
        _check_studies(patients, typed["studies"])
    if "quality" in typed:
        _check_quality(typed["quality"], typed.get("studies") or patients)
    excluded = _excluded(patients)
    if len(excluded) and len(excluded) == len(patients.frame):
        patients.problems.append(
            patients.problem(
                "every patient is excluded from the analysis, so there is nothing to analyse",
                rows=patients.rows_where(slice(None)),
                hint="Check that the outcome columns (pain_pre, pain_post, relief_pct) were read",
            )
        )

    problems = [p for t in typed.values() for p in t.problems]
    problems = _without_excluded_rows(problems, patients, excluded)
    by_severity = {s: [p for p in problems if p.severity is s] for s in Severity}
    errors = by_severity[Severity.ERROR]
    if strict:
        errors = errors + by_severity[Severity.WARNING]
    if errors:
        n = len(errors)
        header = f"{path}: {n} problem{'s' if n != 1 else ''} to fix before analysis"
        rest = [] if strict else by_severity[Severity.WARNING]
        if strict and by_severity[Severity.WARNING]:
            header += " (--strict: warnings count as problems)"
        elif rest:
            header += f", and {len(rest)} warning{'s' if len(rest) != 1 else ''}"
        raise ValidationError(errors + rest, header=header, notes=by_severity[Severity.NOTE])
    keep = ~patients.frame[SOURCE_ROW].isin(excluded[SOURCE_ROW]).to_numpy()
    return ReviewData(
        patients=patients.frame.loc[keep]
        .drop(columns=["excluded"], errors="ignore")
        .reset_index(drop=True),
        studies=typed["studies"].frame if "studies" in typed else None,
        quality=typed["quality"].frame if "quality" in typed else None,
        label_map=_label_map(typed),
        warnings=tuple(by_severity[Severity.WARNING]),
        notes=tuple(by_severity[Severity.NOTE]),
        sources={name: _describe(t) for name, t in raw.items()},
        outcome=outcome,
        category_files=tuple(str(p) for p in maps),
        excluded=excluded,
        spec_file=spec.source if spec is not None else None,
    )


def _category_files(
    folder: Path, explicit: Iterable[str | Path] | None, from_spec: Sequence[str]
) -> list[Path]:
    if explicit is not None and list(explicit):
        return [Path(p) for p in explicit]
    if from_spec:
        from ipdmeta.errors import SpecError

        paths = [folder / name for name in from_spec]
        for p in paths:
            if not p.is_file():
                raise SpecError(f"review.toml: the category map {p.name!r} is not in {folder}")
        return paths
    return [folder / name for name in CATEGORY_MAP_NAMES if (folder / name).is_file()]


def _read(
    path: Path,
    matchers: Mapping[str, HeaderMatcher],
    studies: str | Path | None,
    quality: str | Path | None,
    data: Any,
    spec: ReviewSpec | None,
    is_label: Callable[[str], bool],
) -> dict[str, RawTable]:
    if path.is_dir():
        files = find_review_files(
            path,
            patients=data.patients if data else None,
            studies=data.studies if data else None,
            quality=data.quality if data else None,
            where=str(spec.source) if spec is not None and spec.source else None,
        )
        extra = {"studies": studies, "quality": quality}
        if studies is not None or quality is not None:
            files = FolderFiles(
                patients=files.patients,
                studies=Path(studies) if studies is not None else files.studies,
                quality=Path(quality) if quality is not None else files.quality,
                named=files.named | {k for k, v in extra.items() if v is not None},
            )
        return read_review_tables(path, matchers, files, is_label=is_label)
    return read_review_tables(
        path,
        matchers,
        studies=Path(studies) if studies is not None else None,
        quality=Path(quality) if quality is not None else None,
        is_label=is_label,
    )


def _is_label(categories: CategoryMap, text: str) -> bool:
    """Whether ``text`` is a diagnosis or lesion label the category map knows."""
    return any(
        categories.match(column, text).category is not None
        for column in ("diagnosis", "lesion_location")
        if column in categories.rules
    )


def _describe(raw: RawTable) -> str:
    return raw.file + (f" [sheet {raw.sheet}]" if raw.sheet else "")


def _excluded(patients: TypedTable) -> pd.DataFrame:
    """The patients kept out of the analysis, with the reason."""
    frame = patients.frame
    marked = _values(frame, "excluded", None) == "yes"
    reasons = _values(frame, "exclusion_reason", None)
    if "excluded" in frame:
        _report_unclear_exclusions(patients)
    no_reason = marked & pd.isna(reasons)
    if no_reason.any():
        patients.problems.append(
            patients.problem(
                "the patient is marked excluded without a reason",
                column="excluded",
                rows=patients.rows_where(no_reason),
                severity=Severity.WARNING,
                hint="Say why in an exclusion_reason column; the report lists the reasons",
            )
        )
    reasons = np.where(no_reason, "not given", reasons)
    no_outcome = _values(frame, NO_OUTCOME, False).astype(bool) & ~marked
    reasons = np.where(no_outcome, "no outcome reported", reasons)
    chosen = marked | no_outcome
    out = pd.DataFrame(
        {
            "study_id": _values(frame, "study_id", None)[chosen],
            "patient_id": _values(frame, "patient_id", None)[chosen],
            SOURCE_ROW: frame[SOURCE_ROW].to_numpy()[chosen],
            "exclusion_reason": reasons[chosen],
        },
        columns=EXCLUDED_COLUMNS,
    )
    if NO_OUTCOME in frame:
        del frame[NO_OUTCOME]
    return out.reset_index(drop=True)


def _values(frame: pd.DataFrame, column: str, default: Any) -> np.ndarray:
    """A column's values as an object array, or ``default`` in every row without it."""
    if column in frame:
        return frame[column].to_numpy(object)
    return np.full(len(frame), default, object)


def _report_unclear_exclusions(patients: TypedTable) -> None:
    """An excluded cell saying "?" or "NR" is read as not excluded; say so."""
    cells = patients.raw.cells[patients.header_of["excluded"]]
    unclear = np.array([is_missing_marker(c) and c is not None for c in cells], dtype=bool)
    if unclear.any():
        patients.problems.append(
            patients.problem(
                "the patient is neither marked excluded nor included; read as included",
                column="excluded",
                rows=patients.rows_where(unclear),
                value=next(c for c, u in zip(cells, unclear, strict=True) if u),
                severity=Severity.WARNING,
                hint="Write yes to keep the patient out of the analysis, or leave the cell empty",
            )
        )


def _without_excluded_rows(
    problems: list[Problem], patients: TypedTable, excluded: pd.DataFrame
) -> list[Problem]:
    """A patient the reviewer marked excluded is not checked further: problems in its row
    are set aside (except those about the exclusion itself). A patient excluded for lack
    of an outcome is still checked: its other cells may hide a misread outcome."""
    marked = excluded["exclusion_reason"] != "no outcome reported"
    rows = set(excluded.loc[marked, SOURCE_ROW].astype(int))
    if not rows:
        return problems
    own = {patients.header_of.get(c, c) for c in ("excluded", "exclusion_reason", "relief_pct")}
    out = []
    for problem in problems:
        if (
            problem.file != patients.raw.file
            or problem.sheet != patients.raw.sheet
            or not problem.rows
            or problem.column in own
            or problem.severity is Severity.NOTE
        ):
            out.append(problem)
            continue
        left = tuple(r for r in problem.rows if r not in rows)
        if left:
            out.append(dataclasses.replace(problem, rows=left))
    return out


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
