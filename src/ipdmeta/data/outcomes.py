"""Percentage pain relief and responder flags, derived per patient.

``relief_pct = (pain_pre - pain_post) / pain_pre * 100`` on the patient's pain scale. When
pain scores are missing a reported ``relief_pct`` is used; when both exist and disagree by
more than ``agreement_tolerance`` percentage points the disagreement is reported and the
value computed from the scores is used. ``pain_pre = 0`` leaves relief undefined: the
reported value is used if there is one, otherwise it is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.data.problems import Severity
from ipdmeta.data.typing import TypedTable, range_text

__all__ = [
    "DEFAULT_RESPONDER_THRESHOLDS",
    "NO_OUTCOME",
    "SCALE_MAXIMUM",
    "OutcomeOptions",
    "ReliefSource",
    "Worsening",
    "derive_outcomes",
    "responder_column",
]

SCALE_MAXIMUM = {"VAS-10": 10.0, "VAS-100": 100.0, "NRS-10": 10.0}
# The scale a score cell names itself ("7/10", "95 mm") when pain_scale is empty.
STATED_SCALE = {10.0: "VAS-10", 100.0: "VAS-100"}
NO_OUTCOME = "_no_outcome"  # a working column: rows excluded for lack of any outcome
DEFAULT_RESPONDER_THRESHOLDS = (30.0, 40.0, 50.0)


class Worsening(StrEnum):
    """What to do with negative relief (pain worse after stimulation)."""

    KEEP = "keep"  # keep it negative: no information is thrown away (the default)
    FLOOR = "floor"  # set it to 0, as a review reporting relief from 0 to 100 % does


class ReliefSource(StrEnum):
    COMPUTED = "computed"  # from pain_pre and pain_post
    REPORTED = "reported"  # the paper's relief_pct


@dataclass(frozen=True)
class OutcomeOptions:
    """How % relief is derived.

    Parameters
    ----------
    worsening
        ``"keep"`` (default) or ``"floor"`` negative relief at 0.
    responder_thresholds
        Relief (%) at or above which a patient counts as a responder; one flag column
        ``responder_<t>`` per threshold.
    agreement_tolerance
        Percentage points by which a reported relief may differ from the one computed from
        pain scores before the difference is reported (papers round).
    default_scale
        Scale for rows with pain scores but no ``pain_scale``; when None the scale is
        inferred per study (VAS-100 when any score in the study exceeds 10, else VAS-10)
        and the inference is reported.
    """

    worsening: Worsening | str = Worsening.KEEP
    responder_thresholds: Sequence[float] = DEFAULT_RESPONDER_THRESHOLDS
    agreement_tolerance: float = 1.0
    default_scale: str | None = None

    @classmethod
    def from_spec(cls, spec: Any) -> OutcomeOptions:
        """The options review.toml's ``[outcome]`` table gives."""
        return cls(
            worsening=spec.worsening,
            responder_thresholds=tuple(spec.responder_thresholds),
            agreement_tolerance=spec.agreement_tolerance,
            default_scale=spec.default_scale,
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "worsening", Worsening(self.worsening))
        if self.default_scale is not None and self.default_scale not in SCALE_MAXIMUM:
            raise ValueError(
                f"default_scale must be one of {', '.join(SCALE_MAXIMUM)}, "
                f"got {self.default_scale!r}"
            )


def responder_column(threshold: float) -> str:
    return f"responder_{threshold:g}".replace(".", "_")


def derive_outcomes(table: TypedTable, options: OutcomeOptions) -> None:
    """Add ``relief_pct``, ``relief_source`` and responder columns to the patients table.

    Problems go to ``table.problems``. Columns kept as read: ``relief_reported`` holds the
    paper's own value when the file had one.
    """
    frame = table.frame
    n = len(frame)
    has = set(frame.columns)
    pre = frame["pain_pre"].to_numpy(float) if "pain_pre" in has else np.full(n, np.nan)
    post = frame["pain_post"].to_numpy(float) if "pain_post" in has else np.full(n, np.nan)
    reported = frame["relief_pct"].to_numpy(float) if "relief_pct" in has else np.full(n, np.nan)

    if not {"pain_pre", "pain_post"} <= has and "relief_pct" not in has:
        table.problems.append(
            table.raw.problem(
                "no outcome columns",
                rows=(table.raw.header_row,),
                expected="pain_pre and pain_post, or relief_pct",
                hint="Add the pain scores before and after, or the reported % relief",
            )
        )
    scale = _resolve_scales(table, pre, post, options)
    _check_scores(table, pre, post, scale)

    with np.errstate(divide="ignore", invalid="ignore"):
        computed = (pre - post) / pre * 100.0
    computable = ~np.isnan(pre) & ~np.isnan(post) & (pre > 0)
    relief = np.where(computable, computed, reported)
    source = np.full(n, None, dtype=object)
    source[~np.isnan(reported)] = str(ReliefSource.REPORTED)
    source[computable] = str(ReliefSource.COMPUTED)

    zero_pre = (pre == 0) & ~np.isnan(post)
    if zero_pre.any():
        with_reported = zero_pre & ~np.isnan(reported)
        if with_reported.any():
            table.problems.append(
                table.problem(
                    "pain_pre is 0, so % relief cannot be computed from the scores; "
                    "the reported relief_pct is used",
                    column="pain_pre",
                    rows=table.rows_where(with_reported),
                    value=0,
                    severity=Severity.WARNING,
                )
            )
        without = zero_pre & np.isnan(reported)
        if without.any():
            table.problems.append(
                table.problem(
                    "pain_pre is 0, so % relief is undefined",
                    column="pain_pre",
                    rows=table.rows_where(without),
                    value=0,
                    expected="a pain score above 0 before stimulation",
                    hint="Check the extraction, or give the paper's relief_pct",
                )
            )

    # A row whose outcome cell was already reported as unreadable needs no second message,
    # and a patient marked excluded needs no outcome.
    flagged = _rows_with_problems(table, ("pain_pre", "pain_post", "relief_pct"))
    post_only = np.isnan(pre) & ~np.isnan(post) & ~flagged
    if post_only.any():
        table.problems.append(
            table.problem(
                "pain_post is given without pain_pre",
                column="pain_pre",
                rows=table.rows_where(post_only),
                expected="pain_pre in every row with pain_post",
                hint="Fill in pain_pre, or give relief_pct and leave both scores empty",
            )
        )
    marked = frame["excluded"].eq("yes").to_numpy() if "excluded" in has else np.zeros(n, bool)
    no_outcome = np.isnan(relief) & ~post_only & ~zero_pre & ~flagged & ~marked
    if no_outcome.any() and ({"pain_pre", "pain_post"} <= has or "relief_pct" in has):
        table.problems.append(
            table.problem(
                "the patient has no outcome, so is excluded from the analysis (reason: "
                "no outcome reported)",
                column="relief_pct",
                rows=table.rows_where(no_outcome),
                severity=Severity.WARNING,
                expected="pain_pre and pain_post, or relief_pct",
                hint="Fill in the outcome if the paper gives it; the report counts excluded "
                "patients and their reasons",
            )
        )
    frame[NO_OUTCOME] = no_outcome
    _report_disagreement(table, computable, computed, reported, options.agreement_tolerance)

    if options.worsening is Worsening.FLOOR:
        relief = np.where(relief < 0, 0.0, relief)
    frame["pain_scale"] = scale
    if "relief_pct" in has:
        frame["relief_reported"] = reported
    frame["relief_pct"] = relief
    frame["relief_source"] = source
    for threshold in options.responder_thresholds:
        flag = pd.array(relief >= threshold, dtype="boolean")
        flag[np.isnan(relief)] = pd.NA
        frame[responder_column(threshold)] = flag


def _rows_with_problems(table: TypedTable, columns: tuple[str, ...]) -> np.ndarray:
    headers = {table.header_of.get(c, c) for c in columns}
    rows = {r for p in table.problems if p.column in headers for r in p.rows}
    return table.frame["source_row"].isin(rows).to_numpy()


def _resolve_scales(
    table: TypedTable, pre: np.ndarray, post: np.ndarray, options: OutcomeOptions
) -> np.ndarray:
    frame = table.frame
    n = len(frame)
    scale = np.full(n, None, object)
    if "pain_scale" in frame:
        scale[frame["pain_scale"].notna().to_numpy()] = frame["pain_scale"].dropna().to_numpy()
    _use_stated_scales(table, scale)
    unknown = np.array([s is not None and s not in SCALE_MAXIMUM for s in scale])
    if unknown.any():
        _, first = np.unique(scale[unknown].astype(str), return_index=True)
        for value in scale[unknown][first]:
            table.problems.append(
                table.problem(
                    "unknown pain scale",
                    column="pain_scale",
                    rows=table.rows_where(scale == value),
                    value=value,
                    expected=", ".join(SCALE_MAXIMUM),
                )
            )
    scored = ~(np.isnan(pre) & np.isnan(post))
    # A scale label the map does not know is an error of its own, not an empty cell.
    unreadable = _rows_with_problems(table, ("pain_scale",))
    blank = scored & np.array([s is None for s in scale]) & ~unreadable
    if not blank.any():
        return scale
    if options.default_scale is not None:
        scale[blank] = options.default_scale
        return scale
    studies = frame["study_id"].to_numpy(object) if "study_id" in frame else np.full(n, None)
    # A blank study_id is reported elsewhere; here those rows form one group of their own.
    studies = np.array([None if pd.isna(s) else s for s in studies], dtype=object)
    for study in pd.unique(studies[blank]):
        same_study = np.array([s == study for s in studies])
        rows = blank & same_study
        scores = np.concatenate([pre[same_study], post[same_study]])
        top = np.nanmax(scores) if np.isfinite(scores).any() else 0.0
        guess = "VAS-100" if top > 10 else "VAS-10"
        scale[rows] = guess
        table.problems.append(
            table.problem(
                f"pain_scale is empty; taken as {guess} because the largest score in study "
                f"{study} is {top:g}",
                column="pain_scale",
                rows=table.rows_where(rows),
                severity=Severity.WARNING,
                hint="Fill in pain_scale (VAS-10, VAS-100 or NRS-10) to silence this",
            )
        )
    return scale


def _use_stated_scales(table: TypedTable, scale: np.ndarray) -> None:
    """Scores that name their scale ("7/10", "95 mm"): fill an empty pain_scale, and a
    scale that contradicts the cell is an error."""
    for column, stated in table.stated_scales.items():
        known = ~np.isnan(stated)
        blank = known & np.array([s is None for s in scale])
        for top in np.unique(stated[blank]):
            rows = blank & (stated == top)
            scale[rows] = STATED_SCALE.get(float(top))
            table.problems.append(
                table.problem(
                    f"pain_scale is empty; taken as {STATED_SCALE.get(float(top))} because the "
                    f"score says it is out of {top:g}",
                    column="pain_scale",
                    rows=table.rows_where(rows),
                    severity=Severity.NOTE,
                )
            )
        tops = np.array([SCALE_MAXIMUM.get(s, np.nan) if s else np.nan for s in scale])
        clash = known & ~np.isnan(tops) & (tops != stated)
        if clash.any():
            typed = table.raw.cells[table.header_of[column]].to_numpy(object)
            table.problems.append(
                table.problem(
                    f"the score says it is out of {stated[clash][0]:g}, and pain_scale says "
                    f"{scale[clash][0]}",
                    column=column,
                    rows=table.rows_where(clash),
                    value=typed[clash][0],
                    expected=f"a score on {scale[clash][0]}",
                    hint="Correct the score or pain_scale",
                )
            )


def _check_scores(table: TypedTable, pre: np.ndarray, post: np.ndarray, scale: np.ndarray) -> None:
    top = np.array([SCALE_MAXIMUM.get(s, np.nan) if s else np.nan for s in scale], dtype=float)
    for name, values in (("pain_pre", pre), ("pain_post", post)):
        above = values > top
        for scale_name in pd.unique(scale[above]):
            rows = above & (scale == scale_name)
            for value in pd.unique(values[rows]):
                table.problems.append(
                    table.problem(
                        f"pain score above the maximum of its scale {scale_name}",
                        column=name,
                        rows=table.rows_where(rows & (values == value)),
                        value=f"{value:g}",
                        expected=range_text(0, SCALE_MAXIMUM[scale_name]),
                        hint="Check the score, or correct pain_scale",
                    )
                )


def _report_disagreement(
    table: TypedTable,
    computable: np.ndarray,
    computed: np.ndarray,
    reported: np.ndarray,
    tolerance: float,
) -> None:
    differs = computable & ~np.isnan(reported) & (np.abs(computed - reported) > tolerance)
    for i in np.flatnonzero(differs):
        table.problems.append(
            table.problem(
                f"reported relief_pct differs from the {computed[i]:.1f} % computed from "
                "pain_pre and pain_post; the computed value is used",
                column="relief_pct",
                rows=(int(table.frame["source_row"].iloc[i]),),
                value=f"{reported[i]:g}",
                severity=Severity.WARNING,
            )
        )
