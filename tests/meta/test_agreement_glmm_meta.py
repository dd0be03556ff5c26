"""meta.random_effects_glmm agrees with metafor 3.8.1's rma.glmm(measure = "PLO") (which
fits with lme4's glmer, 7 quadrature nodes, converged tightly by the reference script)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from ipdmeta import meta
from ipdmeta.errors import DataError, ModelSpecError

REFERENCE = Path(__file__).parents[1] / "reference" / "metafor_glmm"
CASES = ("pritz1997", "sparse-zeros")
# The tolerance for GLMM estimates; both fits are converged far past it.
RTOL = 1e-4
FIELDS = ("estimate", "se", "zval", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2",
          "I2", "H2", "QE_LRT")  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_agrees_with_rma_glmm(case: str) -> None:
    ref = json.loads((REFERENCE / f"{case}.json").read_text())
    res = meta.random_effects_glmm("PLO", xi=ref["xi"], ni=ref["ni"])
    for name in FIELDS:
        np.testing.assert_allclose(getattr(res, name), ref[name], rtol=RTOL, err_msg=name)
    # a p-value moves by about z * dz: |z| up to 5 here
    np.testing.assert_allclose(res.pvalue, ref["pvalue"], rtol=10 * RTOL)
    assert res.k == ref["k"] and res.QE_df == ref["QE_df"]
    back = res.to_frame(transform=True).iloc[0]
    np.testing.assert_allclose(back["estimate"], special.expit(ref["estimate"]), rtol=RTOL)


def test_every_reference_case_is_tested() -> None:
    assert sorted(p.stem for p in REFERENCE.glob("*.json")) == sorted(CASES)


def test_studies_with_no_or_all_events_need_no_correction() -> None:
    res = meta.random_effects_glmm(xi=[0, 3, 5, 10], ni=[10, 12, 15, 10])
    assert np.isfinite(res.estimate) and np.isfinite(res.se)
    assert "pooled proportion" in res._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"measure": "OR", "xi": [1, 2], "ni": [5, 5]}, ModelSpecError, "not supported yet"),
        ({"xi": [1, 2], "ni": [5]}, ModelSpecError, "xi has 2 values and ni 1"),
        ({"xi": [1], "ni": [5]}, ModelSpecError, "at least 2 studies"),
        ({"xi": [1, 7], "ni": [5, 5]}, DataError, "study 2: xi = 7 of ni = 5"),
        ({"xi": [1, -1], "ni": [5, 5]}, DataError, "study 2"),
        ({"xi": [1, 2], "ni": [5, 5], "labels": ["a"]}, ModelSpecError, "labels has 1"),
    ],
)
def test_bad_input_is_refused(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        meta.random_effects_glmm(**kwargs)
