"""Formula helpers of the analysis layer."""

from __future__ import annotations

import pytest

from ipdmeta.analysis.models import add_terms


@pytest.mark.parametrize(
    ("formula", "terms", "expected"),
    [
        (
            "relief_pct ~ diagnosis + (1 | study_id)",
            ["age", "sex"],
            "relief_pct ~ diagnosis + age + sex + (1 | study_id)",
        ),
        (
            'relief_pct ~ C(diagnosis, Treatment("TN")) + (1 + x | s) + (1 | g)',
            ["age"],
            'relief_pct ~ C(diagnosis, Treatment("TN")) + age + (1 + x | s) + (1 | g)',
        ),
        ("y ~ x", ["age"], "y ~ x + age"),
        ("y ~ x + (1 | s)", [], "y ~ x + (1 | s)"),
    ],
)
def test_add_terms_puts_fixed_terms_before_the_random_part(formula, terms, expected):
    assert add_terms(formula, terms) == expected
