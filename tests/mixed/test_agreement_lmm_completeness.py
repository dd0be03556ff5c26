"""The reference grid stays whole: every case, section, ddf, adjustment and statistic the
issue asks for is present in the JSON and becomes a test. Needs no engine."""

from __future__ import annotations

import ipdmeta_mixed_reference as ref
import pytest

# What each case must provide, written down independently of the JSON.
# reml: Kenward-Roger exists only for REML fits; anova: False for intercept-only models;
# emmeans: the factors emmeans is asked about; lrt: an ML pair of nested models; icc: a
# single random intercept.
EXPECTED = {
    "sleepstudy-slopes": dict(reml=True, anova=True, emmeans=(), lrt=True, icc=False),
    "sleepstudy-uncorrelated": dict(reml=True, anova=True, emmeans=(), lrt=True, icc=False),
    "sleepstudy-intercept-ml": dict(reml=False, anova=True, emmeans=(), lrt=False, icc=True),
    "penicillin-crossed": dict(reml=True, anova=False, emmeans=(), lrt=False, icc=False),
    "pastes-nested": dict(reml=True, anova=False, emmeans=(), lrt=True, icc=False),
    "ipd-review": dict(
        reml=True, anova=True, emmeans=("diagnosis", "lesion_location", "sex"), lrt=True, icc=True
    ),
    "ipd-singular": dict(reml=True, anova=True, emmeans=("diagnosis", "sex"), lrt=True, icc=True),
    "ipd-single-patient": dict(
        reml=True, anova=True, emmeans=("diagnosis", "sex"), lrt=False, icc=True
    ),
    "ipd-crossed": dict(reml=True, anova=True, emmeans=("diagnosis",), lrt=True, icc=False),
    "ipd-interaction": dict(
        reml=True, anova=True, emmeans=("diagnosis", "sex"), lrt=True, icc=True
    ),
    "ipd-aliased": dict(reml=True, anova=True, emmeans=("diagnosis",), lrt=False, icc=True),
    "ipd-nested": dict(reml=True, anova=True, emmeans=("diagnosis",), lrt=True, icc=False),
    "ipd-transforms": dict(reml=True, anova=True, emmeans=("diagnosis", "sex"), lrt=True, icc=True),
    "sleepstudy-poly": dict(reml=True, anova=True, emmeans=(), lrt=False, icc=True),
    "ipd-scaled": dict(reml=True, anova=True, emmeans=("diagnosis",), lrt=False, icc=True),
    "machines-factor-slopes": dict(
        reml=True, anova=True, emmeans=("Machine",), lrt=True, icc=False
    ),
    "machines-intercept-slopes": dict(
        reml=True, anova=True, emmeans=("Machine",), lrt=False, icc=False
    ),
    "sleepstudy-random-functions": dict(reml=True, anova=True, emmeans=(), lrt=True, icc=False),
    "ipd-offset": dict(reml=True, anova=True, emmeans=("diagnosis", "sex"), lrt=True, icc=True),
    "sleepstudy-offset-slopes": dict(reml=True, anova=True, emmeans=(), lrt=False, icc=False),
    "ipd-slope-or-intercept": dict(
        reml=True, anova=True, emmeans=("diagnosis",), lrt=False, icc=False
    ),
}
# lme4's profile of these models had not finished after 40 minutes (refits near a correlation
# of 1); ipd-slope-or-intercept is about its optimum (a boundary fit beside a second local
# minimum). The R script records why; their profile intervals have no reference.
# sleepstudy-offset-slopes has sleepstudy-slopes' covariance model, whose profile is a
# reference (and ipd-offset profiles a model with an offset).
NO_PROFILE = {
    "machines-factor-slopes",
    "machines-intercept-slopes",
    "ipd-slope-or-intercept",
    "sleepstudy-offset-slopes",
}
# Cases with one random intercept carry an exact profile (every bound a reference).
PROFILE_EXACT = {
    "sleepstudy-intercept-ml",
    "ipd-review",
    "ipd-singular",
    "ipd-single-patient",
    "ipd-interaction",
    "ipd-aliased",
    "ipd-transforms",
    "sleepstudy-poly",
    "ipd-scaled",
    "ipd-offset",
}
# Elsewhere, lme4's spline-profile bounds it could not pin down (its grid moved them by
# more than PROFILE_STABLE_GRID, or it warned about that parameter's profile) are not
# references.
PROFILE_EXCLUDED = {
    "ipd-crossed": ["sd_(Intercept)|centre"],
    "ipd-nested": ["sd_(Intercept)|surgeon:study_id"],
    "sleepstudy-slopes": ["sd_(Intercept)|Subject"],
    "sleepstudy-random-functions": [
        "sd_(Intercept)|Subject",
        "cor_log(Days + 1).(Intercept)|Subject",
    ],
}
ISSUE_VERSIONS = {"lme4": "1.1.31", "lmerTest": "3.1.3", "emmeans": "1.8.4", "pbkrtest": "0.5.2"}


def _ddfs(spec: dict[str, object], ddfs: tuple[str, ...]) -> list[str]:
    return [d for d in ddfs if spec["reml"] or d != "kenward-roger"]


def test_grid_lists_every_case() -> None:
    assert tuple(EXPECTED) == ref.CASES
    assert set(ref.available_cases()) == set(ref.CASES), "a JSON file is missing or unlisted"


@pytest.mark.parametrize("case", ref.named(ref.CASES, "complete"))
def test_case_is_complete(case: str) -> None:
    spec = EXPECTED[case]
    r = ref.load_case(case)
    assert r["reml"] is spec["reml"]
    assert r["aliased"] == (["age_months"] if case == "ipd-aliased" else [])
    assert sorted(r["fixef"]) == sorted(_ddfs(spec, ref.FIXEF_DDF))
    if spec["anova"]:
        for kind in ref.ANOVA_TYPES:
            assert sorted(r["anova"][str(kind)]) == sorted(_ddfs(spec, ref.ANOVA_DDF))
    else:
        assert r["anova"] is None
    assert tuple(r["emmeans"]) == spec["emmeans"]
    for by_ddf in r["emmeans"].values():
        assert sorted(by_ddf) == sorted(ref.EMMEANS_DDF)
        for block in by_ddf.values():
            assert sorted(block["pairwise"]) == sorted(ref.ADJUST)
    assert (r.get("lrt") is not None) is spec["lrt"]
    assert (r["fit"].get("icc") is not None) is spec["icc"]
    assert r["fit"]["reml_criterion" if spec["reml"] else "deviance"] is not None
    if case in NO_PROFILE:
        assert r["confint"]["profile"] is None
        assert r["confint"]["profile_error"].startswith("not computed")
    else:
        assert r["confint"]["profile"] is not None, r["confint"].get("profile_error")
    assert len(r["predict"]["with_random"]) >= 3
    for name, version in ISSUE_VERSIONS.items():
        assert r["source"][name].startswith(version), (name, r["source"][name])


def _expected_counts() -> dict[str, int]:
    fixef = anova = emm = pw = lrt = icc = stats = 0
    for spec in EXPECTED.values():
        fixef += len(_ddfs(spec, ref.FIXEF_DDF))
        if spec["anova"]:
            anova += len(ref.ANOVA_TYPES) * len(_ddfs(spec, ref.ANOVA_DDF))
        emm += len(spec["emmeans"]) * len(ref.EMMEANS_DDF)
        pw += len(spec["emmeans"]) * len(ref.EMMEANS_DDF) * len(ref.ADJUST)
        lrt += bool(spec["lrt"])
        icc += bool(spec["icc"])
        stats += 4 if spec["reml"] else 3  # loglik, aic, bic; reml_criterion if REML
    n = len(EXPECTED)
    return {
        "fixef": fixef,
        "anova": anova,
        "emmeans": emm,
        "pairwise": pw,
        "lrt": lrt,
        "icc": icc,
        "criterion": stats,
        "confint": 2 * n - len(NO_PROFILE),
        "predict": 2 * n,
    }


def test_parametrized_grid_size() -> None:
    want = _expected_counts()
    got = {
        "fixef": len(ref.fixef_grid()),
        "anova": len(ref.anova_grid()),
        "emmeans": len(ref.emmeans_grid()),
        "pairwise": len(ref.pairwise_grid()),
        "lrt": len(ref.lrt_grid()),
        "icc": len(ref.icc_grid()),
        "criterion": len(ref.criterion_grid()),
        "confint": len(ref.confint_grid()),
        "predict": len(ref.predict_grid()),
    }
    assert got == want


@pytest.mark.parametrize(
    "case", ref.named([c for c in ref.CASES if c not in NO_PROFILE], "profile-rows")
)
def test_profile_exclusions_are_the_known_ones(case: str) -> None:
    kept, excluded, _ = ref.profile_reference(case)
    exact = ref.load_case(case)["confint"].get("profile_exact")
    assert (exact is not None) is (case in PROFILE_EXACT)
    assert excluded == PROFILE_EXCLUDED.get(case, [])
    # every parameter lme4 profiles is there: 1 sd + sigma + fixed effects for the exact
    assert len(kept) + len(excluded) == len(ref.load_case(case)["confint"]["profile"]["term"])
