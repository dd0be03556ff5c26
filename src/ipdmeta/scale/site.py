"""What a site shares in a federated analysis: its studies' blocks for the plan's model,
made only after the plan's disclosure rules hold for every study.

The blocks of a study are its patient count and the cross-products of the model's columns
and the outcome. Cross-products of category columns are cell counts, so the rules are on
cells: every non-empty category cell of a study (each factor's levels, and the
combinations of factors in an interaction) has at least ``min_cell`` patients, and every
study at least ``min_study``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ipdmeta import __version__
from ipdmeta.errors import DisclosureError
from ipdmeta.mixed._formula import parse_formula
from ipdmeta.mixed._study_blocks import StudyBlocks, skeleton_design, study_blocks
from ipdmeta.scale.plan import Plan

SITE_KIND = "ipdmeta site summary"
_SHOWN_BREACHES = 8


def _cells(plan: Plan) -> list[tuple[str, ...]]:
    """The category cells the rules look at: each planned factor alone, and the planned
    factors of each fixed-effect term that crosses two or more (an interaction)."""
    parsed = parse_formula(plan.formula)
    cells: list[tuple[str, ...]] = [(v,) for v in plan.levels]
    for term in skeleton_design(parsed, plan.levels, {}, plan.study).terms:
        crossed = tuple(v for v in term.variables if v in plan.levels)
        if len(crossed) > 1 and crossed not in cells:
            cells.append(crossed)
    return cells


def _breaches(plan: Plan, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The breaches of the plan's rules in ``frame`` (the rows the model uses), in words:
    studies too small, and category cells too small."""
    small: list[str] = []
    breaches: list[str] = []
    cells = _cells(plan)
    by_study = frame.groupby(frame[plan.study].astype(str), sort=True, observed=True)
    for study, rows in by_study:
        if len(rows) < plan.min_study:
            small.append(
                f"study {study!r} has {len(rows)} patients; the plan asks at least "
                f"{plan.min_study} per study (min_patients_per_study)"
            )
            continue
        for cell in cells:
            counts = rows.groupby(list(cell), observed=True).size()
            for key, count in counts.items():
                if 0 < count < plan.min_cell:
                    values = key if isinstance(key, tuple) else (key,)
                    where = " and ".join(f"{v} = {x}" for v, x in zip(cell, values, strict=True))
                    breaches.append(
                        f"study {study!r} has {count} patient{'s' if count != 1 else ''} with "
                        f"{where}; the plan asks at least {plan.min_cell} in any non-empty "
                        "category cell (min_patients_per_cell)"
                    )
    return small, breaches


def disclosure_breaches(plan: Plan, frame: pd.DataFrame) -> list[str]:
    """Every breach of the plan's rules in ``frame`` (the rows the model uses), in words:
    studies too small first, then category cells."""
    small, cells = _breaches(plan, frame)
    return small + cells


def _refuse_breaches(plan: Plan, frame: pd.DataFrame, source: str) -> None:
    small, cells = _breaches(plan, frame)
    if not small and not cells:
        return
    # A few of each rule's breaches, so that both kinds are seen.
    half = _SHOWN_BREACHES // 2
    picked = small[:half] + cells[: _SHOWN_BREACHES - min(half, len(small))]
    total = len(small) + len(cells)
    shown = "\n  - ".join(picked)
    more = total - len(picked)
    raise DisclosureError(
        f"{source}: {total} disclosure rule{'s are' if total > 1 else ' is'} "
        f"broken, so nothing was summarised:\n  - {shown}"
        + (f"\n  - and {more} more" if more > 0 else "")
        + "\nLeave such studies out of the data, or agree other rules in the plan"
    )


def summarise_site(plan: Plan, patients: pd.DataFrame, source: str = "the data") -> dict[str, Any]:
    """The summary a site shares for ``plan`` (a JSON-ready dict, without its checksum).

    Raises :class:`DisclosureError`, naming the rule, the study and the cell, when a study
    breaks the plan's rules; nothing of the data leaves then."""
    parsed = parse_formula(plan.formula)
    blocks = study_blocks(
        plan.formula, patients, levels=plan.levels, weights=plan.weights,
        check_rows=lambda rows: _refuse_breaches(plan, rows, source),
    )  # fmt: skip
    return {
        "kind": SITE_KIND,
        "ipdmeta": __version__,
        "plan": plan.id,
        "formula": blocks.formula,
        "study": blocks.study,
        "studies": list(blocks.studies),
        "patients": [int(n) for n in blocks.n],
        "dropped": blocks.n_dropped,
        "z_names": list(blocks.z_names),
        "x_names": list(blocks.x_names),
        "outcome": parsed.response,
        "levels": {v: list(lv) for v, lv in blocks.levels.items()},
        "numeric": list(blocks.numeric),
        "sums": blocks.sums.tolist(),
        "gram": blocks.gram.tolist(),
        "offset_sums": blocks.per_study("offset_sums").tolist(),
        "log_weights": blocks.per_study("log_weights").tolist(),
    }


def blocks_of(summary: dict[str, Any]) -> StudyBlocks:
    """The :class:`StudyBlocks` a site summary holds."""
    m = len(summary["studies"])
    gram = np.asarray(summary["gram"], dtype=float)
    d = len(summary["z_names"]) + len(summary["x_names"]) + 1
    if gram.shape != (m, d, d):
        raise ValueError(f"gram has shape {gram.shape}, expected {(m, d, d)}")
    return StudyBlocks(
        formula=str(summary["formula"]),
        study=str(summary["study"]),
        studies=tuple(str(s) for s in summary["studies"]),
        n=np.asarray(summary["patients"], dtype=np.int64),
        gram=gram,
        z_names=tuple(summary["z_names"]),
        x_names=tuple(summary["x_names"]),
        levels={str(k): tuple(str(x) for x in v) for k, v in summary["levels"].items()},
        numeric=tuple(summary["numeric"]),
        sums=np.asarray(summary["sums"], dtype=float).reshape(m, len(summary["numeric"])),
        n_dropped=int(summary["dropped"]),
        offset_sums=np.asarray(summary["offset_sums"], dtype=float),
        log_weights=np.asarray(summary["log_weights"], dtype=float),
    )


def describe(summary: dict[str, Any]) -> str:
    """What a summary shares, in words and numbers, for the site to read before sending."""
    studies, patients = summary["studies"], summary["patients"]
    random = ", ".join("intercept" if z == "(Intercept)" else z for z in summary["z_names"])
    width = len(summary["z_names"]) + len(summary["x_names"]) + 1
    lines = [
        f"Plan {summary['plan'][:19]}..., model {summary['formula']}",
        f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, {sum(patients)} patients "
        f"({summary['dropped']} row{'' if summary['dropped'] == 1 else 's'} without a value "
        "for every model variable left out).",
        "",
        "Shared for each study: its number of patients, and the sums of squares and products",
        f"({width} x {width}) of these columns of its patients' rows:",
        f"  random effects: {random}",
        f"  fixed effects: {', '.join(summary['x_names'])}",
        f"  outcome: {summary['outcome']}",
        "The products of category columns are counts of patients in each category cell; those",
        "of numeric columns are their sums and sums of squares.",
    ]
    if summary["numeric"]:
        lines.append(
            "Also the sum of each numeric variable: " + ", ".join(summary["numeric"]) + "."
        )
    lines += ["", f"{'study':<24}{'patients':>10}"]
    lines += [f"{s:<24}{n:>10}" for s, n in zip(studies, patients, strict=True)]
    return "\n".join(lines)
