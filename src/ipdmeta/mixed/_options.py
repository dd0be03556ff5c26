"""Option strings as Enums that also accept the plain string."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from ipdmeta.errors import ModelSpecError


class _Option(StrEnum):
    @classmethod
    def parse(cls, value: object, what: str) -> Self:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("_", "-")
            key = _ALIASES.get(key, key)
            for member in cls:
                if member.value == key:
                    return member
        choices = ", ".join(repr(m.value) for m in cls)
        raise ModelSpecError(f"unknown {what} {value!r}; choose one of {choices}")


class DDF(_Option):
    """Denominator degrees of freedom for t and F tests."""

    SATTERTHWAITE = "satterthwaite"
    KENWARD_ROGER = "kenward-roger"
    RESIDUAL = "residual"
    ASYMPTOTIC = "asymptotic"


class Adjust(_Option):
    """Multiplicity adjustment of pairwise contrasts."""

    NONE = "none"
    HOLM = "holm"
    BONFERRONI = "bonferroni"
    TUKEY = "tukey"
    FDR = "fdr"


class ConfintMethod(_Option):
    """How confidence intervals are computed."""

    PROFILE = "profile"
    WALD = "wald"
    BOOTSTRAP = "bootstrap"


_ALIASES = {
    "kr": "kenward-roger",
    "kenward roger": "kenward-roger",
    "kenwardroger": "kenward-roger",
    "satt": "satterthwaite",
    "z": "asymptotic",
    "bh": "fdr",
    "boot": "bootstrap",
}
