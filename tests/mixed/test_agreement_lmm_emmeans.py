"""Estimated marginal means and pairwise contrasts of ``ipdmeta.mixed`` against emmeans
(``lmer.df`` kenward-roger, satterthwaite, asymptotic; adjust none, holm, bonferroni,
tukey, fdr)."""

from __future__ import annotations

import ipdmeta_mixed_reference as ref
import pytest

EMMEANS_GRID = ref.emmeans_grid()
PAIRWISE_GRID = ref.pairwise_grid()


@pytest.mark.parametrize(("case", "spec", "section", "ddf"), ref.param_list(EMMEANS_GRID))
def test_emmeans(case: str, spec: str, section: str, ddf: str) -> None:
    expected = ref.table(ref.load_case(case)["emmeans"][spec][ddf]["emmeans"])
    got = ref.align(ref.fitted(case).emmeans(spec, ddf=ddf), expected, "level", case)
    what = f"{case} emmeans({spec!r}, ddf={ddf!r})"
    for col in ("emmean", "se"):
        ref.assert_close(got[col], expected[col], rtol=ref.RTOL_EST, what=f"{what} {col}")
    ref.assert_close(got["df"], expected["df"], rtol=ref.RTOL_DF, what=f"{what} df")
    ref.assert_ci_close(got, expected, what)


@pytest.mark.parametrize(
    ("case", "spec", "section", "ddf", "adjust"), ref.param_list(PAIRWISE_GRID)
)
def test_pairwise(case: str, spec: str, section: str, ddf: str, adjust: str) -> None:
    expected = ref.table(ref.load_case(case)["emmeans"][spec][ddf]["pairwise"][adjust])
    result = ref.fitted(case).pairwise(spec, adjust=adjust, ddf=ddf)
    got = ref.align(result, expected, "contrast", case)
    what = f"{case} pairwise({spec!r}, adjust={adjust!r}, ddf={ddf!r})"
    for col in ("estimate", "se", "t"):
        ref.assert_close(got[col], expected[col], rtol=ref.RTOL_EST, what=f"{what} {col}")
    ref.assert_close(got["df"], expected["df"], rtol=ref.RTOL_DF, what=f"{what} df")
    ref.assert_close(got["pvalue"], expected["pvalue"], rtol=0, atol=ref.ATOL_P, what=f"{what} p")
