"""Write the messy variant of the example review: the same patients, typed as a clinician would.

Reads the clean tables one folder up (``../patients.csv``, ``../studies.csv``,
``../quality.csv``) and writes, into this folder (or the folder given to :func:`build`):

- ``extraction.xlsx``: one workbook with the sheets "Extraction" (the patients),
  "Included studies", "JBI appraisal" (wide layout) and "Legend";
- ``~$extraction.xlsx``: the lock file Excel leaves beside an open workbook;
- ``categories.csv``: a copy of the clean review's category map;
- ``review.toml``: the clean review's analysis, without naming the data files.

Every messy value is checked here against the clean value it stands for: a careful reader
must get back exactly the clean number (``==``, not approximately), so the analysis of this
folder must equal the analysis of the clean one. The output is deterministic: fixed
workbook properties and fixed zip timestamps.

Run: ``.venv/bin/python examples/imcs-cnop/messy/make_messy.py``
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import statistics
import tomllib
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

HERE = Path(__file__).resolve().parent
CLEAN = HERE.parent
WORKBOOK = "extraction.xlsx"
LOCK_FILE = "~$extraction.xlsx"
LOCK_USER = "Dr. Example"
FIXED_DATE = dt.datetime(2024, 3, 14, 9, 30, 0)

# --- The sheets' layout -------------------------------------------------------------------

EXTRACTION = "Extraction"
STUDIES = "Included studies"
APPRAISAL = "JBI appraisal"
LEGEND = "Legend"

TITLE = "MCS for CNOP — patient-level extraction (AB, checked by CD)"
NOTE = "Scores as reported; NR = not reported"
FOOTNOTE = "* S04 reported only % relief"
HEADER_TOP, HEADER_BOTTOM = 3, 4  # the two header rows of the Extraction sheet
FIRST_DATA_ROW = 5

MERGED = "merged over both header rows"
LOWER = "lower header row only"
GROUP = "under the group header"

# (header, clean column, how the header is laid out), in sheet order.
COLUMNS = (
    ("Study", "study_id", MERGED),
    ("Pt", "patient_id", MERGED),
    ("Dx", "diagnosis", MERGED),
    ("Cause", "lesion_location", MERGED),
    ("Sex", "sex", MERGED),
    ("Side", "side", MERGED),
    ("Electrode", "electrode_position", LOWER),
    ("rTMS test", "preop_test", LOWER),
    ("Age", "age", MERGED),
    ("Pain duration", "pain_duration_years", LOWER),
    ("FU (months)", "followup_months", MERGED),
    ("Scale", "pain_scale", LOWER),
    ("pre-op", "pain_pre", GROUP),
    ("post (last FU)", "pain_post", GROUP),
    ("% improvement", "relief_pct", MERGED),
)
GROUP_HEADER = "VAS"
# Category labels are written as the clean table has them: mapping labels is not the reader's job.
LABEL_COLUMNS = ("diagnosis", "lesion_location", "sex", "side", "electrode_position", "preop_test")
COL = {clean: index for index, (_, clean, _) in enumerate(COLUMNS, start=1)}

# --- Which messy feature goes where (study ids, or (study, patient number)) ---------------

STUDY_WRITTEN_ONCE = ("S05", "S13", "S21")  # the others are merged over their block
MEAN_ROW_UNDER = ("S01", "S09", "S21")
BLANK_ROW_AFTER = ("S01", "S03", "S08", "S09", "S14", "S19")

AGE_TEXT = {"S02": "{}y", "S07": "{} yrs", "S18": "{} years"}
DURATION_TEXT_STUDIES = ("S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S21")
DURATION_IN_MONTHS = (("S01", 1), ("S01", 4), ("S02", 3), ("S04", 2), ("S06", 1), ("S21", 4))
FOLLOWUP_IN_YEARS = (("S05", 6), ("S10", 2), ("S10", 3), ("S11", 2), ("S13", 3))
FOLLOWUP_MONTHS_TEXT = (("S02", 4), ("S05", 9), ("S21", 19))
SCORES_OUT_OF_TEN = ("S03", "S16")  # VAS-10 scores typed "7.3/10"
IMPROVEMENT_FROM_SCORES = ("S07", "S14")  # % improvement filled in although scores exist

SCALE_LABELS = {"VAS-10": "VAS 0-10", "VAS-100": "VAS (0-100)", "NRS-10": "NRS"}
SCALE_LABEL_VARIANTS = {"S18": "VAS mm", "S20": "VAS mm"}

# Missing cells: the markers of each column in turn ("" leaves the cell blank).
MISSING_MARKERS = {
    "side": ("", "NR", "", "-"),
    "age": ("NR", "n/a", "", "?", "-"),
    "pain_duration_years": ("NR", "-", "", "n/a"),
    "followup_months": ("-", "", "NR", "n/a"),
    "pain_scale": ("",),
    "pain_pre": ("NR",),
    "pain_post": ("NR",),
}

JUDGEMENT_CODES = {"yes": "Y", "no": "N", "unclear": "U", "not applicable": "N/A"}


@dataclass
class Log:
    """Where each messy feature was written: feature -> cell references."""

    cells: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, feature: str, sheet: str, reference: str) -> None:
        self.cells[feature].append(f"{sheet}!{reference}")


# --- Reading the clean tables -------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def by_study(patients: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    blocks: dict[str, list[dict[str, str]]] = {}
    for patient in patients:
        blocks.setdefault(patient["study_id"], []).append(patient)
    return blocks


# --- Values as a clinician types them, each checked to read back exactly -----------------

_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(y|yrs?|years?|mo|months?)?\s*$")
_OUT_OF = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*10\s*$")


def read_back(text: str, unit: str) -> float:
    """What a careful reader makes of ``text`` in a column measured in ``unit``."""
    match = _AMOUNT.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} back")
    value = float(match[1])
    written = (match[2] or unit)[:1]  # "y" or "m"
    if written == unit[:1]:
        return value
    return value * 12 if unit == "months" else value / 12


def checked(text: str, unit: str, clean: float) -> str:
    """``text``, after making sure it reads back as exactly ``clean``."""
    if read_back(text, unit) != clean:
        raise ValueError(f"{text!r} does not read back as {clean!r} {unit}")
    return text


def plain(value: float) -> int | float:
    """A number as typed: 34 rather than 34.0."""
    return int(value) if value.is_integer() else value


def shortest(value: float) -> str:
    text = f"{value:g}"
    if float(text) != value:
        raise ValueError(f"{value!r} has no short form")
    return text


def age_cell(patient: dict[str, str]) -> int | float | str:
    age = float(patient["age"])
    pattern = AGE_TEXT.get(patient["study_id"])
    if pattern is None:
        return plain(age)
    return checked(pattern.format(shortest(age)), "years", age)


def duration_cell(patient: dict[str, str], key: tuple[str, int]) -> int | float | str:
    years = float(patient["pain_duration_years"])
    if key in DURATION_IN_MONTHS:
        months = years * 12
        if not months.is_integer():
            raise ValueError(f"{key}: {years} years is not a whole number of months")
        return checked(f"{int(months)} mo", "years", years)
    if patient["study_id"] in DURATION_TEXT_STUDIES:
        return checked(f"{shortest(years)} y", "years", years)
    return plain(years)


def followup_cell(patient: dict[str, str], key: tuple[str, int]) -> int | float | str:
    months = float(patient["followup_months"])
    if key in FOLLOWUP_IN_YEARS:
        if months % 12:
            raise ValueError(f"{key}: {months} months is not a whole number of years")
        return checked(f"{int(months // 12)} yrs", "months", months)
    if key in FOLLOWUP_MONTHS_TEXT:
        return checked(f"{shortest(months)} mo", "months", months)
    return plain(months)


def scale_cell(patient: dict[str, str]) -> str:
    return SCALE_LABEL_VARIANTS.get(patient["study_id"], SCALE_LABELS[patient["pain_scale"]])


def score_cell(patient: dict[str, str], column: str) -> int | float | str:
    score = float(patient[column])
    if patient["study_id"] in SCORES_OUT_OF_TEN:
        if patient["pain_scale"] != "VAS-10":
            raise ValueError(f"{patient['patient_id']}: '/10' only for VAS-10 scores")
        text = f"{shortest(score)}/10"
        match = _OUT_OF.match(text)
        if match is None or float(match[1]) != score:
            raise ValueError(f"{text!r} does not read back as {score!r}")
        return text
    return plain(score)


def reported_improvement(patient: dict[str, str]) -> float:
    """The clean relief_pct as Excel stores a percent: 46 % is 0.46."""
    relief = float(patient["relief_pct"])
    fraction = relief / 100
    if fraction * 100 != relief:
        raise ValueError(f"{relief!r} % does not survive the percent format exactly")
    return fraction


def computed_improvement(patient: dict[str, str]) -> float:
    """The relief a clinician computes from the scores, rounded to 0.1 %, as a fraction."""
    pre, post = float(patient["pain_pre"]), float(patient["pain_post"])
    return round((pre - post) / pre, 3)


# --- Sheet "Extraction" --------------------------------------------------------------------


def write_extraction(book: openpyxl.Workbook, patients: list[dict[str, str]], log: Log) -> None:
    sheet = book.active
    sheet.title = EXTRACTION
    write_title_rows(sheet)
    write_two_row_header(sheet, log)
    missing_seen: dict[str, int] = defaultdict(int)
    row = FIRST_DATA_ROW
    for study, block in by_study(patients).items():
        first = row
        for number_in_study, patient in enumerate(block, start=1):
            write_patient(sheet, row, number_in_study, patient, missing_seen, log)
            row += 1
        write_study_cell(sheet, study, first, row - 1, log)
        if study in MEAN_ROW_UNDER:
            write_mean_row(sheet, row, block, log)
            row += 1
        if study in BLANK_ROW_AFTER:
            log.add("blank separator row", EXTRACTION, f"row {row}")
            row += 1
    log.add("blank separator row", EXTRACTION, f"row {row}")
    sheet.cell(row + 1, 1, FOOTNOTE)
    log.add("footnote row", EXTRACTION, f"A{row + 1}")
    sheet.freeze_panes = f"C{FIRST_DATA_ROW}"
    for index, width in enumerate((7, 5, 34, 18, 8, 9, 10, 10, 9, 13, 11, 11, 8, 13, 14), 1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def write_title_rows(sheet: Worksheet) -> None:
    sheet.cell(1, 1, TITLE).font = Font(bold=True, size=13)
    sheet.cell(2, 1, NOTE).font = Font(italic=True)


def write_two_row_header(sheet: Worksheet, log: Log) -> None:
    bold, centred = Font(bold=True), Alignment(horizontal="center", vertical="center")
    group_columns = [COL[clean] for _, clean, layout in COLUMNS if layout == GROUP]
    for index, (header, _, layout) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        if layout == MERGED:
            sheet.cell(HEADER_TOP, index, header)
            sheet.merge_cells(f"{letter}{HEADER_TOP}:{letter}{HEADER_BOTTOM}")
            log.add("header merged over both header rows", EXTRACTION, f"{letter}3:{letter}4")
        else:
            sheet.cell(HEADER_BOTTOM, index, header)
            if layout == LOWER:
                log.add("header in the lower header row only", EXTRACTION, f"{letter}4")
    left, right = get_column_letter(group_columns[0]), get_column_letter(group_columns[-1])
    sheet.cell(HEADER_TOP, group_columns[0], GROUP_HEADER)
    sheet.merge_cells(f"{left}{HEADER_TOP}:{right}{HEADER_TOP}")
    log.add("group header merged over its sub-headers", EXTRACTION, f"{left}3:{right}3")
    for row in (HEADER_TOP, HEADER_BOTTOM):
        for index in range(1, len(COLUMNS) + 1):
            cell = sheet.cell(row, index)
            cell.font, cell.alignment = bold, centred


def write_patient(
    sheet: Worksheet,
    row: int,
    number_in_study: int,
    patient: dict[str, str],
    missing_seen: dict[str, int],
    log: Log,
) -> None:
    key = (patient["study_id"], number_in_study)
    values: dict[str, Any] = {"patient_id": number_in_study}
    for column in LABEL_COLUMNS:
        values[column] = patient[column]
    for column, cell_of in (
        ("age", lambda: age_cell(patient)),
        ("pain_duration_years", lambda: duration_cell(patient, key)),
        ("followup_months", lambda: followup_cell(patient, key)),
        ("pain_scale", lambda: scale_cell(patient)),
        ("pain_pre", lambda: score_cell(patient, "pain_pre")),
        ("pain_post", lambda: score_cell(patient, "pain_post")),
    ):
        values[column] = cell_of() if patient[column] else ""
    for column, value in values.items():
        if value == "" and column in MISSING_MARKERS:
            value = missing_marker(column, missing_seen)
            where = f"{get_column_letter(COL[column])}{row}"
            log.add(
                f"missing as {value!r}" if value else "missing as a blank cell", EXTRACTION, where
            )
        if value != "":
            sheet.cell(row, COL[column], value)
        log_text_value(column, value, row, log)
    write_improvement(sheet, row, patient, log)


def missing_marker(column: str, missing_seen: dict[str, int]) -> str:
    markers = MISSING_MARKERS[column]
    marker = markers[missing_seen[column] % len(markers)]
    missing_seen[column] += 1
    return marker


def log_text_value(column: str, value: Any, row: int, log: Log) -> None:
    """Record the cells whose number is typed as text with a unit or a denominator."""
    if not isinstance(value, str) or value in ("", "NR", "n/a", "-", "?"):
        return
    where = f"{get_column_letter(COL[column])}{row}"
    if column == "age":
        log.add("age with a unit", EXTRACTION, where)
    elif column == "pain_duration_years":
        unit = "months" if value.endswith("mo") else "years"
        log.add(f"pain duration as text in {unit}", EXTRACTION, where)
    elif column == "followup_months":
        unit = "years" if value.endswith("yrs") else "months"
        log.add(f"follow-up as text in {unit}", EXTRACTION, where)
    elif column in ("pain_pre", "pain_post"):
        log.add("score typed as 'x/10'", EXTRACTION, where)


def write_improvement(sheet: Worksheet, row: int, patient: dict[str, str], log: Log) -> None:
    where = f"{get_column_letter(COL['relief_pct'])}{row}"
    if patient["relief_pct"]:
        cell = sheet.cell(row, COL["relief_pct"], reported_improvement(patient))
        cell.number_format = "0%"
        log.add("% improvement as a percent-formatted cell (the only outcome)", EXTRACTION, where)
    elif patient["study_id"] in IMPROVEMENT_FROM_SCORES:
        cell = sheet.cell(row, COL["relief_pct"], computed_improvement(patient))
        cell.number_format = "0.0%"
        log.add(
            "% improvement as a percent-formatted cell (computed from the scores, rounded)",
            EXTRACTION,
            where,
        )


def write_study_cell(sheet: Worksheet, study: str, first: int, last: int, log: Log) -> None:
    """The study name once per block: merged over the block, or in its first row only."""
    sheet.cell(first, 1, study).alignment = Alignment(vertical="top")
    if study in STUDY_WRITTEN_ONCE:
        log.add(
            "study written once, cells below blank (not merged)", EXTRACTION, f"A{first}:A{last}"
        )
    elif last > first:
        sheet.merge_cells(f"A{first}:A{last}")
        log.add("study merged over its block", EXTRACTION, f"A{first}:A{last}")


def write_mean_row(sheet: Worksheet, row: int, block: list[dict[str, str]], log: Log) -> None:
    sheet.cell(row, COL["patient_id"], "Mean").font = Font(italic=True)
    for column in ("age", "pain_pre", "pain_post"):
        values = [float(p[column]) for p in block if p[column]]
        cell = sheet.cell(row, COL[column], round(statistics.fmean(values), 1))
        cell.number_format = "0.0"
        cell.font = Font(italic=True)
    log.add("summary row 'Mean' (study cell blank)", EXTRACTION, f"row {row}")


# --- Sheet "Included studies" -------------------------------------------------------------

STUDY_HEADERS = (
    ("Study", "study_id"),
    ("First author", "first_author"),
    ("Year", "year"),
    ("Title", "title"),
    ("Design", "design"),
    ("N", "n_patients"),
)


def write_studies(book: openpyxl.Workbook, studies: list[dict[str, str]], log: Log) -> None:
    sheet = book.create_sheet(STUDIES)
    sheet.cell(1, 1, f"Included studies (n = {len(studies)})").font = Font(bold=True, size=13)
    log.add("title row above the header", STUDIES, "A1")
    for index, (header, _) in enumerate(STUDY_HEADERS, start=1):
        sheet.cell(2, index, header).font = Font(bold=True)
    for row, study in enumerate(studies, start=3):
        for index, (_, column) in enumerate(STUDY_HEADERS, start=1):
            value: Any = study[column]
            if column in ("year", "n_patients"):
                value = int(value)
            sheet.cell(row, index, value)
    for index, width in enumerate((7, 14, 7, 30, 13, 5), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


# --- Sheets "JBI appraisal" (wide layout) and "Legend" ------------------------------------


def checklist_items(quality: list[dict[str, str]]) -> list[str]:
    """The checklist's items in order; every study must list the same items in that order."""
    items = list(dict.fromkeys(row["item"] for row in quality))
    per_study: dict[str, list[str]] = defaultdict(list)
    for row in quality:
        per_study[row["study_id"]].append(row["item"])
    if any(found != items for found in per_study.values()):
        raise ValueError("the studies are not appraised on the same items in the same order")
    if any(row["note"] for row in quality) or {row["tool"] for row in quality} != {
        "JBI case series"
    }:
        raise ValueError("the wide layout has no room for notes or a second tool")
    return items


def write_appraisal(book: openpyxl.Workbook, quality: list[dict[str, str]], log: Log) -> None:
    sheet = book.create_sheet(APPRAISAL)
    items = checklist_items(quality)
    sheet.cell(1, 1, "JBI Critical Appraisal Checklist for Case Series").font = Font(bold=True)
    log.add("title row above the header", APPRAISAL, "A1")
    headers = ["Study"] + [f"Q{number}" for number in range(1, len(items) + 1)]
    for index, header in enumerate(headers, start=1):
        sheet.cell(2, index, header).font = Font(bold=True)
    answers: dict[str, dict[str, str]] = defaultdict(dict)
    for entry in quality:
        answers[entry["study_id"]][entry["item"]] = entry["judgement"]
    for row, (study, judged) in enumerate(answers.items(), start=3):
        sheet.cell(row, 1, study)
        for index, item in enumerate(items, start=2):
            code = JUDGEMENT_CODES[judged[item]]
            sheet.cell(row, index, code).alignment = Alignment(horizontal="center")
            if code == "N/A":
                log.add("not applicable as 'N/A'", APPRAISAL, f"{get_column_letter(index)}{row}")
    log.add("one row per study, one column per item (wide layout)", APPRAISAL, f"A2:K{row}")
    write_legend(book, items, log)


def write_legend(book: openpyxl.Workbook, items: list[str], log: Log) -> None:
    sheet = book.create_sheet(LEGEND)
    sheet.cell(1, 1, "Item").font = Font(bold=True)
    sheet.cell(1, 2, "JBI checklist for case series").font = Font(bold=True)
    for number, item in enumerate(items, start=1):
        sheet.cell(number + 1, 1, f"Q{number}")
        sheet.cell(number + 1, 2, item)
    row = len(items) + 3
    sheet.cell(row, 1, "Answers").font = Font(bold=True)
    for offset, (meaning, code) in enumerate(JUDGEMENT_CODES.items(), start=1):
        sheet.cell(row + offset, 1, code)
        sheet.cell(row + offset, 2, meaning)
    sheet.column_dimensions["B"].width = 55
    log.add("item legend (Q1 = ...) on its own sheet", LEGEND, f"A1:B{row + len(JUDGEMENT_CODES)}")


# --- Files ---------------------------------------------------------------------------------


def save_deterministically(book: openpyxl.Workbook, path: Path) -> None:
    """Save with the fixed properties and zip timestamps, so a rerun writes the same bytes."""
    book.properties.creator = "AB"
    book.properties.lastModifiedBy = "CD"
    book.properties.created = FIXED_DATE
    book.properties.modified = FIXED_DATE
    buffer = io.BytesIO()
    # ExcelWriter directly: openpyxl's save() would stamp "modified" with the current time.
    ExcelWriter(book, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 3
            target.writestr(fixed, source.read(info.filename))


def lock_file_bytes(user: str = LOCK_USER) -> bytes:
    """What Excel writes to ``~$name.xlsx`` while the workbook is open: 165 bytes, the
    user name's length and the name (padded with spaces to 54 bytes), then the name again
    in UTF-16 with its length, padded with zeros."""
    name = user.encode("ascii")
    head = (bytes([len(name)]) + name).ljust(54, b" ")
    tail = len(user).to_bytes(2, "little") + user.encode("utf-16-le")
    return (head + tail).ljust(165, b"\x00")


def messy_review_toml(clean_text: str) -> str:
    """The clean review.toml without the data file names, its title marked as messy."""
    lines, section = [], ""
    for line in clean_text.splitlines():
        header = re.match(r"^\[+([^\]]+)\]+", line)
        if header:
            section = header[1]
        if section == "data" and re.match(r"^(patients|studies|quality)\s*=", line):
            continue
        if section == "report" and line.startswith("title = "):
            line = line[:-1] + ' — messy workbook"'
        if line == "[data]":
            line += "\n# No file names: the folder's single workbook, extraction.xlsx, is read."
        lines.append(line)
    text = "\n".join(lines) + "\n"
    check_review_toml(clean_text, text)
    return text


def check_review_toml(clean_text: str, messy_text: str) -> None:
    clean, messy = tomllib.loads(clean_text), tomllib.loads(messy_text)
    for key in ("patients", "studies", "quality"):
        clean["data"].pop(key)
    clean["report"]["title"] += " — messy workbook"
    if messy != clean or messy["data"]["category_maps"] != ["categories.csv"]:
        raise ValueError("the messy review.toml is not the clean analysis without file names")


def build(out_folder: str | Path = HERE) -> dict[str, list[str]]:
    """Write the messy variant into ``out_folder``; return where each messy feature is."""
    out = Path(out_folder)
    out.mkdir(parents=True, exist_ok=True)
    log = Log()
    book = openpyxl.Workbook()
    write_extraction(book, read_csv(CLEAN / "patients.csv"), log)
    write_studies(book, read_csv(CLEAN / "studies.csv"), log)
    write_appraisal(book, read_csv(CLEAN / "quality.csv"), log)
    save_deterministically(book, out / WORKBOOK)
    (out / LOCK_FILE).write_bytes(lock_file_bytes())
    shutil.copyfile(CLEAN / "categories.csv", out / "categories.csv")
    clean_toml = (CLEAN / "review.toml").read_text(encoding="utf-8")
    (out / "review.toml").write_text(messy_review_toml(clean_toml), encoding="utf-8")
    return dict(log.cells)


if __name__ == "__main__":
    for feature, cells in build(HERE).items():
        print(f"{feature} ({len(cells)}): {', '.join(cells)}")
