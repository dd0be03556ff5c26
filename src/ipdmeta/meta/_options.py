"""Option enums for the meta-analysis engine; each also accepts its plain string."""

from __future__ import annotations

from enum import StrEnum

from ipdmeta.errors import ModelSpecError

__all__ = ["Method", "Test", "parse_level", "parse_method", "parse_test"]


class Method(StrEnum):
    """Estimator of the between-study variance tau2, named as in metafor's ``rma(method=)``."""

    FE = "FE"
    DL = "DL"
    HE = "HE"
    HS = "HS"
    SJ = "SJ"
    ML = "ML"
    REML = "REML"
    EB = "EB"
    PM = "PM"


class Test(StrEnum):
    """Test and interval for the model coefficients: normal (``z``) or Knapp-Hartung."""

    Z = "z"
    KNHA = "knha"


_METHOD_ALIASES = {"EE": "FE", "CE": "FE"}


def parse_method(method: Method | str) -> Method:
    """Return ``method`` as a :class:`Method`; metafor's ``"EE"``/``"CE"`` mean ``"FE"``."""
    if isinstance(method, Method):
        return method
    if isinstance(method, str):
        key = method.strip().upper()
        key = _METHOD_ALIASES.get(key, key)
        try:
            return Method(key)
        except ValueError:
            pass
    choices = ", ".join(repr(m.value) for m in Method)
    raise ModelSpecError(f"unknown method {method!r}; expected one of {choices}")


def parse_test(test: Test | str) -> Test:
    """Return ``test`` as a :class:`Test` (``"z"`` or ``"knha"``; ``"t"``/``"hksj"`` alias knha)."""
    if isinstance(test, Test):
        return test
    if isinstance(test, str):
        key = test.strip().lower()
        if key in {"knha", "hksj", "hk", "t"}:
            return Test.KNHA
        if key == "z":
            return Test.Z
    raise ModelSpecError(f"unknown test {test!r}; expected 'z' or 'knha'")


def parse_level(level: float) -> float:
    """Return the confidence level as a fraction in (0, 1).

    A value in (1, 100) is read as a percentage, as metafor's ``level=95``.
    """
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ModelSpecError(f"level must be a number such as 0.95, got {level!r}") from None
    if 1.0 < value < 100.0:
        value /= 100.0
    if not 0.0 < value < 1.0:
        raise ModelSpecError(f"level must lie between 0 and 1 (e.g. 0.95), got {level!r}")
    return value
