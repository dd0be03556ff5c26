"""Agreement of ipdmeta.meta with R's metafor, case by case.

Expected values come from ``tests/reference/metafor/*.json``, written by
``Rscript tests/reference/metafor_reference.R`` (metafor 3.8; R is needed only to
regenerate them). Every case id reads ``<data>-<method>-<test>``, e.g. ``bcg-REML-knha``.

The issue pins only ``meta.random_effects`` and its result attributes. The names assumed
for everything else are collected in the block "Assumed names" below, the one place to
align with the engine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipdmeta import meta
from tests.reference_json import decode

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "metafor"

# ----------------------------------------------------------------------------- tolerances
# The agreement target: six significant digits. The reference fits are converged far
# beyond it (Fisher scoring threshold 1e-12, uniroot tol 1e-12 for PM and the Q-profile
# bounds; refitting with threshold 1e-14 moves tau2 and the estimate by at most ~1e-10
# relatively, recorded per case as convergence_reldiff), so a disagreement at 1e-6 is the
# engine's, not convergence noise in R.
RTOL = 1e-6
# Where metafor reports an exact 0 (tau2 truncated at its boundary, I2 = 0, a Q-profile bound
# at 0, s2w = 0 for identical effects) a relative tolerance is meaningless; the engine may
# land a rounding residue away (a sum of squares of differences of equal doubles, a root
# finder stopped at 1e-13). 1e-10 is far below anything a reader would see as non-zero.
ATOL_AT_ZERO = 1e-10
# tau2 estimated at its boundary 0: metafor's Fisher scoring (ML, REML, EB) halves its step
# towards 0 and may stop a hair above it (one reference group has ML tau2 = 3.4e-13 where
# the maximum is at 0); an engine that lands on exactly 0 is right. So tau2 gets this
# absolute slack on top of RTOL; a tau2 of 1e-10 is invisible in any printed result.
ATOL_BOUNDARY = 1e-10
# I2 = 100 tau2 / (vt + tau2) is in percent and divides by the typical sampling variance vt,
# so the same residue is ~3000 times larger there (3.4e-13 -> 1.0e-9 percentage points in
# that group). 1e-6 percentage points is likewise invisible, and only matters for I2 < 1 %.
ATOL_BOUNDARY_I2 = 1e-6
BOUNDARY_ATOL = {"tau2": ATOL_BOUNDARY, "tau2_deleted": ATOL_BOUNDARY, "I2": ATOL_BOUNDARY_I2}

# ----------------------------------------------------------------------------- assumed names
# metafor field (JSON key) -> ipdmeta result attribute of meta.random_effects (pinned).
RE_ATTRS = {
    "estimate": "estimate",
    "se": "se",
    "statistic": "statistic",
    "pvalue": "pvalue",
    "ci_lower": "ci_lower",
    "ci_upper": "ci_upper",
    "pi_lower": "pi_lower",
    "pi_upper": "pi_upper",
    "tau2": "tau2",
    "I2": "I2",
    "H2": "H2",
    "Q": "Q",
    "Q_df": "Q_df",
    "Q_pvalue": "Q_pvalue",
    "k": "k",
}
# res.heterogeneity_ci(level): assumed to give (or .to_frame() to give) a DataFrame indexed
# by these row labels with these columns.
HET_CI_ROWS = {"tau2": "tau2", "tau": "tau", "I2": "I2", "H2": "H2"}
HET_CI_COLS = {"estimate": "estimate", "lower": "ci_lower", "upper": "ci_upper"}
# Coefficient tables (meta_regression(...).to_frame(), group estimates under common tau2):
# rows in R's order (intercept first), these columns.
COEF_COLS = {
    "estimate": "estimate",
    "se": "se",
    "statistic": "statistic",
    "df": "df",
    "pvalue": "pvalue",
    "ci_lower": "ci_lower",
    "ci_upper": "ci_upper",
}
# meta.meta_regression(yi, vi, moderators, method=, test=) attributes. Under knha QM is the F
# statistic on (QM_df, QE_df) degrees of freedom.
MR_ATTRS = {
    "tau2": "tau2",
    "I2": "I2",
    "R2": "R2",
    "QM": "QM",
    "QM_df": "QM_df",
    "QM_pvalue": "QM_pvalue",
    "QE": "QE",
    "QE_df": "QE_df",
    "QE_pvalue": "QE_pvalue",
}
# meta.subgroups(yi, vi, groups, method=, test=, common_tau2=bool): to_frame() has one row
# per group (in sorted group order) with these columns; the test for subgroup differences is
# in these attributes. With common_tau2=True, Q_between is metafor's QM (F under knha) and
# the common tau2 is the attribute tau2.
SG_KEYWORD_COMMON = "common_tau2"
SG_GROUP_COLS = {
    "estimate": "estimate",
    "se": "se",
    "statistic": "statistic",
    "pvalue": "pvalue",
    "ci_lower": "ci_lower",
    "ci_upper": "ci_upper",
    "tau2": "tau2",
    "I2": "I2",
    "Q": "Q",
    "Q_pvalue": "Q_pvalue",
    "k": "k",
}
SG_BETWEEN = {"Q_between": "Q_between", "Q_between_df": "Q_between_df"}
SG_BETWEEN_P = "Q_between_pvalue"
# meta.leave_one_out(res).to_frame(): one row per omitted study, in data order.
L1O_COLS = {
    "estimate": "estimate",
    "se": "se",
    "statistic": "statistic",
    "pvalue": "pvalue",
    "ci_lower": "ci_lower",
    "ci_upper": "ci_upper",
    "Q": "Q",
    "Q_pvalue": "Q_pvalue",
    "tau2": "tau2",
    "I2": "I2",
    "H2": "H2",
}
# meta.influence(res).to_frame(); metafor's weight is in percent, hat a fraction.
INF_COLS = {
    "rstudent": "rstudent",
    "dffits": "dffits",
    "cooks_distance": "cooks_distance",
    "cov_ratio": "cov_ratio",
    "tau2_deleted": "tau2_deleted",
    "QE_deleted": "QE_deleted",
    "hat": "hat",
    "weight": "weight",
}
INF_FLAG_COL = "influential"
# meta.egger_test(res) attributes (regtest with model="rma", predictor="sei").
EGGER_ATTRS = {
    "statistic": "statistic",
    "pvalue": "pvalue",
    "df": "df",
    "limit_estimate": "limit_estimate",
}
# meta.trim_and_fill(res): attributes k0, side, estimate, se; `filled` is the refitted
# random-effects result on the filled data.
TF_ATTRS = {"estimate": "estimate", "se": "se"}
TF_FILLED_ATTR = "filled"
TF_FILLED_ATTRS = {
    "tau2": "tau2",
    "ci_lower": "ci_lower",
    "ci_upper": "ci_upper",
    "pvalue": "pvalue",
    "Q": "Q",
    "k": "k",
}
# meta.permutation_test(res, n, seed): pvalue per coefficient (a float for a model without
# moderators), QM_pvalue, and whether the test was exact.
PERM_PVALUE, PERM_QM_PVALUE, PERM_EXACT = "pvalue", "QM_pvalue", "exact"
# Cases where metafor's Fisher scoring stops at a local maximum of the likelihood (tau2 = 0)
# and ipdmeta finds the global one: checked against metafor started at the global maximum in
# tests/meta/test_edge_cases.py (tests/reference/metafor_edge/ml_global.json).
ML_LOCAL_MAXIMUM = {"li2007-ML-z", "li2007-ML-knha"}
PERM_N = 1000  # metafor's iter: exact whenever 2^k (k! with moderators) <= 1000
PERM_SEED = 20261124


def call_escalc(measure: str, **data: Any) -> tuple[np.ndarray, np.ndarray]:
    """meta.escalc(measure, xi=, ni=) / (measure, mi=, sdi=, ni=) -> (yi, vi)."""
    out = meta.escalc(measure, **data)
    if isinstance(out, pd.DataFrame):
        return out["yi"].to_numpy(float), out["vi"].to_numpy(float)
    return np.asarray(out.yi, float), np.asarray(out.vi, float)


def call_back_transform(measure: str, values: Any, ni: Any) -> np.ndarray:
    """meta.back_transform(measure, values, ni=): PLO inverse logit, PFT inverse
    Freeman-Tukey (Miller 1978) with ni (the harmonic mean of the ni for a pooled value)."""
    return np.asarray(meta.back_transform(measure, values, ni=ni), float)


def moderators_frame(columns: Mapping[str, list[Any]], levels: list[str] | None) -> pd.DataFrame:
    """Moderators as a DataFrame; a categorical one keeps R's level order (first = reference)."""
    frame = pd.DataFrame(dict(columns))
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = pd.Categorical(frame[name], categories=levels)
    return frame


# ----------------------------------------------------------------------------- loading
def _load(name: str) -> dict[str, Any]:
    path = REF_DIR / name
    if not path.exists():
        return {"source": {}, "cases": {}}
    return decode(json.loads(path.read_text(encoding="utf-8")))


REF = {
    name: _load(f"{name}.json")
    for name in (
        "random_effects",
        "meta_regression",
        "subgroups",
        "leave_one_out",
        "influence",
        "regtest",
        "trimfill",
        "permutest",
        "escalc",
    )
}


def _cases(name: str) -> list[Any]:
    return [pytest.param(cid, case, id=cid) for cid, case in REF[name]["cases"].items()]


# ----------------------------------------------------------------------------- comparing
def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(np.isnan(float(x)))
    except (TypeError, ValueError):
        return False


def _mismatch(actual: Any, expected: Any, atol: float = 0.0) -> str | None:
    """None if actual agrees with expected, else a short description."""
    if expected is None:
        return None if _is_missing(actual) else f"got {actual!r}, expected missing (NA in R)"
    if actual is None:
        return f"got None, expected {expected!r}"
    if isinstance(expected, (bool, str)):
        return None if actual == expected else f"got {actual!r}, expected {expected!r}"
    a, e = float(actual), float(expected)
    if math.isnan(e):
        return None if math.isnan(a) else f"got {a!r}, expected NaN"
    if math.isinf(e):
        return None if a == e else f"got {a!r}, expected {e!r}"
    bound = max(ATOL_AT_ZERO, atol) if e == 0.0 else RTOL * abs(e) + atol
    if math.isfinite(a) and abs(a - e) <= bound:
        return None
    rel = abs(a - e) / abs(e) if e != 0 and math.isfinite(a) else math.inf
    return f"got {a!r}, expected {e!r} (rel. diff {rel:.2e})"


class Report:
    """Collects every disagreement of one case so a failure shows all of them at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def scalar(self, name: str, actual: Any, expected: Any) -> None:
        field = name.split("[")[0].split(".")[0]
        atol = BOUNDARY_ATOL.get(field, 0.0)
        msg = _mismatch(actual, expected, atol)
        if msg:
            self.problems.append(f"{name}: {msg}")

    def vector(self, name: str, actual: Any, expected: Iterable[Any]) -> None:
        exp = list(expected)
        act = list(np.asarray(actual).ravel()) if not _is_scalar(actual) else [actual]
        if len(act) != len(exp):
            self.problems.append(f"{name}: got {len(act)} values, expected {len(exp)}")
            return
        for i, (a, e) in enumerate(zip(act, exp, strict=True)):
            self.scalar(f"{name}[{i}]", a, e)

    def attr(self, obj: Any, name: str) -> Any:
        try:
            return getattr(obj, name)
        except AttributeError:
            self.problems.append(f"{type(obj).__name__} has no attribute {name!r}")
            return None

    def column(self, frame: pd.DataFrame, name: str) -> Any:
        if name not in frame.columns:
            self.problems.append(f"to_frame() has no column {name!r} (has {list(frame.columns)})")
            return None
        return frame[name].to_numpy()

    def check(self) -> None:
        if self.problems:
            pytest.fail(
                f"{len(self.problems)} disagreement(s) with metafor:\n  "
                + "\n  ".join(self.problems),
                pytrace=False,
            )


def _is_scalar(x: Any) -> bool:
    return np.ndim(x) == 0


def _compare_attrs(
    rep: Report, obj: Any, case: Mapping[str, Any], names: Mapping[str, str]
) -> None:
    for key, attr in names.items():
        if not hasattr(obj, attr):
            rep.problems.append(f"{type(obj).__name__} has no attribute {attr!r}")
            continue
        rep.scalar(attr, getattr(obj, attr), case[key])


def _compare_columns(
    rep: Report, frame: pd.DataFrame, case: Mapping[str, Any], names: Mapping[str, str]
) -> None:
    for key, col in names.items():
        values = rep.column(frame, col)
        if values is not None and case.get(key) is not None:
            rep.vector(col, values, case[key])


def _frame(obj: Any) -> pd.DataFrame:
    return obj if isinstance(obj, pd.DataFrame) else obj.to_frame()


def _fit(ds: Mapping[str, Any], method: str, test: str, level: float = 0.95) -> Any:
    return meta.random_effects(ds["yi"], ds["vi"], method=method, test=test, level=level)


def _guard(fn: Callable[[], Any], what: str) -> Any:
    # A missing function is the engine not being there yet: fail with one clear line.
    try:
        return fn()
    except AttributeError as exc:
        pytest.fail(f"{what}: {exc}", pytrace=False)


# ----------------------------------------------------------------------------- the grid
METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS = ("z", "knha")
PUBLISHED = ("bcg", "hackshaw", "molloy", "pritz", "normand", "raudenbush", "li2007")
EDGE = ("bcg_k2", "bcg_k3", "tau2zero", "identical", "vi_span")
LEVEL_CASES = tuple(
    f"bcg-{m}-{t}-L{lv}" for lv in (90, 99) for m in ("REML", "DL", "FE") for t in TESTS
)


def _grid(prefixes: Iterable[str], methods: Iterable[str] = METHODS) -> set[str]:
    methods = tuple(methods)
    return {f"{p}-{m}-{t}" for p in prefixes for m in methods for t in TESTS}


EXPECTED_GRID = {
    "random_effects": _grid(PUBLISHED + EDGE) | set(LEVEL_CASES),
    "meta_regression": _grid(("bcg_ablat", "bcg_alloc", "raudenbush_weeks")),
    "subgroups": _grid(("bcg_alloc", "raudenbush_tester")),
    "leave_one_out": _grid(("bcg", "normand")),
    "influence": _grid(("bcg", "normand")),
    "regtest": _grid(("bcg", "hackshaw", "molloy", "li2007")),
    "trimfill": _grid(("bcg", "hackshaw", "molloy", "li2007")),
    "permutest": _grid(("normand", "bcg_k3", "tau2zero"), ("REML", "DL", "FE"))
    | _grid(("bcg_k6_ablat",), ("REML", "DL")),
    "escalc": {f"{m}-{d}" for m in ("PR", "PLO", "PFT") for d in ("no_zero", "with_zero")}
    | {"MN-means"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_GRID))
def test_reference_grid_is_complete(name: str) -> None:
    """Every case of the grid is in the JSON, so the suite cannot shrink quietly."""
    have = set(REF[name]["cases"])
    missing = sorted(EXPECTED_GRID[name] - have)
    assert not missing, f"{name}.json lacks {len(missing)} case(s): {missing[:10]}"
    source = REF[name]["source"]
    assert source["metafor"].startswith("3.8"), source
    assert {"R", "metafor", "date", "rma_control"} <= set(source)


def test_reference_heterogeneity_ci_present_for_every_random_effects_case() -> None:
    cases = REF["random_effects"]["cases"]
    lacking = [
        cid for cid, c in cases.items() if c["method"] != "FE" and c["heterogeneity_ci"] is None
    ]
    assert not lacking, lacking


def test_reference_data_sets_carry_citations() -> None:
    datasets = REF["random_effects"]["datasets"]
    published = [name for name, d in datasets.items() if not d["made_up"]]
    assert len(set(PUBLISHED) & set(published)) >= 6
    for name, d in datasets.items():
        assert d["citation"], name
        assert len(d["yi"]) == len(d["vi"]) >= 2, name
    assert len(datasets["bcg_k2"]["yi"]) == 2
    assert len(datasets["bcg_k3"]["yi"]) == 3
    assert len(set(datasets["identical"]["yi"])) == 1
    vi = datasets["vi_span"]["vi"]
    assert max(vi) / min(vi) >= 1e4


# ----------------------------------------------------------------------------- random effects
@pytest.mark.parametrize(("cid", "case"), _cases("random_effects"))
def test_random_effects(cid: str, case: dict[str, Any]) -> None:
    ds = REF["random_effects"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"], case["level"])
    rep = Report()
    _compare_attrs(rep, res, case, RE_ATTRS)
    rep.check()


@pytest.mark.parametrize(
    ("cid", "case"),
    [p for p in _cases("random_effects") if p.values[1]["heterogeneity_ci"] is not None],
)
def test_heterogeneity_ci(cid: str, case: dict[str, Any]) -> None:
    ds = REF["random_effects"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"], case["level"])
    table = _frame(res.heterogeneity_ci(case["level"]))
    ref = case["heterogeneity_ci"]
    rep = Report()
    for key, row in HET_CI_ROWS.items():
        if row not in table.index:
            rep.problems.append(f"heterogeneity_ci has no row {row!r} (has {list(table.index)})")
            continue
        for part, col in HET_CI_COLS.items():
            if col not in table.columns:
                rep.problems.append(f"heterogeneity_ci has no column {col!r}")
                continue
            rep.scalar(f"{row}.{col}", table.loc[row, col], ref[key][part])
    rep.check()


# ----------------------------------------------------------------------------- meta-regression
@pytest.mark.parametrize(("cid", "case"), _cases("meta_regression"))
def test_meta_regression(cid: str, case: dict[str, Any]) -> None:
    s = REF["meta_regression"]["moderator_sets"][case["moderator_set"]]
    mods = moderators_frame(s["moderators"], s.get("levels"))
    res = _guard(
        lambda: meta.meta_regression(
            s["yi"], s["vi"], mods, method=case["method"], test=case["test"]
        ),
        "meta.meta_regression",
    )
    rep = Report()
    _compare_columns(rep, _frame(res), case["coefficients"], COEF_COLS)
    _compare_attrs(rep, res, case, MR_ATTRS)
    rep.check()


# ----------------------------------------------------------------------------- subgroups
@pytest.mark.parametrize(("cid", "case"), _cases("subgroups"))
def test_subgroups_separate_tau2(cid: str, case: dict[str, Any]) -> None:
    s = REF["subgroups"]["subgroup_sets"][case["subgroup_set"]]
    res = _guard(
        lambda: meta.subgroups(
            s["yi"],
            s["vi"],
            s["groups"],
            method=case["method"],
            test=case["test"],
            **{SG_KEYWORD_COMMON: False},
        ),
        "meta.subgroups",
    )
    sep = case["separate"]
    expected = {key: [sep["groups"][g][key] for g in case["groups_order"]] for key in SG_GROUP_COLS}
    rep = Report()
    _compare_columns(rep, _frame(res), expected, SG_GROUP_COLS)
    _compare_attrs(rep, res, sep, SG_BETWEEN)
    rep.scalar(SG_BETWEEN_P, rep.attr(res, SG_BETWEEN_P), sep["Q_between_pvalue"])
    rep.check()


@pytest.mark.parametrize(("cid", "case"), _cases("subgroups"))
def test_subgroups_common_tau2(cid: str, case: dict[str, Any]) -> None:
    s = REF["subgroups"]["subgroup_sets"][case["subgroup_set"]]
    res = _guard(
        lambda: meta.subgroups(
            s["yi"],
            s["vi"],
            s["groups"],
            method=case["method"],
            test=case["test"],
            **{SG_KEYWORD_COMMON: True},
        ),
        "meta.subgroups",
    )
    com = case["common"]
    rep = Report()
    coef_cols = {k: v for k, v in COEF_COLS.items() if k != "df"}
    _compare_columns(rep, _frame(res), com["group_estimates"], coef_cols)
    rep.scalar("tau2", rep.attr(res, "tau2"), com["tau2"])
    rep.scalar("Q_between", rep.attr(res, "Q_between"), com["QM"])
    rep.scalar("Q_between_df", rep.attr(res, "Q_between_df"), com["QM_df"])
    rep.scalar(SG_BETWEEN_P, rep.attr(res, SG_BETWEEN_P), com["QM_pvalue"])
    rep.check()


# ----------------------------------------------------------------------------- diagnostics
@pytest.mark.parametrize(("cid", "case"), _cases("leave_one_out"))
def test_leave_one_out(cid: str, case: dict[str, Any]) -> None:
    ds = REF["leave_one_out"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"])
    l1o = _guard(lambda: meta.leave_one_out(res), "meta.leave_one_out")
    rep = Report()
    _compare_columns(rep, _frame(l1o), case, L1O_COLS)
    rep.check()


@pytest.mark.parametrize(("cid", "case"), _cases("influence"))
def test_influence(cid: str, case: dict[str, Any]) -> None:
    ds = REF["influence"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"])
    inf = _guard(lambda: meta.influence(res), "meta.influence")
    frame = _frame(inf)
    rep = Report()
    _compare_columns(rep, frame, case, INF_COLS)
    flags = rep.column(frame, INF_FLAG_COL)
    if flags is not None:
        got = [bool(f) for f in flags]
        if got != case["influential"]:
            rep.problems.append(f"{INF_FLAG_COL}: got {got}, expected {case['influential']}")
    rep.check()


# ----------------------------------------------------------------------------- small-study bias
@pytest.mark.parametrize(("cid", "case"), _cases("regtest"))
def test_egger_test(cid: str, case: dict[str, Any]) -> None:
    if cid in ML_LOCAL_MAXIMUM:
        pytest.skip(
            "metafor's regtest() stops at tau2 = 0, a local maximum of the ML likelihood; "
            "ipdmeta reports the global one (tests/meta/test_edge_cases.py, ml_global.json)"
        )
    ds = REF["regtest"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"])
    eg = _guard(lambda: meta.egger_test(res), "meta.egger_test")
    rep = Report()
    _compare_attrs(rep, eg, case, EGGER_ATTRS)
    rep.check()


@pytest.mark.parametrize(("cid", "case"), _cases("trimfill"))
def test_trim_and_fill(cid: str, case: dict[str, Any]) -> None:
    ds = REF["trimfill"]["datasets"][case["dataset"]]
    res = _fit(ds, case["method"], case["test"])
    tf = _guard(lambda: meta.trim_and_fill(res), "meta.trim_and_fill")
    rep = Report()
    k0 = rep.attr(tf, "k0")
    if k0 is not None and int(k0) != case["k0"]:
        rep.problems.append(f"k0: got {k0}, expected {case['k0']}")
    side = rep.attr(tf, "side")
    if side is not None and str(getattr(side, "value", side)).lower() != case["side"]:
        rep.problems.append(f"side: got {side!r}, expected {case['side']!r}")
    _compare_attrs(rep, tf, case, TF_ATTRS)
    filled = rep.attr(tf, TF_FILLED_ATTR)
    if filled is not None:
        _compare_attrs(rep, filled, case, TF_FILLED_ATTRS)
    rep.check()


# ----------------------------------------------------------------------------- permutation tests
@pytest.mark.parametrize(("cid", "case"), _cases("permutest"))
def test_permutation_test(cid: str, case: dict[str, Any]) -> None:
    assert case["exact"], "the reference cases are chosen so that metafor's test is exact"
    data = REF["permutest"]["datasets"][case["dataset"]]
    if case["moderators"] is None:
        res = _fit(data, case["method"], case["test"])
    else:
        mods = moderators_frame({case["moderators"]: data[case["moderators"]]}, None)
        res = _guard(
            lambda: meta.meta_regression(
                data["yi"], data["vi"], mods, method=case["method"], test=case["test"]
            ),
            "meta.meta_regression",
        )
    perm = _guard(lambda: meta.permutation_test(res, PERM_N, PERM_SEED), "meta.permutation_test")
    rep = Report()
    exact = rep.attr(perm, PERM_EXACT)
    if exact is not None and not bool(exact):
        rep.problems.append(f"{PERM_EXACT}: got {exact!r}, expected an exact test")
    pv = rep.attr(perm, PERM_PVALUE)
    if pv is not None:
        rep.vector(PERM_PVALUE, pv, case["pvalue"])
    rep.scalar(PERM_QM_PVALUE, rep.attr(perm, PERM_QM_PVALUE), case["QM_pvalue"])
    rep.check()


# ----------------------------------------------------------------------------- escalc
@pytest.mark.parametrize(("cid", "case"), _cases("escalc"))
def test_escalc(cid: str, case: dict[str, Any]) -> None:
    measure = case["measure"]
    if measure == "MN":
        data = {"mi": case["mi"], "sdi": case["sdi"], "ni": case["ni"]}
    else:
        data = {"xi": case["xi"], "ni": case["ni"]}
    yi, vi = _guard(lambda: call_escalc(measure, **data), "meta.escalc")
    rep = Report()
    rep.vector("yi", yi, case["yi"])
    rep.vector("vi", vi, case["vi"])
    rep.check()


@pytest.mark.parametrize(
    ("cid", "case"), [p for p in _cases("escalc") if p.values[1]["measure"] in ("PLO", "PFT")]
)
def test_escalc_back_transformation(cid: str, case: dict[str, Any]) -> None:
    measure = case["measure"]
    ni = np.asarray(case["ni"], float)
    rep = Report()
    back = _guard(
        lambda: call_back_transform(measure, np.asarray(case["yi"]), ni), "meta.back_transform"
    )
    rep.vector("yi_back", back, case["yi_back"])
    pooled = case["pooled"]
    res = meta.random_effects(case["yi"], case["vi"], method="REML", test="z")
    rep.scalar("pooled estimate", res.estimate, pooled["estimate"])
    # transf.ipft.hm back-transforms a pooled value with the harmonic mean of the ni.
    hm = len(ni) / np.sum(1.0 / ni)
    for attr, key in (
        ("estimate", "estimate_back"),
        ("ci_lower", "ci_lower_back"),
        ("ci_upper", "ci_upper_back"),
        ("pi_lower", "pi_lower_back"),
        ("pi_upper", "pi_upper_back"),
    ):
        value = call_back_transform(measure, np.array([getattr(res, attr)]), hm)[0]
        rep.scalar(f"{key}", value, pooled[key])
    rep.check()


# ----------------------------------------------------------------------------- batch
@pytest.mark.parametrize("method", METHODS)
def test_random_effects_batch_matches_reference(method: str) -> None:
    """The batch API on the published data sets (NaN-padded to one (m, k) array)."""
    datasets = REF["random_effects"]["datasets"]
    names = list(PUBLISHED)
    kmax = max(len(datasets[n]["yi"]) for n in names)
    Y = np.full((len(names), kmax), np.nan)
    V = np.full((len(names), kmax), np.nan)
    for i, n in enumerate(names):
        k = len(datasets[n]["yi"])
        Y[i, :k] = datasets[n]["yi"]
        V[i, :k] = datasets[n]["vi"]
    out = _guard(
        lambda: meta.random_effects_batch(Y, V, method=method), "meta.random_effects_batch"
    )
    rep = Report()
    cases = REF["random_effects"]["cases"]
    for attr in ("estimate", "se", "tau2"):
        values = rep.attr(out, attr)
        if values is not None:
            rep.vector(attr, values, [cases[f"{n}-{method}-z"][attr] for n in names])
    rep.check()
