"""Parametric bootstrap of a fitted mixed model (as ``lme4::bootMer``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import ModelSpecError
from ipdmeta.mixed._blocked import term_factor
from ipdmeta.mixed._fit import ScalarTermModel, model_for

if TYPE_CHECKING:
    from ipdmeta.mixed._glmm_model import GlmmResult
    from ipdmeta.mixed._model import LmmResult


@dataclass(frozen=True, repr=False)
class BootstrapResult(RichDisplay):
    """Refits of a model to responses simulated from it.

    ``replicates`` has one row per refit: the fixed effects (named as the model's
    columns), the random-effect SDs (and correlations) and sigma. ``parent`` is the model
    simulated from.
    """

    parent: LmmResult | GlmmResult = field(repr=False)
    replicates: pd.DataFrame = field(repr=False)
    seed: int | None
    n: int

    def to_frame(self) -> pd.DataFrame:
        return self.replicates.copy()

    def percentile(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile intervals of every column (columns term, ci_lower, ci_upper)."""
        a = (1.0 - level) / 2.0
        q = self.replicates.quantile([a, 1.0 - a])
        return pd.DataFrame(
            {
                "term": list(q.columns),
                "ci_lower": q.iloc[0].to_numpy(),
                "ci_upper": q.iloc[1].to_numpy(),
            }
        )

    def summary(self) -> SummaryText:
        r = self.replicates
        lines = [self._display_title(), ""]
        width = max(len(c) for c in r.columns)
        lines.append(f"{'':<{width}}  {'mean':>12} {'sd':>12}")
        for c in r.columns:
            lines.append(f"{c:<{width}}  {r[c].mean():>12.5g} {r[c].std(ddof=1):>12.5g}")
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        return f"Parametric bootstrap: {self.n} refits (seed {self.seed})"

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        # The replicates themselves are n rows of noise; show what summary() shows,
        # with the 95 % percentile intervals.
        r = self.replicates
        table = self.percentile(0.95)
        table.insert(1, "mean", r.mean().to_numpy())
        table.insert(2, "sd", r.std(ddof=1).to_numpy())
        return [("Replicates: mean, SD and 95% percentile interval", table)]


def simulate_responses(fit: LmmResult, n: int, rng: np.random.Generator) -> np.ndarray:
    """n x nobs matrix of responses drawn from the fitted model (b and e both redrawn)."""
    design = fit.design
    nobs = fit.nobs
    mu = design.X @ fit.state.beta
    sigma = fit.sigma
    noise = sigma * rng.standard_normal((n, nobs))
    if design.weights is not None:  # row i's residual SD is sigma / sqrt(w_i)
        noise /= np.sqrt(design.weights)
    Y = mu[None, :] + noise
    from ipdmeta.mixed._model import _theta_slices

    for t, sl in zip(design.random, _theta_slices(design), strict=True):
        T = term_factor(fit.theta[sl], t.k)
        u = rng.standard_normal((n, t.n_levels, t.k))
        b = sigma * u @ T.T  # n x levels x k
        Y += np.einsum("ik,bik->bi", t.values, b[:, t.codes, :])
    return Y


def _sd_params(theta: np.ndarray, sigma: float, fit: LmmResult) -> np.ndarray:
    from ipdmeta.mixed._model import _theta_slices

    out: list[float] = []
    for t, sl in zip(fit.design.random, _theta_slices(fit.design), strict=True):
        T = term_factor(theta[sl], t.k)
        cov = sigma**2 * T @ T.T
        sd = np.sqrt(np.diag(cov))
        for j in range(t.k):
            out.append(float(sd[j]))
            for i in range(j + 1, t.k):
                den = sd[i] * sd[j]
                out.append(float(cov[i, j] / den) if den > 0 else float("nan"))
    return np.array(out)


def parametric_bootstrap(fit: LmmResult, n: int, seed: int | None) -> BootstrapResult:
    if not isinstance(n, int | np.integer) or n < 1:
        raise ModelSpecError(
            f"the number of bootstrap refits must be a positive integer, got {n!r}"
        )
    rng = np.random.default_rng(seed)
    Y = simulate_responses(fit, int(n), rng)
    nobs, p = fit.design.X.shape
    names = list(fit.design.x_names) + fit._param_names()
    rows = np.empty((int(n), len(names)))
    model = fit.model
    # The models see the rows scaled by the square roots of any prior weights.
    root = np.ones(nobs) if fit.design.weights is None else np.sqrt(fit.design.weights)
    Y = Y * root
    if isinstance(model, ScalarTermModel):
        # All refits at once: the optimum in tau for every simulated response.
        boot = cast(ScalarTermModel, model_for(fit.design))  # one scalar term: the fast path
        theta = boot.optimise_batch(Y.T, fit.reml)
        Xty, yty, zy = boot._batch_stats(Y.T)
        _, beta, pwrss, _, _ = boot._batch_solve(theta**2, Xty, yty, zy)
        sigma = np.sqrt(pwrss / (nobs - p if fit.reml else nobs))
        rows[:, :p] = beta
        rows[:, p] = sigma * theta
        rows[:, p + 1] = sigma
    else:
        gm = model_for(fit.design)
        for i in range(int(n)):
            gm.set_response(Y[i])
            th = gm.optimise(fit.reml)
            st = gm.solve(th)
            s = st.sigma(nobs, p, fit.reml)
            rows[i, :p] = st.beta
            rows[i, p:-1] = _sd_params(th, s, fit)
            rows[i, -1] = s
    return BootstrapResult(fit, pd.DataFrame(rows, columns=names), seed, int(n))
