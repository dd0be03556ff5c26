"""Type I, II and III F-tests of ``ipdmeta.mixed`` against lmerTest's ``anova`` with
Satterthwaite and Kenward-Roger denominator degrees of freedom."""

from __future__ import annotations

import ipdmeta_mixed_reference as ref
import pytest

GRID = ref.anova_grid()


@pytest.mark.parametrize(("case", "section", "kind", "ddf"), ref.param_list(GRID))
def test_anova(case: str, section: str, kind: int, ddf: str) -> None:
    expected = ref.table(ref.load_case(case)["anova"][str(kind)][ddf])
    got = ref.drop_aliased(ref.fitted(case).anova(type=kind, ddf=ddf), case, "F")
    got = ref.align(got, expected, "term", case)
    what = f"{case} anova(type={kind}, ddf={ddf!r})"
    for col in ("sum_sq", "mean_sq", "F"):
        ref.assert_close(got[col], expected[col], rtol=ref.RTOL_EST, what=f"{what} {col}")
    ref.assert_close(got["num_df"], expected["num_df"], rtol=0, what=f"{what} num_df")
    ref.assert_close(got["den_df"], expected["den_df"], rtol=ref.RTOL_DF, what=f"{what} den_df")
    ref.assert_close(got["pvalue"], expected["pvalue"], rtol=0, atol=ref.ATOL_P, what=f"{what} p")
