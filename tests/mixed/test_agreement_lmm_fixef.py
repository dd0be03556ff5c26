"""Fixed effects of ``ipdmeta.mixed.lmm`` against lmerTest (Satterthwaite), pbkrtest via
lmerTest (Kenward-Roger), and R's Wald z and residual-df t computed from lme4's vcov."""

from __future__ import annotations

import ipdmeta_mixed_reference as ref
import pytest

GRID = ref.fixef_grid()


@pytest.mark.parametrize(("case", "section", "ddf"), ref.param_list(GRID))
def test_fixed_effects(case: str, section: str, ddf: str) -> None:
    expected = ref.table(ref.load_case(case)["fixef"][ddf])
    levels = ref.load_case(case)["factor_levels"]
    expected["term"] = [ref.map_term(t, levels) for t in expected["term"]]
    got = ref.drop_aliased(ref.fitted(case).fixed_effects(ddf=ddf), case, "estimate")
    got = ref.align(got, expected, "term", case)
    what = f"{case} fixed_effects(ddf={ddf!r})"
    for col in ("estimate", "se", "t"):
        ref.assert_close(got[col], expected[col], rtol=ref.RTOL_EST, what=f"{what} {col}")
    ref.assert_close(got["df"], expected["df"], rtol=ref.RTOL_DF, what=f"{what} df")
    ref.assert_close(got["pvalue"], expected["pvalue"], rtol=0, atol=ref.ATOL_P, what=f"{what} p")
    ref.assert_ci_close(got, expected, what)
