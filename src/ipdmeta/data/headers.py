"""Recognising the headers people write: "VAS pre-op", "% improvement", "Dx", "FU (months)".

A header is matched to a canonical column in three steps: the column's name or a listed
alias (the schema's, then the review's own from review.toml), the same after taking a
unit out of the header ("Age (yrs)"), then rules over the header's words ("VAS pre-op"
has a before-word; "VAS post (last FU)" an after-word and a score-word). Every header
read as something other than itself is reported once, so a misread header cannot pass
unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ipdmeta.data.quantities import split_header_unit
from ipdmeta.data.schema import TableSchema, normalise_header

__all__ = ["HeaderMatch", "HeaderMatcher"]


@dataclass(frozen=True)
class HeaderMatch:
    """What a header was read as: the canonical column, the header's unit, and how."""

    canonical: str
    unit: str | None
    how: str  # "name", "alias", "review.toml alias" or "words"


# Word rules: canonical column -> (sets of words, one of each set must appear; words that
# rule the column out). Words are the header's normalised tokens ("vas_pre_op" -> vas,
# pre, op); "preop" and "followup" are also split forms.
_PAIN = {"vas", "nrs", "nprs", "vrs", "pain", "score", "intensity"}
_BEFORE = {"pre", "preop", "preoperative", "before", "baseline", "basal", "initial", "prior",
           "pretreatment", "presurgery", "t0"}  # fmt: skip
_AFTER = {"post", "postop", "postoperative", "after", "last", "final", "current", "end"}
_RELIEF = {"relief", "improvement", "reduction", "decrease", "improved", "reduced"}
_FOLLOWUP = {"fu", "followup", "follow"}
_TEST = {"test", "rtms", "tms", "predictive"}
_STIMULATION = {"stimulation", "stim", "treatment", "therapy", "implant", "battery"}
# A header whose values are times ("FU (months)", "Pain before surgery (yrs)") can only be
# one of these, whatever else its words say.
_TIME_COLUMNS = ("age", "followup_months", "pain_duration_years")
_TIME_UNITS = {"year", "month", "week", "day", "hour"}
# "VAS 12 mo", "Pain (VAS) 6 months": a number before the unit names a time point, and the
# values are scores at that time, not times.
_TIME_POINT = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:y|yr|yrs|years?|m|mo|mos|months?|w|wk|wks|weeks?|d|days?|h|hrs?|hours?)\b",
    re.IGNORECASE,
)
# A unit named as a word of the header rather than after it ("Years of follow-up").
_UNIT_WORDS = {
    "years": "year", "year": "year", "yrs": "year", "yr": "year",
    "months": "month", "month": "month", "mo": "month", "mos": "month",
    "weeks": "week", "week": "week", "wk": "week", "wks": "week",
    "days": "day", "day": "day",
}  # fmt: skip

Rule = tuple[tuple[frozenset[str], ...], frozenset[str]]


def _rule(*needed: Iterable[str], unless: Iterable[str] = ()) -> Rule:
    return tuple(frozenset(n) for n in needed), frozenset(unless)


# Words that make a header about something other than a pain score ("Initial diagnosis",
# "Prior treatments", "Post-op complications").
_NOT_SCORE = {"diagnosis", "dx", "treatment", "treatments", "therapy", "therapies",
              "medication", "medications", "drug", "drugs", "complication", "complications",
              "procedure", "procedures", "imaging", "mri", "findings", "comorbidity",
              "comorbidities", "symptoms", "surgeries", "age", "duration"}  # fmt: skip
_AFTER_TIME = {"after", "since", "post", "postop", "postoperative"}
# A percentage of something else than pain ("Dose reduction %", "Improvement in QoL").
_NOT_RELIEF = {"medication", "medications", "dose", "dosage", "drug", "drugs", "opioid",
               "opioids", "analgesic", "analgesics", "consumption", "qol", "quality",
               "life", "function", "sleep", "mood", "depression"}  # fmt: skip
# Times that are neither follow-up nor pain duration ("Pain-free interval (months)").
_OTHER_TIMES = {"free", "interval", "recurrence", "relapse", "until", "stimulation", "stim",
                "treatment", "therapy", "implant", "battery", "relief", "trial"}  # fmt: skip

WORD_RULES: dict[str, dict[str, list[Rule]]] = {
    "patients": {
        "relief_pct": [
            _rule(
                _RELIEF | {"outcome", "response"},
                {"pct", "percent", "percentage"},
                unless=_NOT_RELIEF,
            ),
            _rule({"relief"}, unless=_NOT_RELIEF | {"duration", "time", "points", "point"}),
        ],
        "preop_test": [_rule(_TEST, unless=_RELIEF)],
        "age": [_rule({"age"}, unless={"onset"})],
        "pain_pre": [_rule(_BEFORE, _PAIN, unless=_RELIEF | _TEST | _NOT_SCORE)],
        "pain_post": [
            _rule(_AFTER, _PAIN, unless=_RELIEF | _NOT_SCORE),
            _rule(_FOLLOWUP, _PAIN, unless=_RELIEF | _NOT_SCORE),
        ],
        "followup_months": [_rule(_FOLLOWUP, unless=_PAIN | _RELIEF)],
        "pain_duration_years": [
            _rule({"duration", "history"}, unless=_FOLLOWUP | _RELIEF | _STIMULATION)
        ],
        "diagnosis": [_rule({"dx", "diagnosis", "disorder", "syndrome", "indication"})],
        "lesion_location": [
            _rule({"lesion", "cause", "aetiology", "etiology", "location", "site", "origin"})
        ],
        "pain_scale": [_rule({"scale", "instrument"})],
        "electrode_position": [_rule({"electrode", "lead", "placement", "epidural", "subdural"})],
        "sex": [_rule({"sex", "gender"})],
        "side": [_rule({"side", "laterality"}, unless={"effects", "effect"})],
        "patient_id": [
            _rule({"pt", "patient", "case", "subject", "no", "number", "id"}, unless=_PAIN)
        ],
        "study_id": [
            _rule({"study", "paper", "reference", "ref", "author", "citation", "series"}),
            _rule({"publication", "source"}, unless=_PAIN),
        ],
    },
    "studies": {
        "first_author": [_rule({"author", "authors"})],
        "study_id": [_rule({"study", "paper", "reference", "ref", "label", "id"})],
        "n_patients": [_rule({"n", "patients", "size", "number"})],
        "year": [_rule({"year"})],
        "design": [_rule({"design", "type"})],
    },
    "quality": {
        "study_id": [_rule({"study", "paper", "reference", "ref"})],
        "judgement": [_rule({"judgement", "judgment", "answer", "rating"})],
        "item": [_rule({"item", "question", "criterion", "domain"})],
    },
}

# Words a patient-id header may hold besides its own ("Pt #", "Case no."): a header with
# more words than these ("Patient age") is about something else.
_ID_FILLER = {"no", "number", "id", "nr"}


def _time_column(present: set[str]) -> str | None:
    """Which time a header whose values are times holds: age, follow-up or pain duration."""
    if present & _OTHER_TIMES:
        return None
    if "age" in present:
        return None if "onset" in present else "age"
    if present & {"onset", "duration", "history"}:
        return "pain_duration_years"
    if present & (_FOLLOWUP | _AFTER_TIME):
        return "followup_months"
    if present & (_BEFORE | {"pain"}):
        return "pain_duration_years"
    return None


def _words(header: str) -> list[str]:
    text = str(header).replace("#", " no ")
    key = normalise_header(text)
    words = [w for w in key.split("_") if w]
    joined = {"pre_op": "preop", "post_op": "postop", "follow_up": "followup"}
    for pair, word in joined.items():
        if pair in key:
            words.append(word)
    return words


class HeaderMatcher:
    """Match the headers of one table to its schema's canonical columns.

    Parameters
    ----------
    schema
        The table's schema.
    aliases
        The review's own aliases, ``{canonical: [header, ...]}`` (review.toml
        ``[data.aliases]``); they take precedence over every built-in rule.
    """

    def __init__(
        self, schema: TableSchema, aliases: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.schema = schema
        self.own: dict[str, str] = {}
        for canonical, headers in (aliases or {}).items():
            if canonical in schema.names:
                for header in headers:
                    self.own[normalise_header(header)] = canonical
        self.rules = WORD_RULES.get(schema.name, {})

    def match(self, header: str) -> HeaderMatch | None:
        """The canonical column ``header`` stands for, or None for an extra column."""
        key = normalise_header(str(header).replace("#", " no "))
        time_point = bool(_TIME_POINT.search(str(header)))
        stem, unit = split_header_unit(str(header))
        if time_point and unit in _TIME_UNITS:
            unit = None  # the unit of the time point, not of the values
        if unit is None and not time_point:
            unit = next((_UNIT_WORDS[w] for w in _words(header) if w in _UNIT_WORDS), None)
        stem_key = normalise_header(stem.replace("#", " no "))
        # The review's own alias names the header whole ("Stimulation period (years)"); its
        # unit still says what the numbers are.
        for candidate in dict.fromkeys((key, stem_key)):
            if candidate in self.own:
                return HeaderMatch(self.own[candidate], unit, "review.toml alias")
            canonical = self.schema.canonical_name(candidate)
            if canonical is not None:
                how = "name" if candidate == canonical and candidate == key else "alias"
                return HeaderMatch(canonical, unit, how)
        words = _words(stem) or _words(header)
        if unit == "percent":  # "% improvement": the unit is part of what the header says
            words.append("pct")
        canonical = self._by_words(set(words), unit, time_point)
        return HeaderMatch(canonical, unit, "words") if canonical else None

    def _by_words(self, present: set[str], unit: str | None, time_point: bool) -> str | None:
        if unit in _TIME_UNITS and self.schema.name == "patients":
            return _time_column(present)
        score_at_time = time_point and present & _PAIN and unit != "percent"
        if score_at_time and not present & (_BEFORE | _NOT_SCORE | _RELIEF):
            # "VAS 12 mo": a score at a time point after surgery
            return "pain_post" if self.schema.name == "patients" else None
        for canonical, rules in self.rules.items():
            if unit == "percent" and canonical != "relief_pct":
                continue
            for needed, unless in rules:
                if present & unless:
                    continue
                if all(present & group for group in needed):
                    if canonical == "patient_id" and len(present - _ID_FILLER) > 1:
                        continue
                    return canonical
        return None

    def suggest(self, header: str) -> str | None:
        """The canonical column an unrecognised header most resembles (typos), or None."""
        from rapidfuzz import fuzz, process

        key = normalise_header(header)
        if not key:
            return None
        choices = {c.name: c.name for c in self.schema.columns}
        for column in self.schema.columns:
            choices.update({alias: column.name for alias in column.aliases if len(alias) > 3})
        found = process.extractOne(key, list(choices), scorer=fuzz.ratio, score_cutoff=80)
        return choices[found[0]] if found else None
