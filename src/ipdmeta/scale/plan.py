"""The coordinator's plan of a federated analysis: the model, the factors' levels and
their order, and the disclosure rules every site applies before it shares anything.

A site codes its factors with the plan's levels, so the columns are the same everywhere
and a site reveals nothing through which level names it has."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipdmeta import __version__
from ipdmeta.errors import DataError, ModelSpecError
from ipdmeta.mixed._formula import parse_formula
from ipdmeta.mixed._study_blocks import check_formula, skeleton_design
from ipdmeta.scale.signed import checksum, read_signed, write_signed

PLAN_KIND = "ipdmeta federated plan"
# DataSHIELD's and OHDSI's usual thresholds: no category cell of fewer than 5 patients,
# no study of fewer than 10.
MIN_CELL = 5
MIN_STUDY = 10


@dataclass(frozen=True)
class Plan:
    """What every site summarises, and the rules it checks first."""

    formula: str
    study: str
    levels: dict[str, tuple[str, ...]]
    min_cell: int = MIN_CELL
    min_study: int = MIN_STUDY
    version: str = __version__
    weights: str | None = None  # the column of prior weights, as lmm's weights=

    def body(self) -> dict[str, Any]:
        return {
            "kind": PLAN_KIND,
            "ipdmeta": self.version,
            "formula": self.formula,
            "study": self.study,
            "levels": {v: list(lv) for v, lv in self.levels.items()},
            "weights": self.weights,
            "rules": {
                "min_patients_per_cell": self.min_cell,
                "min_patients_per_study": self.min_study,
            },
        }

    @property
    def id(self) -> str:
        """The checksum of the plan's content: a site summary names the plan it was made for."""
        return checksum(self.body())

    def write(self, path: Path) -> Path:
        return write_signed(path, self.body())


def make_plan(
    formula: str,
    levels: Mapping[str, Sequence[str]],
    min_cell: int = MIN_CELL,
    min_study: int = MIN_STUDY,
    weights: str | None = None,
) -> Plan:
    """A plan for ``formula``: ``levels`` lists each factor's levels, the reference
    first; every other variable is numeric. Checked by building the model's columns."""
    parsed = parse_formula(formula)
    study = check_formula(parsed, formula)
    variables = set(parsed.variables) - {parsed.response, study}
    clean: dict[str, tuple[str, ...]] = {}
    for name, given in levels.items():
        values = tuple(str(v).strip() for v in given)
        if name == study:
            raise ModelSpecError(
                f"{name!r} is the study; its labels are each site's own and are not planned"
            )
        if name not in variables:
            raise ModelSpecError(
                f"levels are given for {name!r}, which the formula {formula!r} does not use"
            )
        if len(values) < 2 or any(not v for v in values):
            raise ModelSpecError(f"{name!r} needs at least two non-empty levels, got {values}")
        if len(set(values)) != len(values):
            raise ModelSpecError(f"{name!r} lists a level twice: {values}")
        clean[name] = values
    for name, value in (("min_cell", min_cell), ("min_study", min_study)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelSpecError(f"{name} must be a whole number of 1 or more, got {value!r}")
    if weights is not None and (not weights.strip() or weights in (study, parsed.response)):
        raise ModelSpecError(f"weights must name a column of prior weights, got {weights!r}")
    skeleton_design(parsed, clean, {}, study)  # the columns can be made
    return Plan(formula, study, clean, min_cell, min_study, weights=weights)


def read_plan(path: Path) -> Plan:
    """A plan written by :meth:`Plan.write`; a changed one is refused."""
    body = read_signed(path, PLAN_KIND, "a federated plan")
    try:
        rules = body["rules"]
        plan = Plan(
            formula=str(body["formula"]),
            study=str(body["study"]),
            levels={str(k): tuple(str(x) for x in v) for k, v in body["levels"].items()},
            min_cell=int(rules["min_patients_per_cell"]),
            min_study=int(rules["min_patients_per_study"]),
            version=str(body["ipdmeta"]),
            weights=None if body.get("weights") is None else str(body["weights"]),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(f"{path}: the plan lacks or mangles {exc}") from None
    if plan.version != __version__:
        raise DataError(
            f"{path}: the plan was made by ipdmeta {plan.version}; this is {__version__}. "
            "Every site and the coordinator use one version: make the plan again"
        )
    return plan


def parse_levels(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """``["diagnosis=TN,DPS", "sex=F,M"]`` as the command line gives them."""
    out: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        if not sep or not name.strip():
            raise ModelSpecError(
                f"--levels takes NAME=LEVEL1,LEVEL2,... (the reference first), got {item!r}"
            )
        if name.strip() in out:
            raise ModelSpecError(f"--levels gives {name.strip()!r} twice")
        out[name.strip()] = tuple(v.strip() for v in rest.split(","))
    return out
