"""Confidence intervals as ``lme4::confint.merMod``: Wald, profile and bootstrap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import special

if TYPE_CHECKING:
    from ipdmeta.mixed._model import LmmResult


def _frame(names: list[str], est: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"term": names, "estimate": est, "ci_lower": lo, "ci_upper": hi})


def _estimates(fit: LmmResult) -> tuple[list[str], np.ndarray]:
    names = fit._param_names() + list(fit.design.x_names)
    est = np.concatenate([fit.sd_parameters(), [fit.sigma], fit.state.beta])
    return names, est


def wald(fit: LmmResult, level: float) -> pd.DataFrame:
    """Fixed effects: estimate -/+ z se; variance parameters NaN (lme4 method = "Wald")."""
    names, est = _estimates(fit)
    z = special.ndtri(0.5 + level / 2.0)
    se = np.sqrt(np.diag(fit._vcov()))
    nv = len(names) - se.size
    lo = np.concatenate([np.full(nv, np.nan), fit.state.beta - z * se])
    hi = np.concatenate([np.full(nv, np.nan), fit.state.beta + z * se])
    return _frame(names, est, lo, hi)


def bootstrap(fit: LmmResult, level: float, n: int, seed: int | None) -> pd.DataFrame:
    """Percentile intervals from a parametric bootstrap (lme4 method = "boot")."""
    names, est = _estimates(fit)
    boot = fit.bootstrap(n, seed)
    pct = boot.percentile(level).set_index("term")
    lo = pct.loc[names, "ci_lower"].to_numpy()
    hi = pct.loc[names, "ci_upper"].to_numpy()
    return _frame(names, est, lo, hi)


def profile(fit: LmmResult, level: float) -> pd.DataFrame:
    from ipdmeta.mixed._profile import profile_intervals

    names, est = _estimates(fit)
    lo, hi = profile_intervals(fit, level)
    return _frame(names, est, lo, hi)
