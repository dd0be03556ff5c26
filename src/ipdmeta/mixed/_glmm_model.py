"""``mixed.glmm``: logistic and Poisson mixed models with a random intercept per group,
agreeing with lme4's ``glmer`` (Laplace or adaptive Gauss-Hermite quadrature) and with
emmeans on the response scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta._threads import threads_for
from ipdmeta.errors import ModelSpecError
from ipdmeta.mixed import _emmeans, _glmm_intervals
from ipdmeta.mixed._bootstrap import BootstrapResult
from ipdmeta.mixed._design import Design, build_design, new_model_matrix, offset_values, per_row
from ipdmeta.mixed._formula import parse_formula
from ipdmeta.mixed._glmm_fit import Family, GlmmFit, GlmmProblem, fit_glmm
from ipdmeta.mixed._options import Adjust, ConfintMethod

__all__ = ["GlmmResult", "glmm"]

FAMILIES = ("binomial", "poisson")
MAX_NAGQ = 25  # lme4's limit on quadrature nodes


class GlmmResult(RichDisplay):
    """A fitted generalized linear mixed model (``glmer``). Build with :func:`glmm`."""

    def __init__(
        self,
        formula: str,
        design: Design,
        problem: GlmmProblem,
        fit: GlmmFit,
        notes: tuple[str, ...],
    ) -> None:
        self.formula = formula
        self.design = design
        self.problem = problem
        self._fit = fit
        self.notes = notes

    # -- the fit --------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.problem.family.name

    @property
    def link(self) -> str:
        return self.problem.family.link

    @property
    def nagq(self) -> int:
        return self.problem.nagq

    @property
    def nobs(self) -> int:
        return int(self.problem.y.size)

    @property
    def group(self) -> str:
        return self.design.random[0].group

    @property
    def ngroups(self) -> dict[str, int]:
        return {self.group: self.problem.q}

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self._fit.beta, index=list(self.design.x_names), name="estimate")

    @property
    def theta(self) -> float:
        """The random intercept's standard deviation (lme4's theta for this model)."""
        return self._fit.theta

    def _vcov(self) -> np.ndarray:
        # lme4's vcov (use.hessian = TRUE): the beta block of the inverse of half the
        # Hessian of the deviance in (theta, beta); with theta on its bound, of beta alone.
        H = self._fit.hessian / 2.0
        if self._fit.singular:
            return np.asarray(np.linalg.inv(H[1:, 1:]))
        return np.asarray(np.linalg.inv(H)[1:, 1:])

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.design.x_names)
        return pd.DataFrame(self._vcov(), index=names, columns=names)

    @property
    def npar(self) -> int:
        return len(self.design.x_names) + 1

    @property
    def deviance(self) -> float:
        """-2 log L, normalising constants included (lme4's ``-2 * logLik``)."""
        return self._fit.deviance

    @property
    def loglik(self) -> float:
        return -0.5 * self._fit.deviance

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return self.deviance + np.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @property
    def is_singular(self) -> bool:
        return self._fit.singular

    @property
    def effect(self) -> str:
        """What the random effect multiplies: "(Intercept)", or the slope's column."""
        return self.design.random[0].effects[0]

    @property
    def icc(self) -> float:
        """The between-group share of variance on the latent scale, theta^2 / (theta^2 +
        pi^2 / 3), for a binomial (logit) model; NaN for Poisson, which has no fixed
        latent residual variance."""
        if self.family != "binomial":
            return float("nan")
        return float(self.theta**2 / (self.theta**2 + np.pi**2 / 3.0))

    @property
    def variance_components(self) -> pd.DataFrame:
        """The random intercept's variance and SD (``VarCorr``)."""
        return pd.DataFrame(
            {
                "group": [self.group],
                "name": [self.effect],
                "variance": [self.theta**2],
                "sd": [self.theta],
            }
        )

    # -- fixed effects --------------------------------------------------------------------
    def fixed_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates on the link scale with Wald z-tests and intervals (``summary(m)``,
        ``confint(m, method = "Wald")``).

        Returns
        -------
        pandas.DataFrame
            Columns term, estimate, se, z, pvalue, ci_lower, ci_upper.
        """
        est = self._fit.beta
        se = _sqrt(np.diag(self._vcov()))
        z = est / se
        crit = float(special.ndtri(0.5 + level / 2.0))
        return pd.DataFrame(
            {
                "term": list(self.design.x_names),
                "estimate": est,
                "se": se,
                "z": z,
                "pvalue": 2.0 * special.ndtr(-np.abs(z)),
                "ci_lower": est - crit * se,
                "ci_upper": est + crit * se,
            }
        )

    def anova(self) -> pd.DataFrame:
        """Wald chi-square test of each term of the fixed part (type III: every other term
        in the model, as ``car::Anova(m, type = 3)``).

        Returns
        -------
        pandas.DataFrame
            Columns term, chisq, df, pvalue.
        """
        V = self._vcov()
        beta = self._fit.beta
        rows = []
        for term in self.design.terms:
            cols = list(term.columns)
            if not cols:
                continue
            b = beta[cols]
            chisq = float(b @ np.linalg.solve(V[np.ix_(cols, cols)], b))
            rows.append(
                {
                    "term": term.label,
                    "chisq": chisq,
                    "df": len(cols),
                    "pvalue": float(special.chdtrc(len(cols), chisq)),
                }
            )
        return pd.DataFrame(rows, columns=["term", "chisq", "df", "pvalue"])

    def confint(
        self,
        method: ConfintMethod | str = "profile",
        level: float = 0.95,
        n: int = 1000,
        seed: int | None = None,
        terms: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Confidence intervals of the random intercept's SD and the fixed effects
        (``confint(m, parm, method = ...)``): ``"profile"`` (lme4's default), ``"wald"``
        (fixed effects only) or ``"bootstrap"`` (percentile, ``n`` refits). ``terms``
        names the parameters to give (all by default); profiling only those saves time.

        Returns
        -------
        pandas.DataFrame
            Columns term, estimate, ci_lower, ci_upper.
        """
        m = ConfintMethod.parse(method, "confint method")
        if m is ConfintMethod.PROFILE:
            with threads_for(self.nobs):
                return _glmm_intervals.profile_intervals(self, level, terms)
        table = _glmm_intervals.wald_intervals(self, level)
        if m is ConfintMethod.BOOTSTRAP:
            bounds = self.bootstrap(n, seed).percentile(level).set_index("term")
            table["ci_lower"] = bounds.loc[table["term"], "ci_lower"].to_numpy()
            table["ci_upper"] = bounds.loc[table["term"], "ci_upper"].to_numpy()
        if terms is None:
            return table
        indices = _glmm_intervals.parameter_indices(self, terms)
        return table.iloc[indices].reset_index(drop=True)

    def profile_pvalue(self, term: str) -> float:
        """Likelihood-ratio test that the fixed effect ``term`` is 0, every other parameter
        profiled (``anova(m0, m)`` for that one coefficient): the test the profile
        interval inverts."""
        with threads_for(self.nobs):
            return _glmm_intervals.profile_pvalue(self, term)

    def bootstrap(self, n: int = 1000, seed: int | None = None) -> BootstrapResult:
        """Parametric bootstrap (``bootMer``): simulate from the fit, refit, collect the SD
        and fixed effects (a refit that does not converge is a row of NaN)."""
        with threads_for(self.nobs):
            replicates = _glmm_intervals.bootstrap_replicates(self, n, seed)
        return BootstrapResult(parent=self, replicates=replicates, seed=seed, n=n)

    # -- marginal means -------------------------------------------------------------------
    def emmeans(self, spec: str, level: float = 0.95) -> pd.DataFrame:
        """Estimated marginal means of a factor on the response scale (``emmeans(m, spec,
        type = "response")``): probabilities for a binomial model, rates for Poisson.

        The SE is the delta method's; the interval is the link-scale interval transformed.

        Returns
        -------
        pandas.DataFrame
            Columns level, estimate (probability or rate), se, ci_lower, ci_upper,
            emmean_link, se_link.
        """
        levels, L = _emmeans.reference_rows(self.design, spec)
        est, se = self._link_table(L)
        est = est + _emmeans.reference_offset(self.design)
        crit = float(special.ndtri(0.5 + level / 2.0))
        family = self.problem.family
        return pd.DataFrame(
            {
                "level": levels,
                "estimate": family.inverse_link(est),
                "se": se * family.inverse_link_derivative(est),
                "ci_lower": family.inverse_link(est - crit * se),
                "ci_upper": family.inverse_link(est + crit * se),
                "emmean_link": est,
                "se_link": se,
            }
        )

    def pairwise(self, spec: str, adjust: Adjust | str = "tukey") -> pd.DataFrame:
        """All pairwise ratios of marginal means on the response scale: odds ratios for a
        binomial model, rate ratios for Poisson (``pairs(emmeans(m, spec, type =
        "response"), adjust = ...)``). Named ``"A / B"``; z-tests on the link scale.

        Returns
        -------
        pandas.DataFrame
            Columns contrast, ratio, se, z, pvalue, estimate_link, se_link.
        """
        a = Adjust.parse(adjust, "adjust")
        levels, L = _emmeans.reference_rows(self.design, spec)
        names, C = _emmeans.pairwise_rows(levels, L)
        est, se = self._link_table(C)
        z = est / se
        p = 2.0 * special.ndtr(-np.abs(z))
        p = _emmeans.adjust_pvalues(
            p, a.value, t=z, df=np.full(z.size, np.inf), n_means=len(levels)
        )
        with np.errstate(over="ignore"):  # a separated level's ratio is infinite
            ratio = np.exp(est)
        return pd.DataFrame(
            {
                "contrast": [n.replace(" - ", " / ") for n in names],
                "ratio": ratio,
                "se": ratio * se,
                "z": z,
                "pvalue": p,
                "estimate_link": est,
                "se_link": se,
            }
        )

    def _link_table(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est = L @ self._fit.beta
        return est, _sqrt(np.einsum("ij,jk,ik->i", L, self._vcov(), L))

    # -- random effects, prediction -------------------------------------------------------
    def ranef(self) -> pd.DataFrame:
        """Conditional modes of the random intercepts and their conditional SDs
        (``ranef(m, condVar = TRUE)``).

        Returns
        -------
        pandas.DataFrame
            Columns group, level, name, estimate, se.
        """
        theta = self.theta
        return pd.DataFrame(
            {
                "group": self.group,
                "level": list(self.design.random[0].levels),
                "name": self.effect,
                "estimate": theta * self._fit.modes,
                "se": theta / np.sqrt(self._fit.curvature),
            }
        )

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        type: str = "response",
        include_random: bool = True,
        offset: Any = None,
    ) -> np.ndarray:
        """Predictions on the ``"link"`` or ``"response"`` scale (``predict.merMod``);
        groups unseen in the fit get no random effect. ``offset`` (a column name or
        values) is added for ``newdata``; the fit's offset is used without it.
        """
        if type not in ("link", "response"):
            raise ModelSpecError(f"type must be 'link' or 'response', got {type!r}")
        beta = self._fit.beta
        b = self.theta * self._fit.modes
        if newdata is None:
            eta = self.problem.offset + self.design.X @ beta
            if include_random:
                eta = eta + self.problem.spread(b)
        else:
            X, frame = new_model_matrix(self.design, newdata)
            eta = X @ beta
            if offset is not None:
                eta = eta + per_row(offset, frame, "offset", "newdata")
            if self.design.offsets:
                eta = eta + offset_values(self.design.offsets, frame)
            if include_random:
                if self.group not in frame.columns:
                    raise ModelSpecError(f"newdata lacks the grouping column {self.group!r}")
                lookup = {lv: i for i, lv in enumerate(self.design.random[0].levels)}
                codes = np.array([lookup.get(str(v), -1) for v in frame[self.group]])
                effect = np.where(codes >= 0, b[np.maximum(codes, 0)], 0.0)
                if self.effect != "(Intercept)":
                    effect = effect * frame[self.effect].to_numpy(dtype=float)
                eta = eta + effect
        if type == "link":
            return np.asarray(eta)
        return self.problem.family.inverse_link(eta)

    def fitted(self) -> np.ndarray:
        """Fitted probabilities or rates, random effects included (``fitted(m)``)."""
        return self.predict()

    def residuals(self, type: str = "deviance") -> np.ndarray:
        """Residuals as ``residuals(m, type)``: ``"deviance"`` (lme4's default),
        ``"pearson"`` or ``"response"`` (observed minus fitted proportion or count)."""
        if type not in ("deviance", "pearson", "response"):
            raise ModelSpecError(f"type must be 'deviance', 'pearson' or 'response', got {type!r}")
        problem = self.problem
        n = problem.trials if self.family == "binomial" else np.ones(self.nobs)
        mean = self.fitted() * n  # expected successes or counts
        y = problem.y
        if type == "response":
            return (y - mean) / n
        if type == "pearson":
            variance = mean * (1.0 - mean / n) if self.family == "binomial" else mean
            return (y - mean) / np.sqrt(variance)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = 2.0 * special.xlogy(y, y / mean)
            if self.family == "binomial":
                unit += 2.0 * special.xlogy(n - y, (n - y) / (n - mean))
            else:
                unit -= 2.0 * (y - mean)
        return np.sign(y - mean) * np.sqrt(np.maximum(unit, 0.0))

    # -- display --------------------------------------------------------------------------
    def _method(self) -> str:
        if self.nagq == 1:
            return "Laplace approximation"
        return f"adaptive Gauss-Hermite quadrature, nAGQ = {self.nagq}"

    def summary(self, level: float = 0.95) -> SummaryText:
        lines = [
            f"Generalized linear mixed model fit by maximum likelihood ({self._method()})",
            f" Family: {self.family} ({self.link})",
            f"Formula: {self.formula}",
            f"     AIC {self.aic:.4f}   BIC {self.bic:.4f}   logLik {self.loglik:.4f}   "
            f"deviance {self.deviance:.4f}   df.resid {self.df_resid}",
            f"Random effects: {self.group} {self.effect} variance {self.theta**2:.4g}, "
            f"SD {self.theta:.4g}",
            f"Number of obs: {self.nobs}, groups: {self.group}, {self.problem.q}",
            "",
            "Fixed effects:",
            self.fixed_effects(level).to_string(index=False, float_format=lambda x: f"{x:.4g}"),
        ]
        if self.is_singular:
            lines.append("boundary (singular) fit: the random-intercept variance is 0")
        lines += [f"Note: {note}" for note in self.notes]
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        return f"Generalized linear mixed model ({self.family}, {self._method()}): {self.formula}"

    def _display_notes(self) -> list[str]:
        return [
            f"logLik {self.loglik:.4f}, AIC {self.aic:.4f}, {self.nobs} observations in "
            f"{self.problem.q} groups",
            *self.notes,
        ]

    def _display_tables(self) -> list[tuple[str | None, pd.DataFrame]]:
        return [
            ("Fixed effects (link scale, Wald z)", self.fixed_effects()),
            ("Random effects", self.variance_components),
        ]

    def to_frame(self) -> pd.DataFrame:
        return self.fixed_effects()

    def __str__(self) -> str:
        return str(self.summary())


def _sqrt(variances: np.ndarray) -> np.ndarray:
    """Standard errors; NaN where a diverged fit (separation) left no positive variance."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(variances)


def _response(design: Design, family: str, trials: np.ndarray) -> np.ndarray:
    y = np.asarray(design.y, dtype=float)
    name = design.response
    if np.any(y < 0) or np.any(y != np.round(y)):
        raise ModelSpecError(f"the outcome {name!r} must be whole numbers 0 or more for {family}")
    if family == "binomial" and np.any(y > trials):
        row = int(np.argmax(y > trials))
        raise ModelSpecError(
            f"the outcome {name!r} is {y[row]:g} in a row with {trials[row]:g} trials; "
            "successes cannot exceed trials (0/1 outcomes need no trials)"
        )
    return y


def _separation_notes(design: Design, y: np.ndarray, trials: np.ndarray) -> list[str]:
    """Factor levels whose every observation responded, or none did: their log odds have
    no finite estimate (separation), so the fit stops where the optimiser does."""
    notes = []
    frame = design.frame
    for variable, kind in design.kinds.items():
        if kind != "factor":
            continue
        # Codes once per factor: comparing the column with each level took longer.
        codes, found = pd.factorize(frame[variable])
        position = {value: i for i, value in enumerate(found)}
        for level in design.levels.get(variable, ()):
            rows = codes == position.get(level, -2)
            if not rows.any():
                continue
            if np.all(y[rows] == 0) or np.all(y[rows] == trials[rows]):
                what = "none" if np.all(y[rows] == 0) else "all"
                notes.append(
                    f"separation: {what} of the {int(rows.sum())} observations with "
                    f"{variable} = {level} responded, so its odds ratio has no finite "
                    "estimate; the reported value and SE are where the fit stopped"
                )
    return notes


def glmm(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    nagq: int = 1,
    trials: Any = None,
    offset: Any = None,
    start: GlmmResult | None = None,
) -> GlmmResult:
    """Fit a generalized linear mixed model with a random intercept per group, as
    ``lme4::glmer``.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (1 | g)"``: the fixed part as in :func:`lmm`, one random intercept.
    data : pandas.DataFrame
        One row per observation; rows missing a model variable are dropped.
    family : {"binomial", "poisson"}
        Logit or log link. A binomial outcome is 0/1 (True/False), or a count of
        successes with ``trials`` (glmer's ``cbind(successes, failures)``).
    nagq : int
        1 for the Laplace approximation (glmer's default), more for adaptive
        Gauss-Hermite quadrature with that many nodes (at most 25).
    trials : str or array, optional
        Binomial trials per row: a column name or values.
    offset : str or array, optional
        Added to the linear predictor, e.g. the log of each row's exposure time.
    start : GlmmResult, optional
        A fit of the same formula (to other rows: a leave-one-out or bootstrap refit)
        whose estimates to start from, as glmer's ``start``; ignored when its fixed
        effects are not the same columns. Only the speed changes, not the optimum.

    Returns
    -------
    GlmmResult
    """
    if family not in FAMILIES:
        raise ModelSpecError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if not isinstance(nagq, int) or isinstance(nagq, bool) or not 1 <= nagq <= MAX_NAGQ:
        raise ModelSpecError(f"nagq must be a whole number from 1 to {MAX_NAGQ}, got {nagq!r}")
    if trials is not None and family != "binomial":
        raise ModelSpecError("trials are for a binomial outcome")
    parsed = parse_formula(formula)
    if (
        len(parsed.random) != 1
        or len(parsed.random[0].effects) != 1
        or len(parsed.random[0].group) != 1
    ):
        raise ModelSpecError(
            "glmm fits one scalar random effect: a random intercept, (1 | group), or a "
            "random slope of a numeric column without intercept, (0 + x | group); "
            "correlated slopes, crossed and nested terms are not supported yet"
        )
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecError("data must be a pandas DataFrame")
    extra = {
        name: per_row(values, data, name, "data")
        for name, values in (("trials", trials), ("offset", offset))
        if values is not None
    }
    complete = np.ones(len(data), dtype=bool)
    for values in extra.values():
        complete &= ~np.isnan(values)
    frame = data[complete].reset_index(drop=True)
    response = parsed.response
    if response in frame.columns and pd.api.types.is_bool_dtype(frame[response]):
        frame[response] = frame[response].astype(float)
    elif response in frame.columns and not pd.api.types.is_numeric_dtype(frame[response]):
        seen = ", ".join(repr(v) for v in pd.unique(frame[response].dropna())[:4])
        raise ModelSpecError(
            f"the outcome {response!r} holds text ({seen}); a binary outcome is 0/1 or "
            f"True/False. Map it first, e.g. data[{response!r}].map({{'yes': 1, 'no': 0}}), "
            "which leaves any other entry (such as 'NR') missing"
        )
    effect = parsed.random[0].effects[0]
    if effect != "(Intercept)" and not (
        effect in frame.columns
        and pd.api.types.is_numeric_dtype(frame[effect])
        and not pd.api.types.is_bool_dtype(frame[effect])
    ):
        raise ModelSpecError(
            f"the random slope ({effect} | {parsed.random[0].group_name}) needs a numeric "
            f"column; {effect} is a factor (lmm fits factor random slopes; glmm does not yet)"
        )
    design = build_design(parsed, frame, residual_variance=False)
    kept = {name: values[complete][design.keep] for name, values in extra.items()}
    n_trials = kept.get("trials", np.ones(design.keep.size))
    if np.any(n_trials < 1) or np.any(n_trials != np.round(n_trials)):
        raise ModelSpecError("trials must be whole numbers of 1 or more")
    y = _response(design, family, n_trials)
    offsets = kept.get("offset", np.zeros(design.keep.size))
    if design.offset is not None:  # offset(...) in the formula adds to the argument's
        offsets = offsets + design.offset
    term = design.random[0]
    problem = GlmmProblem(
        family=Family(family),
        y=y,
        trials=n_trials,
        offset=offsets,
        X=design.X,
        groups=np.asarray(term.codes, dtype=np.intp),
        q=term.n_levels,
        nagq=nagq,
        slope=None if effect == "(Intercept)" else np.asarray(term.values[:, 0], dtype=float),
    )
    notes = _separation_notes(design, y, n_trials) if family == "binomial" else []
    initial = curvature = None
    if start is not None and tuple(start.design.x_names) == tuple(design.x_names):
        initial = np.concatenate([[max(start.theta, 0.1)], start.coef.to_numpy()])
        if start.theta >= 0.1 and np.all(np.isfinite(start._fit.hessian)):
            curvature = start._fit.hessian
    with threads_for(problem.y.size):
        fitted = fit_glmm(problem, diverging=bool(notes), start=initial, start_hessian=curvature)
    return GlmmResult(formula, design, problem, fitted, tuple(notes))
