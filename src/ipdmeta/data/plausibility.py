"""Plausibility checks on typed patients: values that can be read but are probably wrong.

Every finding is a warning (the data are still used; ``--strict`` makes warnings errors)
naming file, rows, column and value, and saying what to check. A cell already reported as
an error gets no second message. The checks, each with its thresholds below:

- a pain score on the wrong scale: a 0-10 score typed in a VAS-100 row;
- relief below -100 % (pain more than doubled);
- relief typed as a fraction (0.84 for 84 %), per study or for the whole column;
- ages, follow-ups and pain durations outside the plausible range, or in the wrong unit;
- the same patients in two studies (a cohort reported twice).

Checks that live elsewhere are not repeated here: a duplicate study_id + patient_id and a
patient count differing from the studies table (:mod:`ipdmeta.data.load`), scores above
their scale's maximum or negative (:mod:`ipdmeta.data.outcomes`, the schema).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.data.problems import Severity
from ipdmeta.data.typing import SOURCE_ROW, TypedTable

__all__ = ["check_plausibility"]

# --- A score on the wrong scale -------------------------------------------------------
# A 0-10 score is at most 10; on VAS-100 a candidate for stimulation almost never rates
# pain before surgery at 10 or less, so such a pain_pre is where a 0-10 entry shows.
LOW_SCORE_MAX = 10.0
# "The study's other pain_pre scores are much higher": at least two of them above 10
# (one other patient is too little to call a study's level) with a median of 40 or more,
# four times the largest 0-10 value.
MIN_REFERENCE_SCORES = 2
REFERENCE_MEDIAN_MIN = 40.0
# A pain_post with a decimal fraction in a VAS-100 row is flagged only when the study's
# other non-zero scores on that scale (the row's pain_pre and at least three more, so at
# least two other patients) are all whole numbers of at least 10: the study records
# millimetres, and a lone 2.5 among them reads as 2.5 cm. A whole number such as 5 cannot
# be told from a good outcome (5 mm) and is never flagged. Zeros are left out of the
# comparison: 0 is 0 on either scale.
MIN_WHOLE_SCORES = 4
SCALE = "VAS-100"
SCALE_FACTOR = 10.0

# --- Relief ---------------------------------------------------------------------------
# Below -100 % the pain has more than doubled: rare after stimulation, and more often
# swapped scores, a score on the wrong scale or a sign error.
RELIEF_FLOOR = -100.0
# A study whose reported relief values all lie within [-1, 1] (at least one above 0)
# typed fractions: 0.84 for 84 %. Negative fractions (worse pain) are included so that
# one worsened patient does not hide the rest; a real series with every patient within
# 1 % of no change is not credible.
FRACTION_MAX = 1.0

# --- Ages, follow-up, pain duration ---------------------------------------------------
# A patient who rates pain on a VAS or NRS is at least a few years old, so an age below
# 1 has no exception here: it is a 0 typed for "not reported", or months, or a slip.
AGE_MIN = 1.0
AGE_MAX = 100.0  # above 100 is possible, but far more often a typing error
FOLLOWUP_MAX = 360.0  # 30 years: longer than motor cortex stimulation has existed
# Ages are reported in whole years (34 may be 34.9), so a duration must exceed the age by
# a whole year before it is certainly longer than the patient has lived.
AGE_ROUNDING = 1.0
# Follow-up in years typed under months: every follow-up of a study (at least three) is 5
# or less while the other studies' median is a year or more. Three values keep a single
# short-follow-up case or pair from being flagged; one value for every patient (3, 3, 3)
# is a protocol's time point, which says nothing about the unit, and is not flagged.
MIN_STUDY_VALUES = 3
FOLLOWUP_YEARS_MAX = 5.0
OTHER_FOLLOWUP_MEDIAN_MIN = 12.0
# Pain duration in months typed under years: a study's median duration is four times or
# more the other studies' median and above 20 years. Real series differ far less (the
# example review's study medians span 5 to 11 years between quartiles); months are 12
# times years.
DURATION_RATIO = 4.0
DURATION_MEDIAN_MIN = 20.0

# --- The same patients in two studies -------------------------------------------------
# Two patients of different studies "match" when age, sex, diagnosis and outcome (both
# pain scores, or the relief when a row has no scores) are equal, no other compared field
# differs, and at least five fields agree. Coarse data (whole-number NRS scores) make such
# matches by chance, so a pair of studies is flagged only when fewer than one coincidence
# as strong is expected by chance in the whole review (see _expected_by_chance).
CORE_FIELDS = ("age", "sex", "diagnosis")
EXTRA_FIELDS = ("lesion_location", "side", "pain_duration_years")
MIN_MATCHING_FIELDS = 5
CHANCE_LIMIT = 1.0
# The chance that another patient has the same value is the share of the review's
# patients with that value; a field depends on another (the lesion on the diagnosis, a
# score on its scale: an NRS 8 is common among NRS scores and rare among all scores), so
# it is counted among the patients sharing that one.
GIVEN = {"lesion_location": "diagnosis", "pain_pre": "pain_scale", "pain_post": "pain_scale"}
# Shares from fewer than MIN_VALUES_TO_ESTIMATE patients are too rough; these chances are
# used instead, on the high (cautious) side for orofacial pain series: ages within 40-70,
# two common diagnoses, pain scores clustered at 7-9 before and 0-5 after on whole-number
# scales, the lesion mostly given by the diagnosis.
CHANCE_OF_SAME = {
    "age": 1 / 30,
    "sex": 1 / 2,
    "diagnosis": 1 / 3,
    "lesion_location": 3 / 4,
    "side": 1 / 2,
    "pain_duration_years": 1 / 10,
    "pain_pre": 1 / 4,
    "pain_post": 1 / 4,
    "relief_pct": 1 / 10,
}
MIN_VALUES_TO_ESTIMATE = 30
_DECIMALS = 6  # numbers equal to this many decimals are the same number as typed


def check_plausibility(table: TypedTable) -> None:
    """Append a warning to ``table.problems`` for each value that is probably wrong.

    Parameters
    ----------
    table
        The typed patients table after :func:`~ipdmeta.data.outcomes.derive_outcomes`:
        canonical columns where present, ``source_row``, ``pain_scale``, ``relief_pct``
        and, when the file has one, ``relief_reported``.

    Notes
    -----
    Every problem is a :attr:`~ipdmeta.data.problems.Severity.WARNING`; the module
    docstring and its constants give the checks and their thresholds.
    """
    analysed = _analysed(table)
    on_wrong_scale = _check_wrong_scale(analysed)
    _check_relief_floor(analysed, skip=on_wrong_scale)
    _check_relief_fractions(analysed)
    _check_age_range(analysed)
    _check_followup_range(analysed)
    _check_duration_against_age(analysed)
    _check_followup_in_years(analysed)
    _check_duration_in_months(analysed)
    _check_duplicate_cohorts(analysed)
    _check_study_spellings(analysed)


def _analysed(table: TypedTable) -> TypedTable:
    """The table without the patients marked excluded, sharing its list of problems.

    An excluded patient is out of the analysis: it is neither checked nor compared with
    (a cohort reported twice and marked excluded the second time is no longer a problem).
    """
    frame = table.frame
    if "excluded" not in frame:
        return table
    keep = ~frame["excluded"].eq("yes").to_numpy()
    return dataclasses.replace(table, frame=frame.loc[keep].reset_index(drop=True))


# --- Helpers --------------------------------------------------------------------------


def _numbers(table: TypedTable, column: str) -> np.ndarray:
    frame = table.frame
    if column not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(float)


def _labels(table: TypedTable, column: str) -> np.ndarray:
    frame = table.frame
    if column not in frame:
        return np.full(len(frame), None, dtype=object)
    return np.array([None if pd.isna(v) else v for v in frame[column]], dtype=object)


def _with_errors(table: TypedTable, *columns: str) -> np.ndarray:
    """Rows whose cell in one of ``columns`` is already reported as an error."""
    headers = {table.header_of.get(c, c) for c in columns}
    rows = {
        r
        for p in table.problems
        if p.severity is Severity.ERROR and p.column in headers
        for r in p.rows
    }
    return table.frame[SOURCE_ROW].isin(rows).to_numpy()


def _row(table: TypedTable, i: int) -> int:
    return int(table.frame[SOURCE_ROW].iloc[i])


def _rows(table: TypedTable, indices: Sequence[int] | np.ndarray) -> tuple[int, ...]:
    return tuple(sorted(_row(table, int(i)) for i in indices))


def _has_study(studies: np.ndarray) -> np.ndarray:
    return np.array([s is not None for s in studies], dtype=bool)


def _study_groups(table: TypedTable) -> Iterator[tuple[Any, np.ndarray]]:
    """(study_id, row positions) per study; rows without a study are left out."""
    studies = _labels(table, "study_id")
    for study in pd.unique(studies[_has_study(studies)]):
        yield study, np.flatnonzero(studies == study)


def _warn(
    table: TypedTable, message: str, column: str, rows: tuple[int, ...], value: Any, hint: str
) -> None:
    table.problems.append(
        table.problem(
            message,
            column=column,
            rows=rows,
            value=value,
            severity=Severity.WARNING,
            hint=hint,
        )
    )


def _warn_per_value(
    table: TypedTable, column: str, mask: np.ndarray, message: str, hint: str
) -> None:
    """One warning per distinct value of ``column`` among the ``mask`` rows.

    ``message`` is formatted with ``value`` (the number as read, ``:g``).
    """
    values = _numbers(table, column)
    for value in pd.unique(values[mask]):
        rows = _rows(table, np.flatnonzero(mask & (values == value)))
        _warn(table, message.format(value=value), column, rows, float(value), hint)


def _relief(pre: float, post: float) -> float:
    return (pre - post) / pre * 100.0


def _values_text(values: Sequence[float] | np.ndarray) -> str:
    return ", ".join(f"{v:g}" for v in values)


# --- A score on the wrong scale -------------------------------------------------------


def _check_wrong_scale(table: TypedTable) -> set[int]:
    """Warn about 0-10 scores in VAS-100 rows; return the positions of the rows flagged."""
    pre, post = _numbers(table, "pain_pre"), _numbers(table, "pain_post")
    scale = _labels(table, "pain_scale")
    usable = (scale == SCALE) & ~_with_errors(table, "pain_pre", "pain_post", "pain_scale")
    flagged: set[int] = set()
    for _, members in _study_groups(table):
        rows = members[usable[members]]
        for i in rows.tolist():
            others = rows[rows != i]
            # A row gets one message: a wrong pain_pre explains its relief already.
            found = _pre_on_small_scale(table, i, pre, post, pre[others])
            if found or _post_on_small_scale(table, i, pre, post, others):
                flagged.add(int(i))
    return flagged


def _pre_on_small_scale(
    table: TypedTable, i: int, pre: np.ndarray, post: np.ndarray, other_pre: np.ndarray
) -> bool:
    value, after = float(pre[i]), float(post[i])
    if not 0 < value <= LOW_SCORE_MAX:
        return False
    reference = other_pre[other_pre > LOW_SCORE_MAX]
    if len(reference) >= MIN_REFERENCE_SCORES and np.median(reference) >= REFERENCE_MEDIAN_MIN:
        what = (
            f"pain_pre {value:g} is far below the study's other pain_pre scores on {SCALE} "
            f"({reference.min():g} to {reference.max():g})"
        )
    elif after > LOW_SCORE_MAX and after > value:
        what = f"pain_pre {value:g} on {SCALE} is 10 or less and below pain_post {after:g}"
    else:
        return False
    scaled = value * SCALE_FACTOR
    if np.isnan(after):
        relief = ""
    elif after <= LOW_SCORE_MAX:
        relief = (
            f"; relief is {_relief(value, after):.1f} % as typed, the same if pain_post is on "
            f"0-10 too, {_relief(scaled, after):.1f} % if only pain_pre is"
        )
    else:
        relief = (
            f"; relief is {_relief(value, after):.1f} % as typed, "
            f"{_relief(scaled, after):.1f} % if it is {scaled:g}"
        )
    hint = "Check the paper: multiply the score by 10 if it is on 0-10"
    if after <= LOW_SCORE_MAX:
        hint += ", or set the row's pain_scale to VAS-10 if both scores are"
    _warn(
        table, f"{what}: probably a 0-10 score{relief}", "pain_pre", (_row(table, i),), value, hint
    )
    return True


def _post_on_small_scale(
    table: TypedTable, i: int, pre: np.ndarray, post: np.ndarray, others: np.ndarray
) -> bool:
    value, before = float(post[i]), float(pre[i])
    if not (0 < value <= LOW_SCORE_MAX and value % 1 != 0 and before > LOW_SCORE_MAX):
        return False
    scores = np.concatenate([pre[others], post[others], [before]])
    scores = scores[~np.isnan(scores) & (scores != 0)]
    whole = scores % 1 == 0
    if len(scores) < MIN_WHOLE_SCORES or not (whole.all() and (scores >= LOW_SCORE_MAX).all()):
        return False
    scaled = value * SCALE_FACTOR
    _warn(
        table,
        f"pain_post {value:g} has a decimal fraction while the study's other {SCALE} scores "
        f"are whole numbers from {scores.min():g} to {scores.max():g}: probably a 0-10 score; "
        f"relief is {_relief(before, value):.1f} % as typed, "
        f"{_relief(before, scaled):.1f} % if it is {scaled:g}",
        "pain_post",
        (_row(table, i),),
        float(value),
        "Check the paper: multiply the score by 10 if it is on 0-10",
    )
    return True


# --- Relief ---------------------------------------------------------------------------


def _check_relief_floor(table: TypedTable, skip: set[int]) -> None:
    pre, post = _numbers(table, "pain_pre"), _numbers(table, "pain_post")
    reported = _numbers(table, "relief_reported")
    errors = _with_errors(table, "pain_pre", "pain_post", "relief_pct")
    computable = (pre > 0) & ~np.isnan(post)
    # Computed here, not read from relief_pct: flooring worsening at 0 must not hide it.
    with np.errstate(divide="ignore", invalid="ignore"):
        relief = np.where(computable, (pre - post) / pre * 100.0, reported)
    below = (relief < RELIEF_FLOOR) & ~errors
    for i in np.flatnonzero(below).tolist():
        if i in skip:
            continue
        if computable[i]:
            _warn(
                table,
                f"pain more than doubled: relief is {relief[i]:.1f} % "
                f"(pain_pre {pre[i]:g}, pain_post {post[i]:g})",
                "pain_post",
                (_row(table, i),),
                float(post[i]),
                "Check that the two scores are not swapped and are on the same scale; "
                "fine if the paper reports this worsening",
            )
        else:
            _warn(
                table,
                f"pain more than doubled: the reported relief is {relief[i]:g} %",
                "relief_pct",
                (_row(table, i),),
                float(relief[i]),
                "Check the value and its sign in the paper",
            )


def _check_relief_fractions(table: TypedTable) -> None:
    reported = _numbers(table, "relief_reported")
    usable = ~np.isnan(reported) & ~_with_errors(table, "relief_pct")
    fractional: list[tuple[Any, np.ndarray]] = []
    n_reporting = 0
    for study, members in _study_groups(table):
        rows = members[usable[members]]
        if len(rows) == 0:
            continue
        n_reporting += 1
        values = reported[rows]
        if (np.abs(values) <= FRACTION_MAX).all() and (values > 0).any():
            fractional.append((study, rows))
        else:
            _check_single_fractions(table, reported, rows)
    if not fractional:
        return
    hint = (
        "Multiply by 100, or in Excel format the cells as percent (ipdmeta reads "
        "percent-formatted cells as the percent they show)"
    )
    if len(fractional) == n_reporting:
        rows = np.concatenate([r for _, r in fractional])
        names = ", ".join(str(s) for s, _ in fractional)
        _warn(
            table,
            f"every reported relief_pct (studies {names}) lies {_fraction_range(reported[rows])}: "
            f"probably fractions typed for percentages ({_example_fraction(reported[rows])})",
            "relief_pct",
            _rows(table, rows),
            _values_text(reported[rows]),
            hint,
        )
        return
    for study, rows in fractional:
        _warn(
            table,
            f"every reported relief_pct of study {study} lies {_fraction_range(reported[rows])} "
            "while other studies report percentages: probably fractions typed for percentages "
            f"({_example_fraction(reported[rows])})",
            "relief_pct",
            _rows(table, rows),
            _values_text(reported[rows]),
            hint,
        )


def _check_single_fractions(table: TypedTable, reported: np.ndarray, rows: np.ndarray) -> None:
    """One value below 1 % among a study's percentages: a 0.84 typed into a plain cell
    beside cells typed (or formatted) as 84 %. Papers report relief to a whole or a tenth
    of a percent, so a value strictly between 0 and 1 is far likelier a fraction."""
    values = reported[rows]
    for i, value in zip(rows, values, strict=True):
        others = values[values != value]
        if 0 < abs(value) < FRACTION_MAX and others.size:
            _warn(
                table,
                f"relief_pct {value:g} is below 1 % while the study's other reported values "
                f"are {others.min():g} to {others.max():g}: probably a fraction typed for a "
                f"percentage ({value:g} for {value * 100:g} %)",
                "relief_pct",
                (_row(table, i),),
                float(value),
                "Multiply by 100, or in Excel format the cell as percent",
            )


def _fraction_range(values: np.ndarray) -> str:
    low = "0" if values.min() >= 0 else "-1"
    return f"between {low} and 1 ({values.min():g} to {values.max():g})"


def _example_fraction(values: np.ndarray) -> str:
    value = float(values[values > 0][0])
    return f"{value:g} for {value * 100:g} %"


# --- Ages, follow-up, pain duration ---------------------------------------------------


def _check_age_range(table: TypedTable) -> None:
    age = _numbers(table, "age")
    usable = ~_with_errors(table, "age")
    _warn_per_value(
        table,
        "age",
        usable & (age < AGE_MIN),
        "age {value:g} is below 1 year: a patient who rates pain is older",
        "Leave the cell empty if the paper does not report the age (0 is often typed for "
        "'not reported'); check whether it is in months",
    )
    _warn_per_value(
        table,
        "age",
        usable & (age > AGE_MAX),
        "age {value:g} is above 100 years",
        "Check the age in the paper",
    )


def _check_followup_range(table: TypedTable) -> None:
    followup = _numbers(table, "followup_months")
    usable = ~_with_errors(table, "followup_months")
    _warn_per_value(
        table,
        "followup_months",
        usable & (followup == 0),
        "followup_months is {value:g}: relief at 0 months is not a follow-up result",
        "Leave the cell empty if the paper does not report the follow-up (0 is often typed "
        "for 'not reported')",
    )
    _warn_per_value(
        table,
        "followup_months",
        usable & (followup > FOLLOWUP_MAX),
        "followup_months {value:g} is more than 30 years",
        "Check the unit: follow-up is in months",
    )


def _check_duration_against_age(table: TypedTable) -> None:
    age, duration = _numbers(table, "age"), _numbers(table, "pain_duration_years")
    longer = (duration - age >= AGE_ROUNDING) & ~_with_errors(table, "age", "pain_duration_years")
    for i in np.flatnonzero(longer).tolist():
        _warn(
            table,
            f"pain_duration_years {duration[i]:g} is longer than the patient's age {age[i]:g}",
            "pain_duration_years",
            (_row(table, i),),
            float(duration[i]),
            "Check both cells: the duration may be in months, or the two swapped",
        )


def _check_followup_in_years(table: TypedTable) -> None:
    followup = _numbers(table, "followup_months")
    usable = ~np.isnan(followup) & ~_with_errors(table, "followup_months")
    for study, rows, others in _study_and_others(table, usable):
        values, other = followup[rows], followup[others]
        if (
            (values <= FOLLOWUP_YEARS_MAX).all()
            and len(np.unique(values)) > 1
            and np.median(other) >= OTHER_FOLLOWUP_MEDIAN_MIN
        ):
            _warn(
                table,
                f"every followup_months of study {study} is {FOLLOWUP_YEARS_MAX:g} or less "
                f"while the other studies' median is {np.median(other):g} months: "
                "probably years typed as months",
                "followup_months",
                _rows(table, rows),
                _values_text(values),
                "Multiply by 12 if the paper gives years; fine if it followed every patient "
                "for so short a time",
            )


def _check_duration_in_months(table: TypedTable) -> None:
    duration = _numbers(table, "pain_duration_years")
    usable = ~np.isnan(duration) & ~_with_errors(table, "pain_duration_years")
    for study, rows, others in _study_and_others(table, usable):
        median, other = np.median(duration[rows]), np.median(duration[others])
        if median > DURATION_MEDIAN_MIN and other > 0 and median >= DURATION_RATIO * other:
            _warn(
                table,
                f"the median pain_duration_years of study {study} is {median:g}, "
                f"{median / other:.0f} times the other studies' median of {other:g} years: "
                "probably months typed as years",
                "pain_duration_years",
                _rows(table, rows),
                _values_text(duration[rows]),
                "Divide by 12 if the paper gives months",
            )


def _study_and_others(
    table: TypedTable, usable: np.ndarray
) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """Per study with enough values: (study, its usable rows, the other studies' rows)."""
    studies = _labels(table, "study_id")
    for study, members in _study_groups(table):
        rows = members[usable[members]]
        others = np.flatnonzero(usable & _has_study(studies) & (studies != study))
        if len(rows) >= MIN_STUDY_VALUES and len(others) >= MIN_STUDY_VALUES:
            yield study, rows, others


# --- The same patients in two studies -------------------------------------------------


@dataclass(frozen=True)
class _Match:
    first: int  # row position in the first study
    second: int  # row position in the second study
    fields: tuple[str, ...]  # the fields that agree
    chance: float  # the chance that two unrelated patients agree on them


def _check_duplicate_cohorts(table: TypedTable) -> None:
    if not set(CORE_FIELDS) <= set(table.frame.columns):
        return
    values = _comparable_values(table)
    chances = _Chances(table, values)
    studies = _labels(table, "study_id")
    sizes = pd.Series(studies[_has_study(studies)]).value_counts()
    n_pairs = (sizes.sum() ** 2 - (sizes**2).sum()) / 2  # patient pairs across studies
    by_studies: dict[tuple[Any, Any], list[_Match]] = {}
    for i, j in _candidate_pairs(table, values, studies):
        if str(studies[i]) > str(studies[j]):  # one order per pair of studies
            i, j = j, i
        match = _match(i, j, values, chances)
        if match is not None:
            by_studies.setdefault((studies[match.first], studies[match.second]), []).append(match)
    for (a, b), matches in by_studies.items():
        matches = _one_match_per_patient(matches)
        if _expected_by_chance(matches, sizes[a] * sizes[b], n_pairs) < CHANCE_LIMIT:
            _warn_duplicate(table, a, b, matches)


def _comparable_values(table: TypedTable) -> dict[str, np.ndarray]:
    """Each compared field as an object array; numbers rounded, missing values None."""
    frame = table.frame
    out: dict[str, np.ndarray] = {}
    pre, post = _numbers(table, "pain_pre"), _numbers(table, "pain_post")
    scored = ~np.isnan(pre) & ~np.isnan(post)
    for name in (*CORE_FIELDS, *EXTRA_FIELDS, "pain_pre", "pain_post", "relief_pct"):
        if name not in frame:
            continue
        if pd.api.types.is_numeric_dtype(frame[name]):
            numbers = np.round(_numbers(table, name), _DECIMALS)
            column = np.array([None if np.isnan(v) else float(v) for v in numbers], dtype=object)
        else:
            column = _labels(table, name)
        column[_with_errors(table, name)] = None  # an error is reported already
        # Relief stands in for the scores only where a row has no scores.
        if name == "relief_pct":
            column[scored] = None
        elif name in ("pain_pre", "pain_post"):
            column[~scored] = None
        out[name] = column
    return out


class _Chances:
    """The chance that another patient of the review shares a patient's value of a field."""

    def __init__(self, table: TypedTable, values: dict[str, np.ndarray]) -> None:
        self.values = values
        self.given = {
            name: _labels(table, GIVEN[name]) if name in GIVEN else None for name in values
        }
        self.counts: dict[str, Counter[tuple[Any, Any]]] = {}
        self.totals: dict[str, Counter[Any]] = {}
        for name, column in values.items():
            given = self.given[name]
            pairs = [
                (None if given is None else given[i], v)
                for i, v in enumerate(column)
                if v is not None
            ]
            self.counts[name] = Counter(pairs)
            self.totals[name] = Counter(g for g, _ in pairs)

    def of(self, name: str, i: int) -> float:
        given = self.given[name]
        key = (None if given is None else given[i], self.values[name][i])
        total = self.totals[name][key[0]]
        if total < MIN_VALUES_TO_ESTIMATE:
            return CHANCE_OF_SAME[name]
        # Leave the patient itself out; its partner in the match stays in, which errs on
        # the side of chance (and so does counting at least one other patient when the
        # partner's value falls in another group, a score on another scale).
        return max(self.counts[name][key] - 1, 1) / (total - 1)


def _candidate_pairs(
    table: TypedTable, values: dict[str, np.ndarray], studies: np.ndarray
) -> Iterator[tuple[int, int]]:
    """Pairs of rows of different studies with equal age, sex, diagnosis and outcome."""
    outcome = [
        (values["pain_pre"][i], values["pain_post"][i])
        if "pain_pre" in values and values["pain_pre"][i] is not None
        else ("relief", values["relief_pct"][i] if "relief_pct" in values else None)
        for i in range(len(table.frame))
    ]
    keys: dict[tuple[Any, ...], list[int]] = {}
    for i in range(len(table.frame)):
        key = (*(values[f][i] for f in CORE_FIELDS), outcome[i])
        if studies[i] is None or any(k is None for k in key[:-1]) or None in outcome[i]:
            continue
        keys.setdefault(key, []).append(i)
    for rows in keys.values():
        for n, i in enumerate(rows):
            for j in rows[n + 1 :]:
                if studies[i] != studies[j]:
                    yield i, j


def _match(i: int, j: int, values: dict[str, np.ndarray], chances: _Chances) -> _Match | None:
    fields: list[str] = []
    for name, column in values.items():
        a, b = column[i], column[j]
        if a is None or b is None:
            continue
        if a != b:
            return None
        fields.append(name)
    if len(fields) < MIN_MATCHING_FIELDS:
        return None
    # The more common of the two values sets the chance: an 8 on NRS-10 matched by an 8.0
    # on VAS-10 is as likely by chance as NRS scores make it.
    chance = math.prod(max(chances.of(f, i), chances.of(f, j)) for f in fields)
    return _Match(i, j, tuple(fields), chance)


def _one_match_per_patient(matches: list[_Match]) -> list[_Match]:
    """Keep the strongest match of each patient, so that no patient counts twice."""
    kept: list[_Match] = []
    used: set[int] = set()
    for match in sorted(matches, key=lambda m: m.chance):
        if match.first not in used and match.second not in used:
            kept.append(match)
            used.update((match.first, match.second))
    return kept


def _expected_by_chance(matches: list[_Match], pairs_here: float, pairs_in_all: float) -> float:
    """How many coincidences as strong as ``matches`` the whole review would show by chance.

    ``k`` matches between two studies of ``pairs_here`` patient pairs arise by chance with
    probability about ``pairs_here**k / k! * prod(chance)``; a pair of studies is one of
    many, weighted by its share ``pairs_here / pairs_in_all`` of all patient pairs across
    studies (a weighted Bonferroni bound), which gives the expected count below.
    """
    k = len(matches)
    log_expected = (
        math.log(pairs_in_all)
        + (k - 1) * math.log(pairs_here)
        - math.lgamma(k + 1)
        + sum(math.log(m.chance) for m in matches)
    )
    return math.exp(log_expected)


# "Smith 2005", "smith 2005", "Smith  2005" and "Smith et al. 2005" name one paper; as
# study ids they are four studies, each with its own random intercept.
_ET_AL = re.compile(r"\bet\.?\s*al\b\.?", re.IGNORECASE)


def _study_key(study: str) -> str:
    text = _ET_AL.sub(" ", str(study)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _check_study_spellings(table: TypedTable) -> None:
    """Study ids that differ only in case, spacing, punctuation or "et al."."""
    studies = _labels(table, "study_id")
    spellings: dict[str, list[Any]] = {}
    for study in pd.unique(studies[_has_study(studies)]):
        spellings.setdefault(_study_key(study), []).append(study)
    for names in spellings.values():
        if len(names) < 2:
            continue
        rows = _rows(table, np.flatnonzero(np.isin(studies, names)))
        _warn(
            table,
            f"the study ids {', '.join(repr(n) for n in names)} differ only in case, spacing, "
            "punctuation or 'et al.': probably one study written in several ways, which the "
            "analysis counts as separate studies",
            "study_id",
            rows,
            names[1],
            "Write the study's id the same way in every row",
        )


def _warn_duplicate(table: TypedTable, a: Any, b: Any, matches: list[_Match]) -> None:
    first = _rows(table, [m.first for m in matches])
    second = _rows(table, [m.second for m in matches])
    shared = [f for f in matches[0].fields if all(f in m.fields for m in matches)]
    fields = ", ".join(shared[:-1]) + f" and {shared[-1]}"
    k = len(matches)
    who = "a patient" if k == 1 else f"{k} patients"
    twice = "the same patient" if k == 1 else "the same cohort"
    _warn(
        table,
        f"study {a} ({_rows_text(first)}) and study {b} ({_rows_text(second)}) have {who} "
        f"with the same {fields}: probably {twice} reported twice, for example in a "
        "follow-up report",
        "study_id",
        tuple(sorted(first + second)),
        f"{a}, {b}",
        "Keep each patient once (for example from the longer follow-up) and record why; "
        "fine if they are different patients",
    )


def _rows_text(rows: tuple[int, ...]) -> str:
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(str(r) for r in rows)
