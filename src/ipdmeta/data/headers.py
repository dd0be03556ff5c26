"""Recognising the headers people write: "VAS pre-op", "% improvement", "Dx", "FU (months)".

A header is matched to a canonical column in three steps: the column's name or a listed
alias (the schema's, then the review's own from review.toml), the same after taking a
unit out of the header ("Age (yrs)"), then rules over the header's words ("VAS pre-op"
has a before-word; "VAS post (last FU)" an after-word and a score-word). Every header
read as something other than itself is reported once, so a misread header cannot pass
unseen.
"""

from __future__ import annotations

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


WORD_RULES: dict[str, dict[str, list[Rule]]] = {
    "patients": {
        "relief_pct": [
            _rule(_RELIEF, {"pct", "percent", "percentage"}),
            _rule({"relief"}, unless={"duration", "time"}),
        ],
        "preop_test": [_rule(_TEST, unless=_RELIEF)],
        "pain_pre": [_rule(_BEFORE, unless=_RELIEF | _TEST | {"age", "duration", "dx"})],
        "pain_post": [
            _rule(_AFTER, _PAIN, unless=_RELIEF),
            _rule({"post", "postop", "postoperative", "after"}, unless=_RELIEF | {"duration"}),
        ],
        "followup_months": [_rule(_FOLLOWUP, unless=_PAIN | _RELIEF)],
        "pain_duration_years": [_rule({"duration", "history"}, unless=_FOLLOWUP)],
        "age": [_rule({"age"}, unless={"onset"})],
        "diagnosis": [_rule({"dx", "diagnosis", "disorder", "syndrome", "indication"})],
        "lesion_location": [
            _rule({"lesion", "cause", "aetiology", "etiology", "location", "site", "origin"})
        ],
        "pain_scale": [_rule({"scale", "instrument"})],
        "electrode_position": [_rule({"electrode", "lead", "placement", "epidural", "subdural"})],
        "sex": [_rule({"sex", "gender"})],
        "side": [_rule({"side", "laterality"})],
        "patient_id": [
            _rule({"pt", "patient", "case", "subject", "no", "number", "id"}, unless=_PAIN)
        ],
        "study_id": [
            _rule({"study", "paper", "reference", "ref", "author", "citation", "series"}),
            _rule({"publication", "source"}),
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
        if key in self.own:
            return HeaderMatch(self.own[key], None, "review.toml alias")
        stem, unit = split_header_unit(str(header))
        if unit is None:
            unit = next((_UNIT_WORDS[w] for w in _words(header) if w in _UNIT_WORDS), None)
        stem_key = normalise_header(stem.replace("#", " no "))
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
        canonical = self._by_words(words)
        return HeaderMatch(canonical, unit, "words") if canonical else None

    def _by_words(self, words: list[str]) -> str | None:
        present = set(words)
        for canonical, rules in self.rules.items():
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
