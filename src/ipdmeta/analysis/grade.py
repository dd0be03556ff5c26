"""Certainty of the evidence (GRADE) for pain relief, each domain pre-filled from the
analysis and overridable in review.toml ``[grade]`` with a reason.

The rules, chosen to be stated plainly in the table (the review can override any):
- start: randomised trials start high, other comparative designs low, case series and
  case reports very low (GRADE's starting points; case series cannot start higher);
- risk of bias: serious when half or more of the patients come from studies at high risk
  of bias under the review's rule (``[sensitivity] high_risk_*``);
- inconsistency: serious when I2 is 75 % or more (Cochrane Handbook: "considerable");
- indirectness: not judged from the data: "not serious" unless the review says otherwise;
- imprecision: serious when the 95% CI of the pooled mean is wider than
  ``imprecision_width`` percentage points;
- publication bias: serious when Egger's test gives p < 0.10 with 10 or more studies; not
  assessable with fewer.
Each serious domain lowers the certainty one level, each very serious two, down to very low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipdmeta._display import ResultDisplay
from ipdmeta.analysis.heterogeneity import EGGER_MIN_STUDIES, TwoStage
from ipdmeta.analysis.risk_of_bias import HighRisk
from ipdmeta.analysis.spec import GRADE_DOMAINS, GRADE_LEVELS, GradeSpec

__all__ = ["Certainty", "grade_relief"]

INCONSISTENCY_I2 = 75.0  # the Cochrane Handbook's "considerable heterogeneity"
PUBLICATION_BIAS_P = 0.10  # Egger's test is judged at 10 %, its usual level
_STEPS = {"not serious": 0, "serious": 1, "very serious": 2}


@dataclass(frozen=True, repr=False)
class Certainty(ResultDisplay):
    """The GRADE assessment of one outcome: ``domains`` has ``domain, judgement, reason,
    source`` (analysis or review.toml); ``certainty`` is the level reached."""

    outcome: str
    k: int
    n: int
    effect: str
    start: str
    start_reason: str
    domains: pd.DataFrame
    certainty: str

    def to_frame(self) -> pd.DataFrame:
        first = pd.DataFrame(
            [
                {
                    "domain": "starting level",
                    "judgement": self.start,
                    "reason": self.start_reason,
                    "source": "design",
                }
            ]
        )
        last = pd.DataFrame(
            [
                {
                    "domain": "certainty",
                    "judgement": self.certainty,
                    "reason": f"{self.outcome}: {self.effect}; {self.k} studies, {self.n} patients",
                    "source": "GRADE",
                }
            ]
        )
        return pd.concat([first, self.domains, last], ignore_index=True)

    def _display_title(self) -> str:
        return (
            f"Certainty of the evidence (GRADE) for {self.outcome}: {self.certainty} "
            f"({self.k} studies, {self.n} patients)"
        )

    def _display_notes(self) -> list[str]:
        return [f"Starts {self.start}: {self.start_reason}."]

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [(None, self.to_frame())]


def grade_relief(
    two_stage: TwoStage,
    studies: pd.DataFrame | None,
    patients: pd.DataFrame,
    high_risk: HighRisk | None,
    spec: GradeSpec,
) -> Certainty | None:
    """GRADE for mean pain relief, from the two-stage analysis; None without one."""
    result = two_stage.result
    if result is None:
        return None
    start, start_reason = _start(studies, spec)
    found = {
        "risk_of_bias": _risk_of_bias(patients, high_risk),
        "inconsistency": _inconsistency(result),
        "indirectness": ("not serious", "not judged from the data: set [grade] indirectness"),
        "imprecision": _imprecision(result, spec.imprecision_width),
        "publication_bias": _publication_bias(two_stage),
    }
    rows = []
    steps = 0
    for domain in GRADE_DOMAINS:
        judgement, reason = found[domain]
        source = "not judged" if domain == "indirectness" else "analysis"
        own = getattr(spec, domain)
        if own is not None:
            judgement = own
            reason = getattr(spec, f"{domain}_reason") or "set in review.toml"
            source = "review.toml"
        steps += _STEPS.get(judgement, 0)
        rows.append(
            {
                "domain": domain.replace("_", " "),
                "judgement": judgement,
                "reason": reason,
                "source": source,
            }
        )
    level = min(GRADE_LEVELS.index(start) + steps, len(GRADE_LEVELS) - 1)
    effect = (
        f"pooled mean relief {result.estimate:.1f} % (95% CI {result.ci_lower:.1f} to "
        f"{result.ci_upper:.1f})"
    )
    return Certainty(
        outcome="pain relief",
        k=int(result.k),
        n=int(two_stage.studies.loc[two_stage.studies["included"].astype(bool), "n"].sum()),
        effect=effect,
        start=start,
        start_reason=start_reason,
        domains=pd.DataFrame(rows),
        certainty=GRADE_LEVELS[level],
    )


def _start(studies: pd.DataFrame | None, spec: GradeSpec) -> tuple[str, str]:
    if spec.start is not None:
        return spec.start, "set in review.toml"
    designs = (
        [str(d).casefold() for d in studies["design"].dropna()]
        if studies is not None and "design" in studies
        else []
    )
    if not designs:
        return "very low", "no study designs given: taken as case series"
    if all("random" in d for d in designs):
        return "high", "randomised trials"
    if any("case" in d for d in designs):
        return "very low", "case series and case reports"
    return "low", "observational studies"


def _risk_of_bias(patients: pd.DataFrame, high_risk: HighRisk | None) -> tuple[str, str]:
    if high_risk is None:
        return "not serious", "no quality appraisal, or no rule for high risk: not assessed"
    share = float(patients["study_id"].astype(str).isin(high_risk.studies).mean())
    judgement = "serious" if share >= 0.5 else "not serious"
    return judgement, (
        f"{100 * share:.0f} % of patients from the {len(high_risk.studies)} studies at high "
        f"risk of bias ({high_risk.rule})"
    )


def _inconsistency(result: Any) -> tuple[str, str]:
    judgement = "serious" if result.I2 >= INCONSISTENCY_I2 else "not serious"
    return judgement, (
        f"I² = {result.I2:.1f} %; 95% prediction interval {result.pi_lower:.1f} to "
        f"{result.pi_upper:.1f} %"
    )


def _imprecision(result: Any, width: float) -> tuple[str, str]:
    actual = float(result.ci_upper - result.ci_lower)
    judgement = "serious" if actual > width else "not serious"
    return judgement, (
        f"95% CI {result.ci_lower:.1f} to {result.ci_upper:.1f} ({actual:.1f} points; "
        f"threshold {width:g})"
    )


def _publication_bias(two_stage: TwoStage) -> tuple[str, str]:
    egger = two_stage.egger
    if egger is None or two_stage.k < EGGER_MIN_STUDIES:
        return "not serious", f"{two_stage.k} studies: too few to assess (fewer than 10)"
    judgement = "serious" if egger.pvalue < PUBLICATION_BIAS_P else "not serious"
    return judgement, f"Egger's test p = {egger.pvalue:.3f}"
