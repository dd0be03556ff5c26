"""The lme4-style formula grammar of ``ipdmeta.mixed``: what parses, what is refused."""

from __future__ import annotations

import pytest

from ipdmeta.errors import IpdmetaError, ModelSpecError
from ipdmeta.mixed._formula import RandomTerm, parse_formula


def test_random_intercept() -> None:
    p = parse_formula("relief ~ diagnosis + age + (1 | study_id)")
    assert p.response == "relief"
    assert p.fixed == "diagnosis + age"
    assert p.random == (RandomTerm(("(Intercept)",), ("study_id",)),)
    assert p.variables == ("relief", "diagnosis", "age", "study_id")


def test_crossed_terms() -> None:
    p = parse_formula("y ~ x + (1 | g1) + (1 | g2)")
    assert [t.group for t in p.random] == [("g1",), ("g2",)]


def test_nested_expands_inner_first() -> None:
    p = parse_formula("y ~ 1 + (1 | batch/cask)")
    assert [t.group_name for t in p.random] == ["cask:batch", "batch"]
    assert p.fixed == "1"


def test_correlated_and_uncorrelated_slopes() -> None:
    p = parse_formula("y ~ x + (1 + x | g)")
    assert p.random == (RandomTerm(("(Intercept)", "x"), ("g",)),)
    p = parse_formula("y ~ x + (x || g)")
    assert p.random == (
        RandomTerm(("(Intercept)",), ("g",)),
        RandomTerm(("x",), ("g",)),
    )
    p = parse_formula("y ~ x + (0 + x | g)")
    assert p.random == (RandomTerm(("x",), ("g",)),)


def test_treatment_with_reference_level() -> None:
    p = parse_formula('y ~ C(dx, Treatment("TNP")) + age + (1 | s)')
    assert p.fixed_variables == ("dx", "age")


@pytest.mark.parametrize(
    "formula",
    [
        "y ~ x",  # no random term
        "y x + (1 | g)",  # no tilde
        "y ~ x ~ z + (1 | g)",
        "~ x + (1 | g)",
        "y ~ x + (1 | )",
        "y ~ x + ( | g)",
        "y ~ x + (1 | g | h)",
        "y ~ x + 1 | g",  # a bar outside parentheses
        "y ~ log(x) + (1 | g)",  # calls other than C() are refused, never evaluated
        "y ~ __import__('os') + (1 | g)",
        "y ~ C(x, Sum) + (1 | g)",
        "y ~ x + (1 | g) +",
        "y ~ (x + (1 | g)",
        "y ~ x + 3 + (1 | g)",
        "y ~ x; z + (1 | g)",
        "y ~ x + (1 | g/h:k)",
    ],
)
def test_bad_grammar_is_a_model_spec_error(formula: str) -> None:
    with pytest.raises(ModelSpecError):
        parse_formula(formula)


def test_errors_are_ipdmeta_errors() -> None:
    with pytest.raises(IpdmetaError, match="no random-effects term"):
        parse_formula("y ~ x")
    with pytest.raises(IpdmetaError, match="only C"):
        parse_formula("y ~ exp(x) + (1 | g)")


def test_not_text() -> None:
    with pytest.raises(ModelSpecError):
        parse_formula(None)  # type: ignore[arg-type]
