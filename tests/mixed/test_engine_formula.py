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
        "y ~ foo(x) + (1 | g)",  # calls other than C() and R's functions are refused
        "y ~ __import__('os') + (1 | g)",
        "y ~ log(__import__('os')) + (1 | g)",  # nothing inside a call is evaluated either
        "y ~ log(x, 2) + (1 | g)",
        "y ~ poly(x, 2.5) + (1 | g)",
        "y ~ poly(x, 0) + (1 | g)",
        "y ~ poly(x, k) + (1 | g)",
        "y ~ I('text') + (1 | g)",
        "y ~ log() + (1 | g)",
        "y ~ log(x + (1 | g)",
        "y ~ x^2 + (1 | g)",  # a power outside I()
        "y ~ x ** 2 + (1 | g)",
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
    with pytest.raises(IpdmetaError, match="the fixed part allows C"):
        parse_formula("y ~ expm1(x) + (1 | g)")


def test_functions_of_covariates_as_in_r() -> None:
    p = parse_formula("y ~ log(age) + I(age^2) + poly(dose, 2) + scale(x + z) + (1 | g)")
    assert p.fixed_variables == ("age", "dose", "x", "z")
    assert set(p.transformed) == {"age", "dose", "x", "z"}
    assert "I(age ** 2)" in p.fixed  # R's power, as formulaic evaluates it


def test_term_names_follow_r() -> None:
    import numpy as np
    import pandas as pd

    from ipdmeta import mixed

    rng = np.random.default_rng(3)
    data = pd.DataFrame({"g": rng.integers(0, 12, 240).astype(str),
                         "x": rng.uniform(1, 9, 240),
                         "f": rng.choice(["a", "b"], 240)})  # fmt: skip
    data["y"] = np.log(data.x) + rng.normal(size=240) + data.g.astype(int) * 0.1
    fit = mixed.lmm("y ~ f * log(x) + I(x**2) + poly(x, 2) + sqrt(x) + (1 | g)", data)
    names = list(fit.fixed_effects()["term"])
    assert names[:5] == ["Intercept", "f[T.b]", "log(x)", "I(x^2)", "poly(x, 2)1"]
    assert "f[T.b]:log(x)" in names
    assert list(fit.anova(type=3)["term"]) == ["f", "log(x)", "I(x^2)", "poly(x, 2)", "sqrt(x)",
                                               "f:log(x)"]  # fmt: skip
    # Marginal means evaluate every function at the covariate's mean, through the model's
    # own (stateful) terms: the same as predicting at that point.
    means = fit.emmeans("f")
    grid = pd.DataFrame({"f": ["a", "b"], "x": [data.x.mean()] * 2, "g": ["0", "0"]})
    assert np.allclose(means["emmean"], fit.predict(grid, include_random=False))


def test_functions_refuse_factors_and_values_without_a_number() -> None:
    import numpy as np
    import pandas as pd

    from ipdmeta import mixed

    data = pd.DataFrame({"g": list("aabbccdd") * 5, "f": list("xyxyxyxy") * 5,
                         "x": np.linspace(-1, 3, 40), "y": np.arange(40.0) % 7})  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"'f' is read inside a function.*is a factor"):
        mixed.lmm("y ~ log(f) + (1 | g)", data)
    with pytest.raises(ModelSpecError, match=r"log\(x\) is not a finite number in 10 rows"):
        mixed.lmm("y ~ log(x) + (1 | g)", data)
    with pytest.raises(ModelSpecError, match=r"sqrt\(x\) is not a finite number"):
        mixed.lmm("y ~ sqrt(x) + (1 | g)", data)


def test_not_text() -> None:
    with pytest.raises(ModelSpecError):
        parse_formula(None)  # type: ignore[arg-type]
