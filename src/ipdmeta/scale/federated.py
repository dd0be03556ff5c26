"""The coordinator's side of a federated analysis: check every site's summary against the
plan, join them, and fit the one-stage model exactly as if the rows had been pooled, with
the two-stage analysis from the same blocks beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta import __version__
from ipdmeta._json import clean, records
from ipdmeta.errors import DataError
from ipdmeta.mixed import LmmResult, lmm_from_blocks
from ipdmeta.mixed._study_blocks import StudyBlocks
from ipdmeta.scale.plan import Plan
from ipdmeta.scale.signed import read_signed
from ipdmeta.scale.site import SITE_KIND, blocks_of
from ipdmeta.scale.two_stage import two_stage


@dataclass(frozen=True)
class FederatedFit:
    """The one-stage fit from every site's blocks and the two-stage table beside it."""

    plan: Plan
    sites: tuple[str, ...]
    blocks: StudyBlocks
    one_stage: LmmResult
    two_stage: pd.DataFrame

    def to_json(self) -> dict[str, Any]:
        """What ``ipdmeta federated fit --json`` prints (df: Satterthwaite)."""
        return clean(
            {
                **fit_tables(self.one_stage),
                "two_stage": records(self.two_stage),
                "sites": len(self.sites),
                "studies": len(self.blocks.studies),
                "patients": self.blocks.n_patients,
                "plan": self.plan.id,
            }
        )

    def text(self) -> str:
        fit = self.one_stage
        lines = [
            f"Federated fit of {self.plan.formula}",
            f"{len(self.sites)} sites, {len(self.blocks.studies)} studies, "
            f"{self.blocks.n_patients} patients; plan {self.plan.id[:19]}...",
            "",
            "One-stage linear mixed model (REML), from the sites' blocks: the same fit as on "
            "the pooled rows",
            fit.fixed_effects(ddf="satterthwaite").to_string(index=False, float_format="%.4g"),
            "",
            fit.variance_components.to_string(index=False, float_format="%.4g"),
            "",
            "Two-stage: each study's least-squares fit, each coefficient pooled by REML",
            self.two_stage.to_string(index=False, float_format="%.4g", na_rep=""),
        ]
        return "\n".join(lines)


def fit_tables(fit: LmmResult, ddf: str = "satterthwaite") -> dict[str, Any]:
    """A fit's fixed effects and variance components as JSON-ready lists."""
    return {
        "fixed_effects": records(
            fit.fixed_effects(ddf=ddf), ["term", "estimate", "se", "df", "pvalue"]
        ),
        "variance_components": records(fit.variance_components, ["group", "name", "variance"]),
    }


def read_summaries(plan: Plan, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every summary, checked: unchanged since written, made for this plan by this
    version of ipdmeta, and no study in two of them."""
    if not paths:
        raise DataError("give at least one site summary to fit")
    summaries: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in paths:
        body = read_signed(path, SITE_KIND, "a site summary")
        if body.get("ipdmeta") != __version__:
            raise DataError(
                f"{path}: made by ipdmeta {body.get('ipdmeta')}; this is {__version__}. "
                "Every site and the coordinator use one version"
            )
        if body.get("plan") != plan.id:
            raise DataError(
                f"{path}: made for another plan ({str(body.get('plan'))[:19]}...), not this "
                f"one ({plan.id[:19]}...); the site must summarise its data for this plan"
            )
        for study in body.get("studies", []):
            if study in seen:
                raise DataError(
                    f"the study {study!r} is in both {seen[study]} and {path}; each study's "
                    "patients must be summarised by one site only"
                )
            seen[study] = path
        summaries.append(body)
    return summaries


def fit_federated(plan: Plan, paths: Sequence[Path]) -> FederatedFit:
    """The one-stage and two-stage analyses from the sites' summaries at ``paths``."""
    summaries = read_summaries(plan, paths)
    parts: list[StudyBlocks] = []
    for path, body in zip(paths, summaries, strict=True):
        try:
            parts.append(blocks_of(body))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: the summary lacks or mangles {exc}") from None
    blocks = parts[0].combine(*parts[1:])
    return FederatedFit(
        plan=plan,
        sites=tuple(str(p) for p in paths),
        blocks=blocks,
        one_stage=lmm_from_blocks(blocks),
        two_stage=two_stage(blocks),
    )
