"""The fitted linear mixed model and its inference (lme4, lmerTest, emmeans, pbkrtest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import SummaryText
from ipdmeta._threads import limited_blas, threads_for
from ipdmeta.errors import ModelSpecError
from ipdmeta.mixed import _contrasts, _emmeans, _inference
from ipdmeta.mixed._blocked import term_factor
from ipdmeta.mixed._design import (
    Design,
    build_design,
    new_model_matrix,
    offset_values,
    prior_weights,
)
from ipdmeta.mixed._fit import GeneralModel, PLSState, ScalarTermModel, model_for
from ipdmeta.mixed._formula import parse_formula
from ipdmeta.mixed._glmm_model import GlmmResult
from ipdmeta.mixed._options import DDF, Adjust, ConfintMethod
from ipdmeta.mixed._study_blocks import StudyBlocks, blocks_design

# lme4's isSingular(): a theta on its lower bound (0) within this tolerance.
SINGULAR_TOL = 1e-4


def _theta_slices(design: Design) -> list[slice]:
    out, pos = [], 0
    for t in design.random:
        size = t.k * (t.k + 1) // 2
        out.append(slice(pos, pos + size))
        pos += size
    return out


def _effect_label(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


@dataclass(frozen=True)
class LmmResult:
    """A linear mixed model fitted by (RE)ML, as ``lme4::lmer``.

    Create one with :func:`lmm`. Inference methods follow lmerTest (Satterthwaite, type
    I/II/III F-tests), pbkrtest (Kenward-Roger) and emmeans (marginal means, contrasts).
    """

    formula: str
    reml: bool
    design: Design = field(repr=False)
    model: ScalarTermModel | GeneralModel = field(repr=False)
    theta: np.ndarray = field(repr=False)
    state: PLSState = field(repr=False)
    data: pd.DataFrame = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- basic quantities ------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of rows used (after dropping incomplete rows)."""
        return self.design.n_obs

    @property
    def n_dropped(self) -> int:
        """Rows dropped because a model variable was missing (as ``na.omit``)."""
        return self.design.n_dropped

    @property
    def aliased(self) -> tuple[str, ...]:
        """Fixed-effect columns dropped because the design was rank deficient."""
        return self.design.aliased

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (``lme4::ngrps``)."""
        out: dict[str, int] = {}
        for t in self.design.random:
            out[t.group] = t.n_levels
        return out

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return self.state.sigma(self.nobs, self.design.X.shape[1], self.reml)

    @property
    def coef(self) -> pd.Series:
        """Fixed-effect estimates, named as formulaic names the columns."""
        return pd.Series(self.state.beta, index=list(self.design.x_names), name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects (``vcov(lmerMod)``)."""
        return pd.DataFrame(self._vcov(), index=self.design.x_names, columns=self.design.x_names)

    def _vcov(self) -> np.ndarray:
        if "vcov" not in self._cache:
            A = self.state.A
            self._cache["vcov"] = self.sigma**2 * np.linalg.inv(A)
        return np.asarray(self._cache["vcov"])

    @property
    def npar(self) -> int:
        return int(self.design.X.shape[1] + self.theta.size + 1)

    @property
    def _dev(self) -> float:
        return self.state.deviance(self.nobs, self.design.X.shape[1], self.reml)

    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for a REML fit, as ``logLik``)."""
        return -0.5 * self._dev

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.npar

    @property
    def reml_criterion(self) -> float:
        """``REMLcrit``: -2 REML log-likelihood (NaN for an ML fit)."""
        return self._dev if self.reml else float("nan")

    @property
    def deviance(self) -> float:
        """-2 log-likelihood at the ML estimates (NaN for a REML fit)."""
        return float("nan") if self.reml else self._dev

    @property
    def is_singular(self) -> bool:
        """True when a variance (or a Cholesky diagonal) sits on its bound, as ``isSingular``."""
        lower = self.model.lower
        return bool(np.any(self.theta[lower == 0.0] < SINGULAR_TOL))

    def _term_covariances(self) -> list[np.ndarray]:
        s2 = self.sigma**2
        out = []
        for t, sl in zip(self.design.random, _theta_slices(self.design), strict=True):
            T = term_factor(self.theta[sl], t.k)
            out.append(s2 * T @ T.T)
        return out

    @property
    def variance_components(self) -> pd.DataFrame:
        """Random-effect variances and SDs with a Residual row (``VarCorr``).

        Returns
        -------
        pandas.DataFrame
            Columns group, name, variance, sd; effects are named ``Intercept`` or by their
            variable; the Residual row has an empty name. Correlations of correlated terms
            are in :attr:`correlations`.
        """
        rows: list[dict[str, object]] = []
        for t, cov in zip(self.design.random, self._term_covariances(), strict=True):
            for i, e in enumerate(t.effects):
                rows.append(
                    {
                        "group": t.group,
                        "name": _effect_label(e),
                        "variance": cov[i, i],
                        "sd": np.sqrt(cov[i, i]),
                    }
                )
        s2 = self.sigma**2
        rows.append({"group": "Residual", "name": "", "variance": s2, "sd": np.sqrt(s2)})
        return pd.DataFrame(rows, columns=["group", "name", "variance", "sd"])

    @property
    def correlations(self) -> pd.DataFrame:
        """Covariances and correlations within correlated random terms (``VarCorr``).

        Returns
        -------
        pandas.DataFrame
            Columns group, name1, name2, covariance, correlation (empty without such terms).
        """
        rows: list[dict[str, object]] = []
        for t, cov in zip(self.design.random, self._term_covariances(), strict=True):
            for j in range(t.k):
                for i in range(j + 1, t.k):
                    den = np.sqrt(cov[i, i] * cov[j, j])
                    rows.append(
                        {
                            "group": t.group,
                            "name1": _effect_label(t.effects[j]),
                            "name2": _effect_label(t.effects[i]),
                            "covariance": cov[i, j],
                            "correlation": cov[i, j] / den if den > 0 else np.nan,
                        }
                    )
        return pd.DataFrame(rows, columns=["group", "name1", "name2", "covariance", "correlation"])

    @property
    def icc(self) -> float:
        """Intraclass correlation: random-intercept variance / (that + residual variance).

        Defined for random-intercept models (one or more ``(1 | g)`` terms, summing their
        variances); NaN when a term has random slopes.
        """
        if any(t.effects != ("(Intercept)",) for t in self.design.random):
            return float("nan")
        between = float(sum(c[0, 0] for c in self._term_covariances()))
        return between / (between + self.sigma**2)

    # -- inference machinery ---------------------------------------------------------------
    def _satt(self) -> _inference.SatterthwaiteParts:
        if "satt" not in self._cache:
            self._cache["satt"] = _inference.satterthwaite_parts(
                self.model, self.theta, self.sigma, self.reml
            )
        parts: _inference.SatterthwaiteParts = self._cache["satt"]
        return parts

    def _kr(self) -> _inference.KenwardRogerParts:
        if not self.reml:
            raise ModelSpecError(
                "Kenward-Roger is defined for REML fits only; refit with reml=True"
            )
        if "kr" not in self._cache:
            self._cache["kr"] = _inference.kenward_roger_parts(
                self.model, self.theta, self.sigma, self._vcov()
            )
        kr: _inference.KenwardRogerParts = self._cache["kr"]
        return kr

    def _contrast_table(self, L: np.ndarray, ddf: DDF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Estimates, SEs and df of the rows of L."""
        beta = self.state.beta
        est = L @ beta
        V = self._vcov()
        if ddf is DDF.KENWARD_ROGER:
            kr = self._kr()
            se = np.sqrt(np.einsum("ij,jk,ik->i", L, kr.vcov_adj, L))
            df = np.array([_inference.kr_adjust(L[i : i + 1], V, kr)[0] for i in range(L.shape[0])])
            return est, se, df
        se = np.sqrt(np.einsum("ij,jk,ik->i", L, V, L))
        if ddf is DDF.SATTERTHWAITE:
            parts = self._satt()
            df = np.array([_inference.satterthwaite_df(L[i], V, parts) for i in range(L.shape[0])])
        elif ddf is DDF.RESIDUAL:
            df = np.full(L.shape[0], float(self.nobs - self.design.X.shape[1]))
        else:
            df = np.full(L.shape[0], np.inf)
        return est, se, df

    @limited_blas
    def fixed_effects(self, ddf: DDF | str = "satterthwaite", level: float = 0.95) -> pd.DataFrame:
        """Fixed-effect estimates with t-tests (``summary()`` of an lmerTest fit).

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}
            Denominator degrees of freedom: lmerTest's Satterthwaite, pbkrtest's
            Kenward-Roger (with the adjusted standard errors), n - p, or infinite (z-tests).
        level : float
            Confidence level of the intervals.

        Returns
        -------
        pandas.DataFrame
            Columns term, estimate, se, df, t, pvalue, ci_lower, ci_upper.
        """
        d = DDF.parse(ddf, "ddf")
        L = np.eye(self.design.X.shape[1])
        est, se, df = self._contrast_table(L, d)
        t = est / se
        crit = _inference.t_quantile(level, df)
        return pd.DataFrame(
            {
                "term": list(self.design.x_names),
                "estimate": est,
                "se": se,
                "df": df,
                "t": t,
                "pvalue": _inference.t_pvalue(t, df),
                "ci_lower": est - crit * se,
                "ci_upper": est + crit * se,
            }
        )

    @limited_blas
    def anova(self, type: int | str = 3, ddf: DDF | str = "satterthwaite") -> pd.DataFrame:
        """F-tests for each term of the fixed part (``anova()`` of an lmerTest fit).

        Parameters
        ----------
        type : {1, 2, 3}
            Sequential (I), marginal-to-containing (II) or lmerTest's type III hypotheses.
        ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}
            Kenward-Roger gives pbkrtest's scaled F.

        Returns
        -------
        pandas.DataFrame
            Columns term, sum_sq, mean_sq, num_df, den_df, F, pvalue; one row per term
            named by its variables (``diagnosis``, ``age``, ``diagnosis:age``).
        """
        d = DDF.parse(ddf, "ddf")
        kind = {"1": 1, "i": 1, "2": 2, "ii": 2, "3": 3, "iii": 3}.get(str(type).lower())
        if kind is None:
            raise ModelSpecError(f"anova type must be 1, 2 or 3, got {type!r}")
        Ls = {1: _contrasts.type1, 2: _contrasts.type2, 3: _contrasts.type3}[kind](self.design)
        beta = self.state.beta
        V = self._vcov()
        s2 = self.sigma**2
        rows = []
        for label, L in Ls.items():
            if L.shape[0] == 0:
                rows.append(
                    {
                        "term": label,
                        "sum_sq": np.nan,
                        "mean_sq": np.nan,
                        "num_df": np.nan,
                        "den_df": np.nan,
                        "F": np.nan,
                        "pvalue": np.nan,
                    }
                )
                continue
            if d is DDF.SATTERTHWAITE:
                F, q, den = _inference.satterthwaite_ftest(L, beta, V, self._satt())
                Fu = F
            elif d is DDF.KENWARD_ROGER:
                F, Fu, q, den = _inference.kr_ftest(L, beta, V, self._kr())
            else:
                q = int(np.linalg.matrix_rank(L))
                Lb = L @ beta
                Fu = F = float(Lb @ np.linalg.pinv(L @ V @ L.T) @ Lb) / q
                den = float(self.nobs - self.design.X.shape[1]) if d is DDF.RESIDUAL else np.inf
            ms = Fu * s2
            p = special.fdtrc(q, den, F) if np.isfinite(den) else special.chdtrc(q, F * q)
            rows.append(
                {
                    "term": label,
                    "sum_sq": ms * q,
                    "mean_sq": ms,
                    "num_df": q,
                    "den_df": den,
                    "F": F,
                    "pvalue": p,
                }
            )
        return pd.DataFrame(
            rows, columns=["term", "sum_sq", "mean_sq", "num_df", "den_df", "F", "pvalue"]
        )

    @limited_blas
    def emmeans(
        self, spec: str, ddf: DDF | str = "kenward-roger", level: float = 0.95
    ) -> pd.DataFrame:
        """Estimated marginal means of a factor (``emmeans::emmeans``).

        The reference grid weights the levels of the other factors equally and holds
        covariates at their means. ``ddf`` defaults to Kenward-Roger, as emmeans.

        Returns
        -------
        pandas.DataFrame
            Columns level, emmean, se, df, ci_lower, ci_upper.
        """
        d = DDF.parse(ddf, "ddf")
        levels, L = _emmeans.reference_rows(self.design, spec)
        est, se, df = self._contrast_table(L, d)
        est = est + _emmeans.reference_offset(self.design)
        crit = _inference.t_quantile(level, df)
        return pd.DataFrame(
            {
                "level": levels,
                "emmean": est,
                "se": se,
                "df": df,
                "ci_lower": est - crit * se,
                "ci_upper": est + crit * se,
            }
        )

    @limited_blas
    def pairwise(
        self, spec: str, adjust: Adjust | str = "tukey", ddf: DDF | str = "kenward-roger"
    ) -> pd.DataFrame:
        """All pairwise differences of marginal means (``pairs(emmeans(...))``).

        Contrasts are named ``"A - B"`` in emmeans' order. ``adjust`` is one of none,
        holm, bonferroni, tukey (studentized range, emmeans' default) and fdr
        (Benjamini-Hochberg).

        Returns
        -------
        pandas.DataFrame
            Columns contrast, estimate, se, df, t, pvalue.
        """
        d = DDF.parse(ddf, "ddf")
        a = Adjust.parse(adjust, "adjust")
        levels, L = _emmeans.reference_rows(self.design, spec)
        names, C = _emmeans.pairwise_rows(levels, L)
        est, se, df = self._contrast_table(C, d)
        t = est / se
        p = _inference.t_pvalue(t, df)
        p = _emmeans.adjust_pvalues(p, a.value, t=t, df=df, n_means=len(levels))
        return pd.DataFrame(
            {"contrast": names, "estimate": est, "se": se, "df": df, "t": t, "pvalue": p}
        )

    # -- random effects, prediction ----------------------------------------------------------
    def ranef(self) -> pd.DataFrame:
        """Conditional modes of the random effects and their conditional SDs
        (``ranef(condVar = TRUE)``).

        Returns
        -------
        pandas.DataFrame
            Columns group, level, name, estimate, se.
        """
        b = self.state.b
        var = self._cond_var()
        rows = []
        offset = 0
        for t in self.design.random:
            size = t.n_levels * t.k
            block = b[offset : offset + size].reshape(t.n_levels, t.k)
            vblock = var[offset : offset + size].reshape(t.n_levels, t.k)
            for j, e in enumerate(t.effects):
                rows.append(
                    pd.DataFrame(
                        {
                            "group": t.group,
                            "level": list(t.levels),
                            "name": _effect_label(e),
                            "estimate": block[:, j],
                            "se": np.sqrt(vblock[:, j]),
                        }
                    )
                )
            offset += size
        return pd.concat(rows, ignore_index=True)

    def _cond_var(self) -> np.ndarray:
        # Var(b | y) = sigma^2 Lambda (Lambda'Z'Z Lambda + I)^{-1} Lambda' (diagonal), as lme4.
        s2 = self.sigma**2
        if isinstance(self.model, ScalarTermModel):
            tau = float(self.theta[0]) ** 2
            return s2 * tau / (1.0 + tau * self.model.zz)
        return s2 * self.model.conditional_variances(self.theta)

    def predict(
        self, newdata: pd.DataFrame | None = None, include_random: bool = True
    ) -> np.ndarray:
        """Predicted outcome (``predict.merMod``); levels unseen in the fit get no random
        effect (as ``allow.new.levels = TRUE``)."""
        beta = self.state.beta
        design = self.design
        if newdata is None:
            self._needs_rows("fitted values")
            fitted = design.X @ beta
            frame = design.frame
            if design.offset is not None:
                fitted = fitted + design.offset
        else:
            Xv, frame = new_model_matrix(design, newdata)
            fitted = Xv @ beta
            if design.offsets:
                fitted = fitted + offset_values(design.offsets, frame)
        if not include_random:
            return np.asarray(fitted)
        out = np.array(fitted, dtype=float)
        b = self.state.b
        offset = 0
        for t in self.design.random:
            block = b[offset : offset + t.n_levels * t.k].reshape(t.n_levels, t.k)
            offset += t.n_levels * t.k
            if newdata is None:
                codes = t.codes
                vals = t.values
            else:
                missing_g = [g for g in t.group.split(":") if g not in frame.columns]
                if missing_g:
                    raise ModelSpecError(f"newdata lacks the grouping column(s) {missing_g}")
                lookup = {lv: i for i, lv in enumerate(t.levels)}
                lab = frame[t.group.split(":")[0]].astype(str)
                for g in t.group.split(":")[1:]:
                    lab = lab + ":" + frame[g].astype(str)
                codes = np.array([lookup.get(x, -1) for x in lab])
                vals = t.columns_for(frame)
            known = codes >= 0
            contrib = np.zeros(len(out))
            contrib[known] = np.einsum("ij,ij->i", vals[known], block[codes[known]])
            out += contrib
        return out

    def _needs_rows(self, what: str) -> None:
        if self.design.pooled is not None:
            raise ModelSpecError(
                f"this model was fitted from per-study summaries, which hold no patient rows, "
                f"so {what} cannot be computed here; predict(newdata) works, and each site "
                "can compute its own from its rows"
            )

    def fitted(self) -> np.ndarray:
        """Fitted values including the random effects, one per row used in the fit
        (``fitted.merMod``)."""
        return self.predict()

    def residuals(self) -> np.ndarray:
        """Response residuals, observed minus fitted (``residuals.merMod``, type
        ``"response"``)."""
        self._needs_rows("residuals")
        return np.asarray(self.design.y, dtype=float) - self.fitted()

    # -- confidence intervals, bootstrap -----------------------------------------------------
    def _param_names(self) -> list[str]:
        names: list[str] = []
        for t in self.design.random:
            eff = [_effect_label(e) for e in t.effects]
            for j in range(t.k):
                names.append(f"sd_{eff[j]}|{t.group}")
                for i in range(j + 1, t.k):
                    names.append(f"cor_{eff[i]}.{eff[j]}|{t.group}")
        return [*names, "sigma"]

    @limited_blas
    def confint(
        self,
        method: ConfintMethod | str = "profile",
        level: float = 0.95,
        n: int = 500,
        seed: int | None = None,
    ) -> pd.DataFrame:
        """Confidence intervals for the random-effect SDs, sigma and fixed effects
        (``confint.merMod``).

        Rows are named as lme4's ``oldNames = FALSE``: ``sd_Intercept|g``,
        ``cor_x.Intercept|g``, ``sigma``, then the fixed effects. ``wald`` gives NaN for the
        variance rows, as lme4. ``bootstrap`` uses ``n`` parametric replicates (percentile).

        Returns
        -------
        pandas.DataFrame
            Columns term, estimate, ci_lower, ci_upper.
        """
        m = ConfintMethod.parse(method, "confint method")
        from ipdmeta.mixed import _confint

        if m is ConfintMethod.WALD:
            return _confint.wald(self, level)
        if m is ConfintMethod.BOOTSTRAP:
            return _confint.bootstrap(self, level, n, seed)
        return _confint.profile(self, level)

    def sd_parameters(self) -> np.ndarray:
        """lme4's .sig parameters: per term, SDs and correlations in lme4's order."""
        out: list[float] = []
        for cov in self._term_covariances():
            k = cov.shape[0]
            sd = np.sqrt(np.diag(cov))
            for j in range(k):
                out.append(float(sd[j]))
                for i in range(j + 1, k):
                    den = sd[i] * sd[j]
                    out.append(float(cov[i, j] / den) if den > 0 else float("nan"))
        return np.array(out)

    @limited_blas
    def bootstrap(self, n: int = 1000, seed: int | None = None) -> Any:
        """Parametric bootstrap (``bootMer``): simulate from the fit, refit, collect.

        Returns
        -------
        BootstrapResult
            ``replicates`` holds one row per refit: the fixed effects, the random-effect
            SDs (and correlations) and sigma, named as :meth:`confint` rows.
        """
        from ipdmeta.mixed._bootstrap import parametric_bootstrap

        self._needs_rows("a parametric bootstrap (it simulates every patient's outcome)")
        return parametric_bootstrap(self, n, seed)

    # -- refitting ------------------------------------------------------------------------
    def refit(self, reml: bool) -> LmmResult:
        """The same model fitted by REML (True) or ML (False)."""
        if reml == self.reml:
            return self
        theta = self.model.optimise(reml)
        return LmmResult(
            self.formula, reml, self.design, self.model, theta, self.model.solve(theta), self.data
        )

    # -- display ---------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The fixed-effects table with Satterthwaite df."""
        return self.fixed_effects()

    def summary(self, ddf: DDF | str = "satterthwaite") -> SummaryText:
        """Text like ``summary()`` of an lmerTest fit."""
        from ipdmeta.mixed._summary import summary_text

        return SummaryText(summary_text(self, DDF.parse(ddf, "ddf")))

    def __str__(self) -> str:
        return str.__str__(self.summary())

    def _repr_html_(self) -> str:
        from ipdmeta.mixed._summary import summary_html

        return summary_html(self)


def lmm(
    formula: str,
    data: pd.DataFrame | Any,
    reml: bool = True,
    weights: Any = None,
    *,
    scheduler: str | None = None,
    progress: bool | Any = False,
) -> LmmResult:
    """Fit a linear mixed model, as ``lme4::lmer``.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (1 | g)"``. Random terms: ``(1 | g)``, ``(1 | g1) + (1 | g2)``
        (crossed), ``(1 | g1/g2)`` (nested), ``(1 + x | g)`` (correlated),
        ``(1 + x || g)`` (uncorrelated). Fixed part: formulaic syntax, treatment coding
        with the first sorted level as reference, or ``C(x, Treatment("level"))``.
    data : pandas.DataFrame, dask DataFrame, or path or glob of Parquet files
        One row per observation. Rows missing any model variable are dropped and counted
        (``n_dropped``); aliased fixed-effect columns are dropped and named (``aliased``).
        Data larger than memory (Parquet or Dask) are summarised study by study on a Dask
        cluster and fitted from those blocks, the same fit as on the rows: every random
        term must then be grouped by the study (see :func:`lmm_from_blocks`).
    reml : bool
        REML (default, as lmer) or maximum likelihood.
    weights : str or array-like, optional
        Prior weights, as lmer's ``weights``: a column of ``data`` or one number per row,
        each above 0; row i's residual variance is sigma^2 / w_i. A row without a weight
        is dropped and counted.
    scheduler : str, optional
        For Parquet or Dask data: None starts a LocalCluster on this machine for the fit;
        ``"tcp://host:8786"`` uses a running cluster; ``"synchronous"`` runs here.
    progress : bool or callable
        For Parquet or Dask data: show each pass (True), or call this with its name.

    Returns
    -------
    LmmResult

    Raises
    ------
    ModelSpecError
        Bad grammar, unknown variable, a single group, a constant outcome.
    """
    if isinstance(data, str | Path) or type(data).__module__.split(".")[0] == "dask":
        from ipdmeta.scale.out_of_core import dask_blocks

        blocks = dask_blocks(formula, data, scheduler=scheduler, progress=progress,
                             weights=weights)  # fmt: skip
        return lmm_from_blocks(blocks, reml=reml)
    parsed = parse_formula(formula)
    w = None if weights is None else prior_weights(weights, data)
    design = build_design(parsed, data, weights=w)
    with threads_for(len(design.y)):
        model = model_for(design)
        theta = model.optimise(bool(reml))
        state = model.solve(theta)
    return LmmResult(formula, bool(reml), design, model, theta, state, data)


def lmm_from_blocks(blocks: StudyBlocks, reml: bool = True) -> LmmResult:
    """Fit a linear mixed model from per-study summaries (:func:`study_blocks`), exactly
    as :func:`lmm` fits the pooled rows.

    Every random term must be grouped by the study; offsets and prior weights (given to
    :func:`study_blocks`) are those of the pooled rows. The result is the pooled fit's:
    estimates, Satterthwaite and Kenward-Roger inference, F-tests, marginal means,
    profile intervals, ``predict(newdata)``; fitted values, residuals and the parametric
    bootstrap need the patients' rows and are refused.
    """
    if not isinstance(blocks, StudyBlocks):
        raise ModelSpecError(
            f"lmm_from_blocks takes the StudyBlocks of mixed.study_blocks(), got "
            f"{type(blocks).__name__}"
        )
    design = blocks_design(blocks)
    with threads_for(design.y.size):
        model = model_for(design)
        theta = model.optimise(bool(reml))
        state = model.solve(theta)
    return LmmResult(blocks.formula, bool(reml), design, model, theta, state, pd.DataFrame())


def lrt(m0: LmmResult | GlmmResult, m1: LmmResult | GlmmResult) -> pd.DataFrame:
    """Likelihood-ratio test of nested models, as ``anova.merMod``: linear mixed models are
    refitted with ML first; generalized ones are ML fits already.

    Returns
    -------
    pandas.DataFrame
        One row per model (fewer parameters first): model, npar, aic, bic, loglik,
        deviance, chisq, df, pvalue.
    """
    kinds = {type(m0), type(m1)}
    if not (kinds <= {LmmResult} or kinds <= {GlmmResult}):
        raise ModelSpecError("lrt() compares two results of mixed.lmm() or two of mixed.glmm()")
    if m0.nobs != m1.nobs:
        raise ModelSpecError(
            f"the models were fitted to different rows ({m0.nobs} and {m1.nobs}); "
            "drop missing values first so both use the same data"
        )

    def ml(m: LmmResult | GlmmResult) -> LmmResult | GlmmResult:
        return m.refit(False) if isinstance(m, LmmResult) else m

    fits = sorted([("m0", ml(m0)), ("m1", ml(m1))], key=lambda x: x[1].npar)
    rows = []
    prev = None
    for name, f in fits:
        row: dict[str, object] = {
            "model": name,
            "npar": f.npar,
            "aic": f.aic,
            "bic": f.bic,
            "loglik": f.loglik,
            "deviance": -2.0 * f.loglik,
            "chisq": np.nan,
            "df": np.nan,
            "pvalue": np.nan,
        }
        if prev is not None:
            chisq = max(0.0, 2.0 * (f.loglik - prev.loglik))
            ddf = f.npar - prev.npar
            row["chisq"], row["df"] = chisq, ddf
            row["pvalue"] = float(special.chdtrc(ddf, chisq)) if ddf > 0 else np.nan
        rows.append(row)
        prev = f
    return pd.DataFrame(rows)
