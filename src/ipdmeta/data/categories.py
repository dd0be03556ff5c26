"""Category vocabularies: mapping the labels papers use to the review's categories.

Papers name the same disorder in many ways ("atypical facial pain", "persistent idiopathic
facial pain"). A vocabulary lists, per column, each category with the labels that mean it.
ipdmeta ships a general one (sex, side, electrode position, quality judgements) and one for
chronic neuropathic orofacial pain (CNOP); a review can extend or override either with its
own mapping file, or bring an entirely different vocabulary. Mapping is a documented step:
:meth:`CategoryMap.apply` reports which raw label went to which category and why.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ipdmeta.errors import ReadError

__all__ = [
    "BUILTIN_VOCABULARIES",
    "CNOP",
    "GENERAL",
    "CategoryMap",
    "LabelMatch",
    "normalise_label",
]


def normalise_label(label: str) -> str:
    """Case-fold a label and unify spacing, hyphens and quotes, for matching."""
    text = str(label).casefold().strip()
    text = re.sub(r"[\u2010-\u2015_-]+", " ", text)
    text = re.sub(r"[\"'\u2018\u2019\u201c\u201d.]", "", text)
    return re.sub(r"\s+", " ", text)


# column -> category -> labels meaning it (the category name itself always matches).
Vocabulary = Mapping[str, Mapping[str, tuple[str, ...]]]

GENERAL: Vocabulary = {
    "sex": {
        "F": ("female", "woman", "f", "w", "vrouw", "v"),
        "M": ("male", "man", "m"),
    },
    "side": {
        "left": ("l", "lt", "left side", "left sided"),
        "right": ("r", "rt", "right side", "right sided"),
        "bilateral": ("b", "both", "bilat", "both sides"),
    },
    "electrode_position": {
        "epidural": ("extradural", "epi"),
        "subdural": ("intradural", "sub"),
    },
    "pain_scale": {
        "VAS-10": (
            "vas10",
            "vas 10",
            "vas 0 10",
            "vas (0 10)",
            "vas cm",
            "vas 10 cm",
            "vas (cm)",
            "vas 0 10 cm",
            "vas (0 10 cm)",
            "0 10",
            "0 10 cm",
        ),
        "VAS-100": (
            "vas100",
            "vas 100",
            "vas 0 100",
            "vas (0 100)",
            "vas mm",
            "vas 100 mm",
            "vas (mm)",
            "vas 0 100 mm",
            "vas (0 100 mm)",
            "0 100",
            "0 100 mm",
        ),
        "NRS-10": ("nrs", "nrs10", "nrs 10", "nrs 0 10", "nprs", "numeric rating scale"),
    },
    "judgement": {
        "yes": ("y", "ja", "low risk", "low"),
        "no": ("n", "nee", "high risk", "high"),
        "unclear": ("u", "?", "unknown", "not clear", "some concerns"),
        "not applicable": ("na", "n/a", "not relevant"),
    },
    "excluded": {
        "yes": ("y", "x", "true", "1", "excluded", "exclude", "ja"),
        "no": ("n", "false", "0", "included", "include", "nee"),
    },
}

CNOP: Vocabulary = {
    "diagnosis": {
        "TN": (
            "trigeminal neuralgia",
            "classic trigeminal neuralgia",
            "classical trigeminal neuralgia",
            "idiopathic trigeminal neuralgia",
            "refractory trigeminal neuralgia",
            "atypical trigeminal neuralgia",
            "trigeminal neuralgia type 2",
            "tic douloureux",
        ),
        "TNP": (
            "trigeminal neuropathic pain",
            "trigeminal neuropathy",
            "painful trigeminal neuropathy",
            "post traumatic trigeminal neuropathic pain",
            "posttraumatic trigeminal neuropathic pain",
            "painful post traumatic trigeminal neuropathy",
            "pttn",
            "pttnp",
            "post surgical trigeminal neuropathic pain",
            "trigeminal nerve injury",
        ),
        "PHN": (
            "post herpetic neuralgia",
            "postherpetic neuralgia",
            "post herpetic trigeminal neuralgia",
            "postherpetic trigeminal neuropathic pain",
            "post herpetic pain",
            "herpes zoster",
            "zoster",
        ),
        "AD": (
            "anesthesia dolorosa",
            "anaesthesia dolorosa",
            "deafferentation pain",
            "trigeminal deafferentation pain",
            "facial deafferentation pain",
            "deafferentation",
        ),
        "central": (
            "central pain",
            "central neuropathic pain",
            "central post stroke pain",
            "post stroke pain",
            "post stroke facial pain",
            "poststroke pain",
            "cpsp",
            "wallenberg",
            "wallenberg syndrome",
            "lateral medullary syndrome",
            "thalamic pain",
            "thalamic syndrome",
            "dejerine roussy",
            "dejerine roussy syndrome",
            "multiple sclerosis",
            "ms plaque",
            "ms",
        ),
        "DPS": (
            "dysfunctional pain syndrome",
            "dysfunctional pain",
            "atypical facial pain",
            "persistent idiopathic facial pain",
            "pifp",
            "idiopathic facial pain",
            "atypical odontalgia",
            "persistent idiopathic dentoalveolar pain",
        ),
    },
    "lesion_location": {
        "trigeminal_nerve": (
            "trigeminal nerve",
            "trigeminal nerve lesion",
            "nerve",
            "nerve lesion",
            "peripheral",
            "peripheral nerve",
            "peripheral lesion",
            "trigeminal branch",
            "trigeminal ganglion",
            "gasserian ganglion",
            "ganglion",
            "trigeminal root",
            "root",
        ),
        "supranuclear": (
            "(supra)nuclear",
            "(supra)nuclear lesion",
            "supranuclear",
            "nuclear",
            "brainstem",
            "brain stem",
            "medulla",
            "medullary",
            "thalamus",
            "thalamic",
            "cortex",
            "cortical",
            "central",
            "central lesion",
        ),
        "no_lesion": (
            "none",
            "no lesion",
            "no identifiable lesion",
            "not identifiable",
            "idiopathic",
        ),
        "unknown": ("unknown", "not reported", "nr", "unclear"),
    },
}

BUILTIN_VOCABULARIES: Mapping[str, Vocabulary] = {"general": GENERAL, "cnop": CNOP}


@dataclass(frozen=True)
class LabelMatch:
    """How one raw label was mapped: the category and where the rule came from."""

    column: str
    raw_label: str
    category: str | None
    source: str
    suggestion: str | None = None


@dataclass(frozen=True)
class _Rule:
    category: str
    source: str


@dataclass
class CategoryMap:
    """Label -> category rules per column, later rules overriding earlier ones.

    Build one with :meth:`from_vocabularies`, then :meth:`extend` it with a user's own
    mapping (a CSV file with columns ``column, label, category``, or a dict).
    """

    rules: dict[str, dict[str, _Rule]] = field(default_factory=dict)

    @classmethod
    def from_vocabularies(cls, names: Iterable[str] = ("general", "cnop")) -> CategoryMap:
        mapping = cls()
        for name in names:
            if name not in BUILTIN_VOCABULARIES:
                known = ", ".join(BUILTIN_VOCABULARIES)
                raise ReadError(f"unknown built-in vocabulary {name!r}; known: {known}")
            mapping.add_vocabulary(BUILTIN_VOCABULARIES[name], f"built-in {name} vocabulary")
        return mapping

    def add_vocabulary(self, vocabulary: Vocabulary, source: str) -> None:
        for column, categories in vocabulary.items():
            for category, labels in categories.items():
                self.add(column, category, category, source)
                for label in labels:
                    self.add(column, label, category, source)

    def add(self, column: str, label: str, category: str, source: str) -> None:
        self.rules.setdefault(column, {})[normalise_label(label)] = _Rule(category, source)

    def extend(self, mapping: Mapping[str, Mapping[str, str]], source: str) -> None:
        """Add or override rules from ``{column: {label: category}}``."""
        for column, labels in mapping.items():
            for label, category in labels.items():
                self.add(column, label, category, source)

    def extend_from_file(self, path: str | Path) -> None:
        """Add or override rules from a CSV file with columns ``column, label, category``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReadError(f"{path}: cannot read the category map: {exc}") from exc
        reader = csv.DictReader(io.StringIO(text))
        expected = {"column", "label", "category"}
        if not reader.fieldnames or not expected <= {f.strip() for f in reader.fieldnames}:
            raise ReadError(
                f"{path}: a category map needs the columns column, label, category; "
                f"found {', '.join(reader.fieldnames or []) or 'no header'}"
            )
        for number, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not (row["column"] and row["label"] and row["category"]):
                raise ReadError(
                    f"{path}, row {number}: column, label and category must all be filled in"
                )
            self.add(row["column"], row["label"], row["category"], f"{path.name} row {number}")

    def columns(self) -> list[str]:
        return list(self.rules)

    def categories(self, column: str) -> list[str]:
        """The categories of a column, in the order first defined."""
        return list(dict.fromkeys(rule.category for rule in self.rules.get(column, {}).values()))

    def match(self, column: str, raw_label: str) -> LabelMatch:
        rules = self.rules.get(column, {})
        rule = rules.get(normalise_label(raw_label))
        if rule is not None:
            return LabelMatch(column, raw_label, rule.category, rule.source)
        return LabelMatch(column, raw_label, None, "no rule", self.suggest(column, raw_label))

    def suggest(self, column: str, raw_label: str) -> str | None:
        from rapidfuzz import fuzz, process

        rules = self.rules.get(column, {})
        if not rules:
            return None
        # token_sort_ratio forgives typos and word order but, unlike WRatio, does not match
        # any label sharing one word ("pain"); 75 keeps "thalamic" -> "thalamic pain".
        found = process.extractOne(
            normalise_label(raw_label), list(rules), scorer=fuzz.token_sort_ratio, score_cutoff=75
        )
        return rules[found[0]].category if found else None
