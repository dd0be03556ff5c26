"""Agreement of ``meta.escalc`` with R's ``metafor::escalc``, measure by measure.

Expected values come from ``tests/reference/metafor_escalc/<MEASURE>.json``, written by
``Rscript tests/reference/metafor_escalc.R`` (metafor 3.8; R is needed only to regenerate
them). Every JSON case holds the arguments exactly as ``meta.escalc`` takes them
(metafor's names), ``add``/``to`` when given, and escalc's ``yi``, ``vi``, ``ni``.

Where escalc stops with an error, or returns NA for a study (its effect size or variance
is undefined there: a zero cell left uncorrected under a log measure, means of opposite
signs under ROM, too few subjects for Hedges' correction, ...), ``meta.escalc`` raises a
``DataError`` naming the (first) study instead of returning NaN. Every other case must
agree at ``RTOL``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ipdmeta import meta
from ipdmeta.errors import DataError, ModelSpecError
from tests.reference_json import decode

REF_DIR = Path(__file__).resolve().parents[1] / "reference" / "metafor_escalc"

# Every measure is a closed form (logs, square roots, arcsines, gamma functions; no
# iteration), computed here by the same formulas as metafor, so the two differ only by
# floating-point rounding: ~1e-16 relative per operation, and a few dozen operations. 1e-8
# leaves a wide margin for the few cancellations (log(p1) - log(p2) near a ratio of 1)
# while still catching any difference of formula, continuity correction or constant.
RTOL = 1e-8

# The measures the issue asks for, and those ipdmeta had before (checked here with the
# new add/to semantics as well).
ISSUE_MEASURES = (
    "RR",
    "OR",
    "RD",
    "PETO",
    "AS",
    "MD",
    "SMD",
    "SMDH",
    "ROM",
    "COR",
    "ZCOR",
    "IRR",
    "IRD",
    "IR",
    "IRLN",
    "MNLN",
    "CVLN",
    "MC",
    "SMCC",
    "SMCR",
    "ROMC",
)
EARLIER_MEASURES = ("MN", "PR", "PLO", "PFT")
# Measures with a continuity correction: each needs reference cases with zero cells under
# every `to` (and under escalc's default, `to` not given).
COUNT_MEASURES = ("RR", "OR", "RD", "PETO", "AS", "IRR", "IRD", "IR", "IRLN", "PR", "PLO", "PFT")
TO_OPTIONS = {None, "only0", "all", "if0all", "none"}


# ----------------------------------------------------------------------------- loading
REF: dict[str, dict[str, Any]] = {
    path.stem: decode(json.loads(path.read_text(encoding="utf-8")))
    for path in sorted(REF_DIR.glob("*.json"))
}
CASES = [
    pytest.param(measure, cid, case, id=f"{measure}-{cid}")
    for measure, ref in REF.items()
    for cid, case in ref["cases"].items()
]


def _refused(case: dict[str, Any]) -> bool:
    """escalc stopped, or returned NA for a study: ipdmeta raises instead."""
    return bool(case.get("error")) or bool(case.get("na_studies"))


def _call(case: dict[str, Any]) -> meta.EffectSizes:
    kwargs: dict[str, Any] = dict(case["args"])
    if case["add"] is not None:
        kwargs["add"] = case["add"]
    if case["to"] is not None:
        kwargs["to"] = case["to"]
    return meta.escalc(case["measure"], **kwargs)


def _max_rel_diff(actual: np.ndarray, expected: np.ndarray) -> float:
    diff = np.abs(actual - expected)
    scale = np.abs(expected)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, diff / scale, np.where(diff == 0, 0.0, np.inf))
    return float(rel.max()) if rel.size else 0.0


# ----------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(("measure", "cid", "case"), CASES)
def test_escalc_agrees_with_metafor(measure: str, cid: str, case: dict[str, Any]) -> None:
    if _refused(case):
        with pytest.raises(DataError) as info:
            _call(case)
        if case.get("na_studies"):
            # the message names the first study escalc returned as NA, counting from 1
            # (the JSON holds 0-based positions)
            assert f"study {case['na_studies'][0] + 1}" in str(info.value), str(info.value)
        return
    es = _call(case)
    assert es.measure.value == measure
    for key in ("yi", "vi", "ni"):
        actual = np.asarray(getattr(es, key), float)
        expected = np.asarray(case[key], float)
        assert actual.shape == expected.shape, key
        worst = _max_rel_diff(actual, expected)
        assert worst <= RTOL, f"{key}: max relative difference {worst:.3g} ({case['call']})"


# ----------------------------------------------------------------------------- completeness
def test_every_measure_has_reference_cases() -> None:
    """Each measure of the issue (and of ipdmeta) has a JSON with compared cases."""
    for measure in ISSUE_MEASURES + EARLIER_MEASURES:
        assert measure in REF, f"no tests/reference/metafor_escalc/{measure}.json"
        compared = [c for c in REF[measure]["cases"].values() if not _refused(c)]
        assert compared, f"{measure}: no case to compare"
        published = [c for c in compared if not REF[measure]["datasets"][c["dataset"]]["made_up"]]
        assert published, f"{measure}: no published data set"
    assert set(REF) == {m.value for m in meta.Measure}, "a Measure without reference or vice versa"


def test_every_json_case_is_tested() -> None:
    n_cases = sum(len(ref["cases"]) for ref in REF.values())
    assert len(CASES) == n_cases
    assert len({p.id for p in CASES}) == n_cases
    for measure, ref in REF.items():
        assert ref["measure"] == measure
        assert ref["source"]["metafor"].startswith("3.8"), ref["source"]
        assert {"R", "metafor", "metadat", "date", "script"} <= set(ref["source"])
        for cid, case in ref["cases"].items():
            assert case["measure"] == measure, cid
            assert case["dataset"] in ref["datasets"], cid
            assert _refused(case) or case["yi"] is not None, cid


def test_count_measures_have_zero_cells_under_every_continuity_option() -> None:
    for measure in COUNT_MEASURES:
        cases = REF[measure]["cases"].values()
        with_zero = [c for c in cases if c["dataset"].endswith("_edge")]
        assert {c["to"] for c in with_zero} == TO_OPTIONS, measure
        assert {c["add"] for c in with_zero} >= {None, 0.25}, measure


def test_published_data_sets_carry_citations() -> None:
    for ref in REF.values():
        for name, d in ref["datasets"].items():
            assert d["citation"], name
            if not d["made_up"]:
                assert re.search(r"\b(19|20)\d\d\b", d["citation"]), (name, d["citation"])


def test_reference_has_refused_cases_for_every_measure_with_undefined_values() -> None:
    """Every measure that can be undefined for a study has a reference case where escalc
    stops or returns NA (and ipdmeta must refuse it, above); RD, AS, IRD, IR, PR, PFT, MD,
    MN and MC stay finite on every valid input."""
    refused = {m for m, ref in REF.items() if any(_refused(c) for c in ref["cases"].values())}
    expected = {"RR", "OR", "PETO", "PLO", "IRR", "IRLN", "SMD", "SMDH", "ROM", "COR"}
    expected |= {"ZCOR", "MNLN", "CVLN", "SMCC", "SMCR", "ROMC"}
    assert refused == expected


# ----------------------------------------------------------------------------- behaviour
def test_metafor_semantics_of_add_and_to() -> None:
    tables: dict[str, Any] = {"ai": [0, 5], "bi": [10, 5], "ci": [3, 5], "di": [7, 5]}
    only0 = meta.escalc("OR", **tables)
    assert only0.yi[0] == pytest.approx(math.log(0.5 / 10.5) - math.log(3.5 / 7.5))
    assert only0.yi[1] == 0.0  # no zero cell: not corrected
    every = meta.escalc("OR", **tables, to="all", add=0.25)
    assert every.yi[1] == 0.0
    assert every.vi[1] == pytest.approx(4 / 5.25)
    # AS and PFT add nothing unless add is given
    as_default = meta.escalc("AS", **tables)
    assert as_default.yi[0] == pytest.approx(-math.asin(math.sqrt(0.3)))
    as_added = meta.escalc("AS", **tables, add=0.5)
    assert as_added.yi[0] == pytest.approx(
        math.asin(math.sqrt(0.5 / 11)) - math.asin(math.sqrt(3.5 / 11))
    )
    # group sizes instead of non-events
    sizes = meta.escalc("OR", ai=[0, 5], n1i=[10, 10], ci=[3, 5], n2i=[10, 10])
    np.testing.assert_array_equal(sizes.yi, only0.yi)
    np.testing.assert_array_equal(sizes.ni, [20, 20])


def test_existing_single_group_interface_still_works() -> None:
    es = meta.escalc("PLO", xi=[3, 5, 10], ni=[20, 30, 40])
    assert es.k == 3
    pr = meta.escalc("PR", xi=[3, 0], mi=[7, 10])  # mi: non-events, as metafor
    assert pr.ni.tolist() == [10.0, 10.0]
    assert pr.yi[1] == pytest.approx(0.5 / 11)


def test_smd_from_d_or_t_equals_from_means() -> None:
    n1, n2 = np.array([10.0, 25.0]), np.array([12.0, 30.0])
    means = meta.escalc("SMD", m1i=[5, 3], m2i=[4, 3.5], sd1i=[2, 1], sd2i=[2, 1], n1i=n1, n2i=n2)
    d = np.array([0.5, -0.5])
    from_d = meta.escalc("SMD", di=d, n1i=n1, n2i=n2)
    from_t = meta.escalc("SMD", ti=d / np.sqrt(1 / n1 + 1 / n2), n1i=n1, n2i=n2)
    np.testing.assert_allclose(from_d.yi, means.yi, rtol=1e-14)
    np.testing.assert_allclose(from_t.yi, means.yi, rtol=1e-14)


def test_hedges_correction_exact() -> None:
    # c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)); for m = 2: 1 / Gamma(1/2) = 1/sqrt(pi).
    # For large m, c(m) = 1 - 3 / (4m - 1) + O(1/m^2), kept to full precision.
    es = meta.escalc("SMD", di=[1.0], n1i=[2], n2i=[2])
    assert es.yi[0] == pytest.approx(1 / math.sqrt(math.pi), rel=1e-14)
    big = meta.escalc("SMD", di=[1.0], n1i=[1e6], n2i=[1e6])
    assert big.yi[0] == pytest.approx(1 - 3 / (4 * 2e6 - 9), rel=1e-12)


@pytest.mark.parametrize(
    ("measure", "kwargs", "back"),
    [
        ("RR", {"ai": [5], "bi": [15], "ci": [10], "di": [10]}, 0.5),
        ("IRR", {"x1i": [4], "x2i": [8], "t1i": [100], "t2i": [100]}, 0.5),
        ("ZCOR", {"ri": [0.3], "ni": [20]}, 0.3),
        ("MD", {"m1i": [3], "m2i": [1], "sd1i": [1], "sd2i": [1], "n1i": [5], "n2i": [5]}, 2.0),
        ("MNLN", {"mi": [4.0], "sdi": [1.0], "ni": [10]}, 4.0),
    ],
)
def test_back_transformation_of_new_measures(
    measure: str, kwargs: dict[str, Any], back: float
) -> None:
    es = meta.escalc(measure, **kwargs)
    assert es.yi_back[0] == pytest.approx(back, rel=1e-12)
    assert "yi_back" in es.to_frame().columns


def test_arcsine_difference_has_no_back_transformation() -> None:
    es = meta.escalc("AS", ai=[3], bi=[7], ci=[5], di=[5])
    assert "yi_back" not in es.to_frame().columns
    assert "Effect sizes (measure AS, k = 1)" in es.summary()
    with pytest.raises(ModelSpecError, match="no back-transformation"):
        meta.back_transform("AS", [0.1])


# ----------------------------------------------------------------------------- bad input
TABLE: dict[str, Any] = {"ai": [1, 2], "bi": [9, 8], "ci": [3, 4], "di": [7, 6]}
MEANS: dict[str, Any] = {"m1i": [5, 6], "m2i": [4, 5], "sd1i": [1, 2], "sd2i": [1, 2]}
MEANS2 = MEANS | {"n1i": [10, 12], "n2i": [11, 13]}
PREPOST = MEANS | {"ni": [10, 12], "ri": [0.5, 0.4]}
PT: dict[str, Any] = {"x1i": [1, 2], "x2i": [3, 4], "t1i": [100, 120], "t2i": [90, 110]}

BAD_INPUT = [
    # (id, measure, kwargs, error, match)
    ("unknown-measure", "XYZ", TABLE, ModelSpecError, "unknown measure 'XYZ'"),
    ("unknown-to", "OR", TABLE | {"to": "some"}, ModelSpecError, "to must be"),
    ("unknown-vtype", "SMD", MEANS2 | {"vtype": "XX"}, ModelSpecError, "unknown vtype 'XX'"),
    ("other-vtype", "SMD", MEANS2 | {"vtype": "UB"}, ModelSpecError, "not supported yet"),
    ("negative-add", "OR", TABLE | {"add": -0.5}, ModelSpecError, "add must be a number >= 0"),
    ("text-add", "OR", TABLE | {"add": "half"}, ModelSpecError, "add must be a number >= 0"),
    ("nan-add", "OR", TABLE | {"add": float("nan")}, ModelSpecError, "add must be"),
    ("missing-2x2", "RR", {"ai": [1], "ci": [2], "di": [3]}, ModelSpecError, "missing: bi or n1i"),
    ("missing-pt", "IRR", {"x1i": [1], "x2i": [2], "t1i": [3]}, ModelSpecError, "missing: t2i"),
    ("missing-means", "MD", {"m1i": [1], "m2i": [1]}, ModelSpecError, "missing: sd1i, sd2i"),
    ("missing-cor", "ZCOR", {"ri": [0.1]}, ModelSpecError, "needs ri .* missing: ni"),
    ("missing-rate", "IR", {"xi": [1]}, ModelSpecError, "missing: ti"),
    ("missing-mean", "CVLN", {"mi": [1], "ni": [3]}, ModelSpecError, "missing: sdi"),
    ("missing-prepost", "SMCC", PREPOST | {"ri": None}, ModelSpecError, "missing: ri"),
    ("missing-smcr", "SMCR", PREPOST | {"sd1i": None}, ModelSpecError, "missing: sd1i"),
    ("missing-prop", "PLO", {"xi": [1]}, ModelSpecError, "missing: ni or mi"),
    ("smd-no-source", "SMD", {"n1i": [5], "n2i": [5]}, ModelSpecError, "one of: m1i"),
    ("smd-two-sources", "SMD", MEANS2 | {"di": [0.1, 0.2]}, ModelSpecError, "one of: m1i"),
    ("smd-partial-means", "SMD", MEANS2 | {"sd2i": None}, ModelSpecError, "missing: sd2i"),
    ("unused-argument", "MD", MEANS2 | {"ri": [0.5, 0.5]}, ModelSpecError, "does not use ri"),
    ("old-xi-for-or", "OR", {"xi": [1], "ni": [2]}, ModelSpecError, "does not use ni, xi"),
    ("empty", "COR", {"ri": [], "ni": []}, DataError, "empty; at least one study"),
    ("unequal-lengths", "OR", TABLE | {"di": [7]}, DataError, "unequal lengths"),
    ("text-values", "OR", TABLE | {"ai": "12"}, DataError, "ai must be a sequence of numbers"),
    ("non-numeric", "OR", TABLE | {"ai": [1, "x"]}, DataError, "ai must be numeric"),
    ("nan-value", "MD", MEANS2 | {"sd1i": [1, float("nan")]}, DataError, "sd1i has missing"),
    ("2d-values", "COR", {"ri": [[0.1]], "ni": [[5]]}, DataError, "one-dimensional"),
    ("negative-ai", "RR", TABLE | {"ai": [-1, 2]}, DataError, "ai has negative counts"),
    ("negative-di", "RR", TABLE | {"di": [7, -6]}, DataError, "di has negative counts"),
    ("negative-n1i", "RR", {"ai": [0], "n1i": [-1], "ci": [1], "n2i": [3]}, DataError, "n1i has"),
    (
        "cells-above-n",
        "RD",
        {"ai": [1, 12], "n1i": [10, 10], "ci": [3, 4], "n2i": [10, 10]},
        DataError,
        "ai is larger than n1i for study 2",
    ),
    (
        "n-not-sum",
        "RR",
        TABLE | {"n1i": [10, 11]},
        DataError,
        r"n1i is not ai \+ bi for study 2",
    ),
    ("negative-x1i", "IRD", PT | {"x1i": [-1, 2]}, DataError, "x1i has negative event counts"),
    ("zero-t2i", "IRR", PT | {"t2i": [90, 0]}, DataError, "t2i has person-times <= 0"),
    ("zero-ti", "IRLN", {"xi": [1, 2], "ti": [0, 5]}, DataError, "ti has person-times <= 0"),
    ("negative-xi-rate", "IR", {"xi": [-1], "ti": [5]}, DataError, "xi has negative event"),
    ("xi-above-ni", "PLO", {"xi": [1, 12], "ni": [10, 10]}, DataError, "xi is larger than ni"),
    ("negative-mi-prop", "PR", {"xi": [1], "mi": [-2]}, DataError, "mi has negative non-event"),
    ("ni-not-sum", "PR", {"xi": [1], "mi": [2], "ni": [4]}, DataError, r"ni is not xi \+ mi"),
    ("zero-size-prop", "PFT", {"xi": [0], "mi": [0]}, DataError, "sample sizes <= 0"),
    ("negative-sd1i", "SMD", MEANS2 | {"sd1i": [-1, 2]}, DataError, "sd1i has negative standard"),
    ("zero-n2i", "MD", MEANS2 | {"n2i": [0, 13]}, DataError, "n2i has group sizes <= 0"),
    ("negative-sdi", "MNLN", {"mi": [1], "sdi": [-1], "ni": [3]}, DataError, "sdi has negative"),
    ("negative-mean", "CVLN", {"mi": [-1], "sdi": [1], "ni": [3]}, DataError, "mi has negative"),
    ("zero-ni-mean", "MN", {"mi": [1], "sdi": [1], "ni": [0]}, DataError, "ni has sample sizes"),
    ("ri-above-1", "COR", {"ri": [1.2], "ni": [10]}, DataError, r"ri has correlations outside"),
    ("ri-below-minus-1", "MC", PREPOST | {"ri": [0.5, -1.01]}, DataError, "outside"),
    ("zero-ni-cor", "ZCOR", {"ri": [0.2], "ni": [0]}, DataError, "ni has sample sizes <= 0"),
    ("negative-sd2i-pp", "ROMC", PREPOST | {"sd2i": [1, -2]}, DataError, "sd2i has negative"),
    ("zero-ni-pp", "SMCR", PREPOST | {"ni": [0, 12]}, DataError, "ni has sample sizes <= 0"),
    # undefined for a study (escalc returns NA there)
    ("smd-too-small", "SMD", MEANS2 | {"n1i": [1, 12], "n2i": [2, 13]}, DataError, "n1i \\+ n2i"),
    ("smd-zero-sd", "SMD", MEANS2 | {"sd1i": [0, 2], "sd2i": [0, 2]}, DataError, "pooled SD"),
    ("smdh-group-of-1", "SMDH", MEANS2 | {"n1i": [1, 12]}, DataError, "group of 1"),
    ("smdh-zero-sd", "SMDH", MEANS2 | {"sd1i": [0, 2], "sd2i": [0, 2]}, DataError, "both 0"),
    ("rom-opposite", "ROM", MEANS2 | {"m2i": [-4, 5]}, DataError, "same sign"),
    ("rom-zero", "ROM", MEANS2 | {"m1i": [0, 5]}, DataError, "same sign and not 0"),
    ("romc-opposite", "ROMC", PREPOST | {"m1i": [-5, 6]}, DataError, "same sign"),
    ("cor-small-n", "COR", {"ri": [0.2], "ni": [3]}, DataError, "needs ni > 3"),
    ("zcor-r-one", "ZCOR", {"ri": [1.0], "ni": [10]}, DataError, "Fisher z .* infinite"),
    ("mnln-zero-mean", "MNLN", {"mi": [0.0], "sdi": [1], "ni": [3]}, DataError, "log of the"),
    ("cvln-zero-sd", "CVLN", {"mi": [2.0], "sdi": [0], "ni": [3]}, DataError, "log of sdi"),
    ("cvln-n-one", "CVLN", {"mi": [2.0], "sdi": [1], "ni": [1]}, DataError, "ni - 1"),
    ("smcc-small-n", "SMCC", PREPOST | {"ni": [2, 12]}, DataError, "needs ni >= 3"),
    ("smcr-zero-sd1i", "SMCR", PREPOST | {"sd1i": [0, 2]}, DataError, "divides by sd1i"),
    (
        "smcc-zero-change-sd",
        "SMCC",
        PREPOST | {"ri": [1.0, 0.4]},
        DataError,
        "SD of the change scores",
    ),
    (
        "uncorrected-zero-cell",
        "OR",
        TABLE | {"ai": [0, 2], "to": "none"},
        DataError,
        "study 1 .* ai is 0 and no continuity correction",
    ),
    (
        "add-zero",
        "IRLN",
        {"xi": [3, 0], "ti": [10, 10], "add": 0},
        DataError,
        "study 2 .* xi is 0",
    ),
]


@pytest.mark.parametrize(
    ("measure", "kwargs", "error", "match"),
    [pytest.param(m, kw, err, pat, id=i) for i, m, kw, err, pat in BAD_INPUT],
)
def test_escalc_bad_input(
    measure: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        meta.escalc(measure, **kwargs)
