"""meta.random_effects_glmm agrees with metafor 3.8.1's rma.glmm, measure "PLO" and measure
"OR" with model "UM.FS" (which fit with lme4's glmer, 7 quadrature nodes, converged tightly
by the reference script)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from ipdmeta import meta
from ipdmeta.errors import DataError, ModelSpecError

REFERENCE = Path(__file__).parents[1] / "reference" / "metafor_glmm"
CASES = ("pritz1997", "sparse-zeros", "bcg-or", "nielweise2007-or", "sparse-trials-or")
# The tolerance for GLMM estimates; both fits are converged far past it.
RTOL = 1e-4
FIELDS = ("estimate", "se", "zval", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2",
          "I2", "H2", "QE_LRT")  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_agrees_with_rma_glmm(case: str) -> None:
    ref = json.loads((REFERENCE / f"{case}.json").read_text())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = meta.random_effects_glmm(ref["measure"], **ref["counts"])
    for name in FIELDS:
        # An interval's limit is estimate -/+ z * sd, each part good to RTOL of its own
        # size; a limit near 0 (dat.nielweise2007's prediction interval ends at 0.00015)
        # has no relative precision of its own, so it is compared on the parts' scale.
        scale = abs(ref["estimate"]) + 2.0 * np.sqrt(ref["se"] ** 2 + ref["tau2"])
        atol = RTOL * scale if name.endswith(("_lower", "_upper")) else 0.0
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=RTOL, atol=atol,
                                   err_msg=name)  # fmt: skip
    if ref["QE_Wld"] is None:  # a zero cell: the saturated model has no finite estimates
        assert np.isnan(res.QE_Wld)
    else:
        np.testing.assert_allclose(res.QE_Wld, ref["QE_Wld"], rtol=RTOL)
    # metafor leaves out the trials with no events in either group, and says so.
    assert res.k == ref["k"]
    given = len(ref["counts"]["ai" if ref["measure"] == "OR" else "xi"])
    assert len(res.dropped) == given - ref["k"]
    assert bool(res.dropped) == any("left out" in str(w.message) for w in caught)
    # a p-value moves by about z * dz: |z| up to 5 here
    np.testing.assert_allclose(res.pvalue, ref["pvalue"], rtol=10 * RTOL)
    assert res.k == ref["k"] and res.QE_df == ref["QE_df"]
    back = res.to_frame(transform=True).iloc[0]
    transform = special.expit if ref["measure"] == "PLO" else np.exp
    np.testing.assert_allclose(back["estimate"], transform(ref["estimate"]), rtol=RTOL)


def test_every_reference_case_is_tested() -> None:
    assert sorted(p.stem for p in REFERENCE.glob("*.json")) == sorted(CASES)


def test_odds_ratios_from_event_and_non_event_counts() -> None:
    """bi/di (non-events) give the same fit as n1i/n2i; a trial with no events in either
    group is left out with a warning naming it, and the result says so."""
    counts = {"ai": [3, 0, 5, 1, 0], "ci": [7, 4, 9, 2, 0]}
    sizes = {"n1i": [40, 35, 60, 20, 30], "n2i": [41, 33, 58, 22, 31]}
    labels = ["Ames", "Bo", "Cruz", "Dahl", "Eng"]
    with pytest.warns(UserWarning, match="left out of the model: Eng"):
        by_size = meta.random_effects_glmm("OR", **counts, **sizes, labels=labels)
    with pytest.warns(UserWarning, match="Eng"):
        by_events = meta.random_effects_glmm(
            "OR", ai=counts["ai"], ci=counts["ci"], labels=labels,
            bi=np.subtract(sizes["n1i"], counts["ai"]), di=np.subtract(sizes["n2i"], counts["ci"]),
        )  # fmt: skip
    assert by_size.estimate == by_events.estimate and by_size.k == 4
    assert by_size.dropped == ("Eng",) and by_size.labels == ("Ames", "Bo", "Cruz", "Dahl")
    assert np.isnan(by_size.QE_Wld)  # Bo has a zero cell
    shown = by_size._repr_html_()
    assert "pooled odds ratio" in shown and "Left out" in shown and "Eng" in shown
    back = by_size.to_frame(transform=True).iloc[0]
    assert back["estimate"] == pytest.approx(np.exp(by_size.estimate))


def test_studies_with_no_or_all_events_need_no_correction() -> None:
    res = meta.random_effects_glmm(xi=[0, 3, 5, 10], ni=[10, 12, 15, 10])
    assert np.isfinite(res.estimate) and np.isfinite(res.se)
    assert "pooled proportion" in res._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"measure": "RR", "xi": [1, 2], "ni": [5, 5]}, ModelSpecError, "'PLO'.*or 'OR'"),
        ({"measure": "OR", "ai": [1, 2], "ci": [0, 1]}, ModelSpecError, "bi \\(or n1i\\)"),
        (
            {"measure": "OR", "ai": [1, 2], "n1i": [5, 5], "ci": [0], "n2i": [5, 5]},
            ModelSpecError,
            "one value per study",
        ),
        (
            {"measure": "OR", "ai": [1, 6], "n1i": [5, 5], "ci": [0, 1], "n2i": [5, 5]},
            DataError,
            "study 2: ai = 6 of 5",
        ),
        (
            {"measure": "OR", "ai": [0, 2], "n1i": [5, 5], "ci": [0, 1], "n2i": [5, 5]},
            ModelSpecError,
            "at least 2 studies; 1 remain",
        ),
        ({"xi": [1, 2], "ni": [5]}, ModelSpecError, "xi has 2 values and ni 1"),
        ({"xi": [1], "ni": [5]}, ModelSpecError, "at least 2 studies"),
        ({"xi": [1, 7], "ni": [5, 5]}, DataError, "study 2: xi = 7 of 5"),
        ({"xi": [1, 2.5], "ni": [5, 5]}, DataError, "study 2: xi = 2.5 of 5"),
        ({"xi": [1, -1], "ni": [5, 5]}, DataError, "study 2"),
        ({"xi": [1, 2], "ni": [5, 5], "labels": ["a"]}, ModelSpecError, "labels has 1"),
    ],
)
@pytest.mark.filterwarnings("ignore:1 study has no events")
def test_bad_input_is_refused(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        meta.random_effects_glmm(**kwargs)
