"""Brent's root finder (ipdmeta._brent), which replaced scipy.optimize.brentq so that
ipdmeta run need not import scipy.optimize: the same roots, to the same tolerance, in the
same number of evaluations."""

from __future__ import annotations

import math

import pytest
from scipy.optimize import brentq

from ipdmeta._brent import find_root
from ipdmeta.errors import ConvergenceError

FUNCTIONS = {
    "cubic": (lambda x: x**3 - 2 * x - 5, 2.0, 3.0),
    "exponential": (lambda x: math.exp(x) - 1e6, 0.0, 30.0),
    "steep step": (lambda x: math.tanh(50 * (x - 0.3)), -1.0, 2.0),
    "flat at the root": (lambda x: x**9, -1.0, 2.0),
    "logarithm": (lambda x: math.log(x) + 3, 1e-9, 5.0),
    "pole": (lambda x: 1 / (x - 0.5) if x != 0.5 else 0.0, 0.0, 1.0),
    "wide bracket": (lambda x: math.atan(x) - 1.2, -1e6, 1e6),
    "tiny root": (lambda x: x - 1e-8, 0.0, 1.0),
    "large root": (lambda x: x - 123456.789, 0.0, 1e7),
    "sign only": (lambda x: math.copysign(1.0, x - 0.7), 0.0, 1.0),
}
TOLERANCES = [(2e-12, 4 * 2.220446049250313e-16), (1e-10, 1e-10), (1e-14, 1e-10)]


def _counted(f):
    calls = []

    def counted(x: float) -> float:
        calls.append(x)
        return f(x)

    return counted, calls


@pytest.mark.parametrize("xtol, rtol", TOLERANCES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_roots_are_scipys_to_the_tolerance(name, xtol, rtol):
    f, a, b = FUNCTIONS[name]
    ours, our_calls = _counted(f)
    theirs, their_calls = _counted(f)
    root = find_root(ours, a, b, xtol=xtol, rtol=rtol, maxiter=200)
    expected = brentq(theirs, a, b, xtol=xtol, rtol=rtol, maxiter=200)
    # Both stop once the bracket is narrower than xtol + rtol |x|, so they stop within
    # that width of each other. The algorithm is the same: as many evaluations, but where
    # rounding in an interpolated step differs in its last bit and the paths part (seen
    # on x^9, whose root is flat to 1e-30: 135 against 133), a few percent more at most.
    assert abs(root - expected) <= xtol + rtol * abs(expected) + 1e-300
    assert len(our_calls) <= 1.05 * len(their_calls) + 1


def test_a_root_at_an_end_is_returned_without_a_search():
    assert find_root(lambda x: x - 1.0, 1.0, 2.0) == 1.0
    assert find_root(lambda x: x - 2.0, 1.0, 2.0) == 2.0


def test_no_sign_change_is_an_error_naming_both_ends():
    with pytest.raises(ValueError, match="same sign"):
        find_root(lambda x: x * x + 1.0, -1.0, 1.0)


def test_too_few_iterations_is_a_convergence_error():
    with pytest.raises(ConvergenceError, match="Brent"):
        find_root(lambda x: x**9, -1.0, 2.0, xtol=1e-300, rtol=1e-10, maxiter=20)
