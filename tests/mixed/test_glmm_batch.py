"""The parametric bootstrap of a GLMM refits every simulated response at once
(mixed/_glmm_batch.py). Each batched refit must be the fit ``mixed.glmm`` makes of that
response alone, whatever the likelihood approximation, family or random term."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import special

from ipdmeta import mixed
from ipdmeta.errors import ConvergenceError
from ipdmeta.mixed._glmm_batch import _SINGULAR_START, refit_batch
from ipdmeta.mixed._glmm_fit import fit_glmm, glmm_hessian

# A batched refit stops when its quasi-Newton step moves no parameter by more than 1e-7
# (relative above 1); a single fit goes on with Newton steps to 1e-10. Near an optimum
# the distance left is about the last step, so 1e-6 is three times the worst gap seen
# on the example's 200 refits (2.4e-7) and far below the 3 digits a percentile shows.
ATOL = 1e-6


def _sites(seed: int, family: str, sites: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(4, 12, sites)
    site = np.repeat([f"s{i:02d}" for i in range(sites)], sizes)
    n = site.size
    x = rng.normal(size=n)
    arm = rng.choice(["a", "b", "c"], n)
    u = rng.normal(0.0, 0.7, sites)[np.unique(site, return_inverse=True)[1]]
    eta = 0.2 + 0.6 * x + np.where(arm == "b", 0.5, 0.0) + u
    if family == "binomial":
        y = rng.binomial(1, special.expit(eta)).astype(float)
    else:
        y = rng.poisson(np.exp(eta + 0.5)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "arm": arm, "site": site, "z": rng.uniform(0.5, 2, n)})


def _one_by_one(fit: mixed.GlmmResult, Y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Each response fitted alone, to convergence (NaN where that fit fails)."""
    rows = []
    for y in Y:
        problem = dataclasses.replace(fit.problem, y=y, _modes={})
        try:
            one = fit_glmm(problem, start=start)
        except ConvergenceError:
            rows.append(np.full(start.size, np.nan))
            continue
        rows.append(np.concatenate([[one.theta], one.beta]))
    return np.array(rows)


def _simulated(fit: mixed.GlmmResult, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    problem = fit.problem
    eta = problem.offset + problem.X @ fit.coef.to_numpy()
    b = rng.normal(0.0, fit.theta, (n, problem.q))
    eta = eta + problem.spread(b)
    if fit.family == "binomial":
        return rng.binomial(problem.trials.astype(np.int64), special.expit(eta)).astype(float)
    return rng.poisson(np.exp(eta)).astype(float)


@pytest.mark.parametrize(
    ("family", "formula", "nagq"),
    [
        ("binomial", "y ~ x + arm + (1 | site)", 1),
        ("binomial", "y ~ x + arm + (1 | site)", 7),
        ("poisson", "y ~ x + arm + (1 | site)", 5),
        ("binomial", "y ~ x + (0 + z | site)", 1),
        ("poisson", "y ~ x + (0 + z | site)", 7),
    ],
)
def test_every_refit_at_once_is_each_fit_alone(family: str, formula: str, nagq: int) -> None:
    data = _sites(3, family)
    fit = mixed.glmm(formula, data, family=family, nagq=nagq)
    Y = _simulated(fit, 30, seed=11)
    start = np.concatenate([[fit.theta], fit.coef.to_numpy()])
    batched = refit_batch(fit.problem, Y, start, fit._fit.hessian)
    alone = _one_by_one(fit, Y, start)
    finite = np.all(np.isfinite(alone), axis=1) & (np.max(np.abs(alone[:, 1:]), axis=1) < 8)
    assert finite.sum() >= 25  # most simulated responses are fitted without separation
    np.testing.assert_allclose(batched[finite], alone[finite], atol=ATOL, rtol=0)


def test_a_refit_whose_estimate_runs_off_keeps_a_large_value() -> None:
    """Separation in a simulated response: every patient of one arm responds. The single
    fit's estimate runs off to infinity; the batched refit stops there too, large and
    finite, rather than as a failed refit (NaN): a percentile interval needs it."""
    data = _sites(4, "binomial")
    fit = mixed.glmm("y ~ arm + (1 | site)", data)
    Y = _simulated(fit, 6, seed=2)
    Y[0, (data["arm"] == "c").to_numpy()] = 1.0
    start = np.concatenate([[fit.theta], fit.coef.to_numpy()])
    batched = refit_batch(fit.problem, Y, start, fit._fit.hessian)
    c = 1 + list(fit.coef.index).index("arm[T.c]")
    assert batched[0, c] > 8.0
    assert np.all(np.isfinite(batched))


def test_refits_of_a_fit_with_its_sd_at_zero_can_leave_zero() -> None:
    """The deviance is even in the SD, so its slope there is 0: refits started at 0 would
    all stay there. Responses simulated with a clear spread between sites must show it."""
    data = _sites(5, "binomial", sites=25)
    flat = data.assign(y=np.random.default_rng(0).binomial(1, 0.5, len(data)).astype(float))
    fit = mixed.glmm("y ~ x + (1 | site)", flat)
    assert fit.theta == 0.0
    problem = fit.problem
    rng = np.random.default_rng(9)
    eta = 1.5 * rng.normal(size=(20, problem.q))[:, problem.groups]
    Y = rng.binomial(1, special.expit(eta)).astype(float)
    start = np.array([_SINGULAR_START, *fit.coef.to_numpy()])
    batched = refit_batch(problem, Y, start, glmm_hessian(problem, start))
    assert np.median(batched[:, 0]) > 0.5
    alone = _one_by_one(fit, Y, start)
    ok = np.all(np.isfinite(alone), axis=1)
    np.testing.assert_allclose(batched[ok], alone[ok], atol=ATOL, rtol=0)


def test_the_bootstrap_of_a_singular_fit_draws_refits_with_a_spread() -> None:
    data = _sites(5, "binomial", sites=25)
    flat = data.assign(y=np.random.default_rng(0).binomial(1, 0.5, len(data)).astype(float))
    fit = mixed.glmm("y ~ x + (1 | site)", flat)
    boot = fit.bootstrap(40, seed=1).replicates
    assert boot.notna().all().all()
    # Simulated with no spread, most refits find none; sampling noise gives some a little.
    sd = boot.iloc[:, 0]
    assert (sd == 0).mean() > 0.3
    assert (sd > 0).any()


def test_refits_are_processed_in_parts_with_the_same_result(monkeypatch) -> None:
    from ipdmeta.mixed import _glmm_batch

    data = _sites(6, "binomial")
    fit = mixed.glmm("y ~ x + arm + (1 | site)", data)
    Y = _simulated(fit, 10, seed=4)
    start = np.concatenate([[fit.theta], fit.coef.to_numpy()])
    whole = refit_batch(fit.problem, Y, start, fit._fit.hessian)
    monkeypatch.setattr(_glmm_batch, "_CELLS_PER_BATCH", 3 * len(data) * fit.nagq)
    parts = refit_batch(fit.problem, Y, start, fit._fit.hessian)
    np.testing.assert_allclose(parts, whole, rtol=1e-12, atol=1e-12)


def test_a_fit_that_reaches_sd_zero_searches_on_where_the_deviance_falls_inside() -> None:
    """At SD 0 the deviance's slope in the SD is 0 whatever its curvature, so L-BFGS-B
    stopped there when started at 0 (the refits of a singular fit) or when its path hit
    the bound, even where the deviance falls as the SD grows. Every fit now reaches the
    optimum a start at SD 1 finds."""
    data = _sites(0, "binomial", sites=12)
    fit = mixed.glmm("y ~ x + arm + (1 | site)", data, nagq=7)
    assert fit.theta == 0.0
    Y = _simulated(fit, 40, seed=0)
    start = np.concatenate([[0.0], fit.coef.to_numpy()])
    for y in Y[[3, 6, 8, 9]]:  # each of these stopped at SD 0 before
        from_zero = fit_glmm(dataclasses.replace(fit.problem, y=y, _modes={}), start=start)
        from_one = mixed.glmm("y ~ x + arm + (1 | site)", data.assign(y=y), nagq=7)
        assert from_one.theta > 0.3
        np.testing.assert_allclose(from_zero.theta, from_one.theta, rtol=1e-6)
        np.testing.assert_allclose(from_zero.deviance, from_one.deviance, rtol=1e-12)


@pytest.mark.parametrize(
    ("family", "formula", "nagq"),
    [
        ("binomial", "y ~ x + arm + (1 | site)", 1),
        ("binomial", "y ~ x + arm + (1 | site)", 7),
        ("poisson", "y ~ x + (0 + z | site)", 5),
    ],
)
def test_gradients_side_by_side_are_the_gradients_one_at_a_time(family, formula, nagq):
    """glmm_hessian takes its central differences from gradients evaluated side by side
    (gradients_at); each is the single evaluation's, at SDs near and below 0 too."""
    from ipdmeta.mixed._glmm_batch import gradients_at

    fit = mixed.glmm(formula, _sites(3, family), family=family, nagq=nagq)
    problem = fit.problem
    best = np.concatenate([[fit.theta], fit.coef.to_numpy()])
    rng = np.random.default_rng(0)
    points = best + rng.normal(0.0, 0.05, (6, best.size))
    points[1, 0], points[2, 0] = -0.3, 1e-6  # the deviance is even in the SD
    together = gradients_at(problem, points)
    assert together is not None
    for point, gradient in zip(points, together, strict=True):
        alone = problem.gradient(float(point[0]), point[1:])
        # Both converge each group's mode to 1e-12: gradients agree to rounding.
        np.testing.assert_allclose(gradient, alone, rtol=1e-8, atol=1e-8)
    hessian = glmm_hessian(problem, best)
    assert np.allclose(hessian, hessian.T) and np.all(np.linalg.eigvalsh(hessian) > 0)


@pytest.mark.parametrize("nagq", [1, 7])
def test_a_refit_from_a_nearby_fit_reaches_the_same_optimum(nagq):
    """glmm(start=fit) on other rows takes quasi-Newton steps from the fit's estimates and
    Hessian instead of L-BFGS-B; the Newton steps after either end at the same optimum."""
    data = _sites(5, "binomial")
    full = mixed.glmm("y ~ x + arm + (1 | site)", data, family="binomial", nagq=nagq)
    for left_out in ("s00", "s07"):
        subset = data[data["site"] != left_out]
        quick = mixed.glmm("y ~ x + arm + (1 | site)", subset, family="binomial", nagq=nagq,
                           start=full)  # fmt: skip
        alone = mixed.glmm("y ~ x + arm + (1 | site)", subset, family="binomial", nagq=nagq)
        # Both end with Newton steps below 1e-10 relative: they agree far past 1e-8.
        np.testing.assert_allclose(quick.coef, alone.coef, rtol=1e-8, atol=1e-10)
        assert quick.theta == pytest.approx(alone.theta, rel=1e-8)
        np.testing.assert_allclose(quick.vcov, alone.vcov, rtol=1e-6)
        assert quick.deviance == pytest.approx(alone.deviance, rel=1e-12)


@pytest.mark.parametrize(
    ("family", "formula", "nagq", "seed"),
    [
        ("binomial", "y ~ x + arm + (1 | site)", 1, 3),
        ("binomial", "y ~ x + arm + (1 | site)", 7, 5),
        ("poisson", "y ~ x + arm + (1 | site)", 5, 3),
        ("binomial", "y ~ x + (0 + z | site)", 1, 6),
        ("binomial", "y ~ x + arm + (1 | site)", 7, 0),  # its SD ends at 0
    ],
)
def test_a_fit_by_quasi_newton_steps_is_the_fit_by_l_bfgs_b(
    family, formula, nagq, seed, monkeypatch
):
    """A fit starts with quasi-Newton steps from the Hessian at its start; where they fail
    it searches by L-BFGS-B as it always did. Newton steps below 1e-10 end both."""
    from ipdmeta.mixed import _glmm_fit

    data = _sites(seed, family)
    quick = mixed.glmm(formula, data, family=family, nagq=nagq)
    monkeypatch.setattr(_glmm_fit, "_quasi_newton", lambda *args: None)
    searched = mixed.glmm(formula, data, family=family, nagq=nagq)
    np.testing.assert_allclose(quick.coef, searched.coef, rtol=1e-8, atol=1e-10)
    assert quick.theta == pytest.approx(searched.theta, rel=1e-8, abs=1e-10)
    assert quick.deviance == pytest.approx(searched.deviance, rel=1e-12)


@pytest.mark.parametrize("nagq", [1, 7])
def test_a_refit_with_one_parameter_held_reaches_the_profiled_minimum(nagq, monkeypatch):
    """A profile's points hold one parameter and minimise the deviance over the others:
    by quasi-Newton steps from the optimum (refit_batch with ``fixed``), or by L-BFGS-B
    where those fail. Both reach the same minimum, for the SD and for a coefficient."""
    from ipdmeta.mixed import _glmm_intervals

    fit = mixed.glmm("y ~ x + arm + (1 | site)", _sites(3, "binomial"), nagq=nagq)
    optimum = np.concatenate([[fit.theta], fit.coef.to_numpy()])
    points = [(0, 0.0), (0, 2.0 * fit.theta), (2, optimum[2] - 1.0), (1, optimum[1] + 0.4)]
    quick = [
        _glmm_intervals._profiled_deviance(fit.problem, optimum, fit._fit.hessian, i, v)
        for i, v in points
    ]
    monkeypatch.setattr(
        _glmm_intervals, "refit_batch", lambda *args, **kwargs: np.full((1, optimum.size), np.nan)
    )
    searched = [
        _glmm_intervals._profiled_deviance(fit.problem, optimum, fit._fit.hessian, i, v)
        for i, v in points
    ]
    assert all(d > fit.deviance for d in quick)
    # Quasi-Newton stops once a step moves no parameter by 1e-7 (relative): the deviance
    # is then within about 1e-12 of its minimum, which L-BFGS-B reaches with ftol 1e-15.
    np.testing.assert_allclose(quick, searched, rtol=1e-10)


def test_a_fit_and_its_profile_under_separation_search_by_l_bfgs_b(monkeypatch):
    """Under separation the deviance only approaches its infimum, and where the search
    stops decides the likelihood-ratio tests: those fits keep L-BFGS-B. Tried as a new user
    would (a small review where no patient of one diagnosis responded), the batched steps'
    modes failed slowly at the huge estimates of a profile: 97 s for one panel."""
    from ipdmeta.mixed import _glmm_fit, _glmm_intervals

    data = _sites(4, "binomial")
    data.loc[data["arm"] == "c", "y"] = 1.0  # every patient of arm c responds
    monkeypatch.setattr(_glmm_fit, "_quasi_newton", _refused)
    monkeypatch.setattr(_glmm_intervals, "refit_batch", _refused)
    fit = mixed.glmm("y ~ arm + (1 | site)", data)
    assert fit.notes and fit.coef["arm[T.c]"] > 8.0
    assert 0.0 <= fit.profile_pvalue("arm[T.c]") < 0.05


def _refused(*args, **kwargs):
    raise AssertionError("batched quasi-Newton steps used under separation")
