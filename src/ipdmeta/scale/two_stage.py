"""The two-stage analysis from the same per-study blocks: each study's own least-squares
fit of the fixed part (no random effects), then each coefficient pooled across the
studies that can estimate it by a random-effects meta-analysis (REML, as metafor's
``rma``).

A study estimates a coefficient when its own columns allow it (a diagnosis contrast needs
patients with both diagnoses) and it has more patients than estimable columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ipdmeta.errors import IpdmetaError
from ipdmeta.mixed._design import aliased_columns
from ipdmeta.mixed._study_blocks import StudyBlocks, pseudo_rows


def study_estimates(blocks: StudyBlocks) -> pd.DataFrame:
    """One row per study and estimable coefficient: study, term, estimate, variance."""
    K, p = len(blocks.z_names), len(blocks.x_names)
    rows: list[dict[str, object]] = []
    for i, study in enumerate(blocks.studies):
        G = blocks.gram[i][K:, K:]  # [X y]'[X y]
        R, _ = pseudo_rows(G[None, :, :])
        keep = [j for j in range(p) if j not in set(aliased_columns(R[:, :p]))]
        dof = int(blocks.n[i]) - len(keep)
        if not keep or dof < 1:
            continue
        xtx = G[np.ix_(keep, keep)]
        xty = G[keep, p]
        try:
            inverse = np.linalg.inv(xtx)
        except np.linalg.LinAlgError:  # collinear beyond what the rank test caught
            continue
        beta = inverse @ xty
        rss = float(G[p, p] - xty @ beta)
        sigma2 = max(rss, 0.0) / dof
        for j, b, v in zip(keep, beta, np.diag(inverse) * sigma2, strict=True):
            rows.append({"study": study, "term": blocks.x_names[j], "estimate": float(b),
                         "variance": float(v)})  # fmt: skip
    return pd.DataFrame(rows, columns=["study", "term", "estimate", "variance"])


def two_stage(blocks: StudyBlocks) -> pd.DataFrame:
    """Each coefficient pooled over the studies that estimate it: term, k, estimate, se,
    ci_lower, ci_upper, pvalue, tau2, I2 (NaN where fewer than 2 studies can)."""
    from ipdmeta.meta import random_effects

    per_study = study_estimates(blocks)
    out: list[dict[str, object]] = []
    for term in blocks.x_names:
        rows = per_study[per_study["term"] == term]
        row: dict[str, object] = {"term": term, "k": len(rows)}
        usable = rows[rows["variance"] > 0]
        if len(usable) >= 2:
            try:
                pooled = random_effects(
                    usable["estimate"].to_numpy(), usable["variance"].to_numpy(), method="REML"
                )
                row.update(estimate=pooled.estimate, se=pooled.se, ci_lower=pooled.ci_lower,
                           ci_upper=pooled.ci_upper, pvalue=pooled.pvalue, tau2=pooled.tau2,
                           I2=pooled.I2)  # fmt: skip
            except IpdmetaError as exc:
                row["note"] = str(exc).splitlines()[0]
        else:
            row["note"] = "fewer than 2 studies estimate it"
        out.append(row)
    columns = ["term", "k", "estimate", "se", "ci_lower", "ci_upper", "pvalue", "tau2", "I2",
               "note"]  # fmt: skip
    return pd.DataFrame(out).reindex(columns=columns)
