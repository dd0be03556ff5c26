"""Effect sizes of study-level data (metafor's ``escalc``) and study summaries of IPD."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import poch

from ipdmeta._display import RichDisplay, SummaryText
from ipdmeta.errors import DataError, ModelSpecError
from ipdmeta.meta._checks import as_float_vector
from ipdmeta.meta.univariate import MetaResult, random_effects

__all__ = [
    "EffectSizes",
    "Measure",
    "StudySummaries",
    "back_transform",
    "escalc",
    "study_summaries",
    "transf_ipft",
]


class Measure(StrEnum):
    """Outcome measures, named as in metafor's ``escalc(measure=)``."""

    # two groups, 2x2 table (ai, bi, ci, di or ai, n1i, ci, n2i)
    RR = "RR"  # log risk ratio
    OR = "OR"  # log odds ratio
    RD = "RD"  # risk difference
    PETO = "PETO"  # log odds ratio by Peto's method
    AS = "AS"  # arcsine square root risk difference
    # two groups, events and person-time (x1i, x2i, t1i, t2i)
    IRR = "IRR"  # log incidence rate ratio
    IRD = "IRD"  # incidence rate difference
    # two groups, means (m1i, m2i, sd1i, sd2i, n1i, n2i)
    MD = "MD"  # raw mean difference
    SMD = "SMD"  # standardized mean difference, Hedges' g
    SMDH = "SMDH"  # standardized mean difference with heteroscedastic variances
    ROM = "ROM"  # log ratio of means
    # correlations (ri, ni)
    COR = "COR"  # raw correlation
    ZCOR = "ZCOR"  # Fisher r-to-z transformed correlation
    # one group
    MN = "MN"  # raw mean (mi, sdi, ni)
    MNLN = "MNLN"  # log mean (mi, sdi, ni)
    CVLN = "CVLN"  # log coefficient of variation (mi, sdi, ni)
    PR = "PR"  # raw proportion (xi, ni)
    PLO = "PLO"  # logit of the proportion (xi, ni)
    PFT = "PFT"  # Freeman-Tukey double arcsine of the proportion (xi, ni)
    IR = "IR"  # raw incidence rate (xi, ti)
    IRLN = "IRLN"  # log incidence rate (xi, ti)
    # one group, two time points (m1i, m2i, sd1i, sd2i, ni, ri)
    MC = "MC"  # raw mean change
    SMCC = "SMCC"  # standardized mean change, change-score standardization
    SMCR = "SMCR"  # standardized mean change, raw-score standardization
    ROMC = "ROMC"  # log ratio of means


_TWO_BY_TWO = frozenset({Measure.RR, Measure.OR, Measure.RD, Measure.PETO, Measure.AS})
_PERSON_TIME = frozenset({Measure.IRR, Measure.IRD})
_TWO_GROUP_MEANS = frozenset({Measure.MD, Measure.SMD, Measure.SMDH, Measure.ROM})
_CORRELATION = frozenset({Measure.COR, Measure.ZCOR})
_ONE_GROUP_MEAN = frozenset({Measure.MN, Measure.MNLN, Measure.CVLN})
_PROPORTION = frozenset({Measure.PR, Measure.PLO, Measure.PFT})
_RATE = frozenset({Measure.IR, Measure.IRLN})
_PRE_POST = frozenset({Measure.MC, Measure.SMCC, Measure.SMCR, Measure.ROMC})
# metafor's default add is 1/2, except for these measures, where it is 0 unless `add` is
# given explicitly (escalc's Note).
_NO_DEFAULT_ADD = frozenset({Measure.AS, Measure.PFT})
# yi on the log scale: back-transformed by exp.
_LOG_SCALE = frozenset(
    {
        Measure.RR,
        Measure.OR,
        Measure.PETO,
        Measure.IRR,
        Measure.ROM,
        Measure.MNLN,
        Measure.CVLN,
        Measure.IRLN,
        Measure.ROMC,
    }
)

_VTYPES = ("UB", "LS", "LS2", "HO", "ST", "CS", "AV", "AVHO")  # metafor 3.8's vtype names
_TO = ("only0", "all", "if0all", "none")


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class EffectSizes(RichDisplay):
    """Effect sizes ``yi`` and sampling variances ``vi`` of k studies.

    ``ni`` holds each study's total sample size as metafor records it (the ``ni``
    attribute of ``yi``, before any continuity correction): ``ni`` of one group,
    ``n1i + n2i`` (``ai + bi + ci + di``) of two groups, the person-time ``ti`` (``t1i +
    t2i``) of incidence rates. It is needed to back-transform PFT.
    """

    measure: Measure
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray

    @property
    def k(self) -> int:
        return int(self.yi.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``yi, vi, ni, yi_back`` (``yi_back`` on the natural scale).

        AS (the arcsine risk difference) has no back-transformation, so no ``yi_back``.
        """
        frame = pd.DataFrame({"yi": self.yi, "vi": self.vi, "ni": self.ni})
        if self.measure is not Measure.AS:
            frame["yi_back"] = self.yi_back
        return frame

    def summary(self) -> SummaryText:
        """The effect sizes as text."""
        head = f"Effect sizes (measure {self.measure.value}, k = {self.k})"
        return SummaryText(
            head + "\n" + self.to_frame().to_string(float_format=lambda x: f"{x:.4f}")
        )

    @property
    def yi_back(self) -> np.ndarray:
        """Each study's effect size back on the natural scale (each with its own ni)."""
        return back_transform(self.measure, self.yi, self.ni)

    def back_transform_result(self, res: MetaResult) -> dict[str, float]:
        """The pooled estimate, CI and prediction interval of ``res`` on the natural scale.

        As ``predict(res, transf=...)``: log measures by exp, ZCOR by tanh, PLO by the
        inverse logit, PFT by the inverse of Miller (1978) at the harmonic mean of the
        sample sizes (``transf.ipft.hm``); the other measures are returned as they are.
        """
        n_hm = _harmonic_mean(self.ni)
        out = {}
        for name in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
            value = np.array([getattr(res, name)])
            out[name] = float(back_transform(self.measure, value, n_hm)[0])
        return out


def _harmonic_mean(ni: np.ndarray) -> float:
    return float(1.0 / np.mean(1.0 / ni))


def transf_ipft(x: Any, ni: Any) -> np.ndarray:
    """Inverse Freeman-Tukey double arcsine (Miller 1978), as ``transf.ipft(x, ni)``."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(ni, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * x)
        inner = 1 - (s + (s - 1 / s) / n) ** 2
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(inner))
    lo = _pft(np.zeros_like(x), n)
    hi = _pft(np.ones_like(x) * n, n)
    z = np.where(x > hi, 1.0, z)
    z = np.where(x < lo, 0.0, z)
    return np.asarray(z, dtype=float)


def _pft(xi: np.ndarray, ni: np.ndarray) -> np.ndarray:
    return 0.5 * (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1))))


def back_transform(measure: Measure | str, values: Any, ni: Any = None) -> np.ndarray:
    """Back-transform effect sizes to the natural scale.

    Log measures (RR, OR, PETO, IRR, ROM, ROMC, IRLN, MNLN, CVLN) by exp, ZCOR by tanh
    (``transf.ztor``), PLO by the inverse logit, PFT by :func:`transf_ipft` with ``ni``
    (one sample size per value, or one for all: for a pooled estimate pass the harmonic
    mean of the studies' sizes, as ``transf.ipft.hm``). Measures on their natural scale
    (differences, raw proportions, means, rates, correlations, standardized differences)
    are returned as given. AS has no back-transformation.
    """
    m = _measure(measure)
    x = np.asarray(values, dtype=float)
    if m in _LOG_SCALE:
        return np.asarray(np.exp(x))
    if m is Measure.ZCOR:
        return np.asarray(np.tanh(x))
    if m is Measure.PLO:
        return np.asarray(1.0 / (1.0 + np.exp(-x)))
    if m is Measure.AS:
        raise ModelSpecError(
            "measure AS (arcsine square root risk difference) has no back-transformation"
        )
    if m is Measure.PFT:
        if ni is None:
            raise ModelSpecError("back-transforming PFT needs the sample sizes ni")
        return transf_ipft(x, ni)
    return x.copy()


def _measure(measure: Measure | str) -> Measure:
    try:
        return Measure(str(measure).upper()) if not isinstance(measure, Measure) else measure
    except ValueError:
        opts = ", ".join(m.value for m in Measure)
        raise ModelSpecError(f"unknown measure {measure!r}; expected one of {opts}") from None


# ----------------------------------------------------------------------------- escalc
# What each argument holds, for messages.
_ARG_TEXT = {
    "ai": "ai (events in group 1)",
    "bi": "bi (non-events in group 1)",
    "ci": "ci (events in group 2)",
    "di": "di (non-events in group 2)",
    "n1i": "n1i (size of group 1)",
    "n2i": "n2i (size of group 2)",
    "x1i": "x1i (events in group 1)",
    "x2i": "x2i (events in group 2)",
    "t1i": "t1i (person-time of group 1)",
    "t2i": "t2i (person-time of group 2)",
    "m1i": "m1i (means of group 1)",
    "m2i": "m2i (means of group 2)",
    "sd1i": "sd1i (SDs of group 1)",
    "sd2i": "sd2i (SDs of group 2)",
    "xi": "xi (event counts)",
    "mi": "mi (means)",
    "sdi": "sdi (standard deviations)",
    "ni": "ni (sample sizes)",
    "ri": "ri (correlations)",
    "ti": "ti (person-time)",
}
_PRE_POST_TEXT = {
    "m1i": "m1i (means at the second time point)",
    "m2i": "m2i (means at the first time point)",
    "sd1i": "sd1i (SDs at the second time point)",
    "sd2i": "sd2i (SDs at the first time point)",
    "ri": "ri (correlations between the time points)",
}

# Per family: the arguments a measure needs (a tuple of names is "one of these"), and
# those it may take besides.
_Need = tuple[str | tuple[str, ...], ...]
_NEEDS: dict[frozenset[Measure], tuple[_Need, tuple[str, ...]]] = {
    _TWO_BY_TWO: (("ai", ("bi", "n1i"), "ci", ("di", "n2i")), ()),
    _PERSON_TIME: (("x1i", "x2i", "t1i", "t2i"), ()),
    _TWO_GROUP_MEANS: (("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"), ()),
    _CORRELATION: (("ri", "ni"), ()),
    _ONE_GROUP_MEAN: (("mi", "sdi", "ni"), ()),
    _PROPORTION: (("xi", ("ni", "mi")), ()),
    _RATE: (("xi", "ti"), ()),
    _PRE_POST: (("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"), ()),
}


def _needs(m: Measure) -> tuple[_Need, tuple[str, ...]]:
    if m is Measure.SMD:
        # Hedges' g from means and SDs, from d values (di) or from t statistics (ti).
        return (("n1i", "n2i"), ("m1i", "m2i", "sd1i", "sd2i", "di", "ti"))
    if m is Measure.SMCR:
        # raw-score standardization uses sd1i only; sd2i may be given (escalc ignores it)
        return (("m1i", "m2i", "sd1i", "ni", "ri"), ("sd2i",))
    for family, spec in _NEEDS.items():
        if m in family:
            return spec
    raise AssertionError(m)  # pragma: no cover - every measure is in a family


def _arg_text(m: Measure, name: str) -> str:
    if m in _PRE_POST and name in _PRE_POST_TEXT:
        return _PRE_POST_TEXT[name]
    if m in _PROPORTION and name == "mi":
        return "mi (non-event counts)"
    return _ARG_TEXT[name]


def _need_text(m: Measure, need: _Need) -> str:
    parts = []
    for item in need:
        if isinstance(item, tuple):
            parts.append(" or ".join(_arg_text(m, n) for n in item))
        else:
            parts.append(_arg_text(m, item))
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _take_arguments(m: Measure, given: dict[str, Any]) -> dict[str, np.ndarray]:
    """The measure's arguments as float vectors of one length; refuses missing or extra."""
    need, extra = _needs(m)
    allowed = {n for item in need for n in (item if isinstance(item, tuple) else (item,))}
    allowed |= set(extra)
    present = {name for name, value in given.items() if value is not None}
    unused = sorted(present - allowed)
    if unused:
        raise ModelSpecError(
            f"measure {m.value} does not use {', '.join(unused)}; "
            f"it takes {', '.join(sorted(allowed))}"
        )
    missing = []
    for item in need:
        alternatives = item if isinstance(item, tuple) else (item,)
        if not present.intersection(alternatives):
            missing.append(" or ".join(alternatives))
    if m is Measure.SMD:
        means = ("m1i", "m2i", "sd1i", "sd2i")
        sources = [
            bool(present.intersection(means)),
            "di" in present,
            "ti" in present,
        ]
        if sum(sources) != 1:
            raise ModelSpecError(
                "measure SMD needs n1i and n2i (group sizes) and one of: m1i, m2i, sd1i, "
                "sd2i (means and SDs), di (standardized mean differences) or ti (t "
                "statistics)"
            )
        missing += [n for n in means if sources[0] and n not in present]
    if missing:
        raise ModelSpecError(
            f"measure {m.value} needs {_need_text(m, need)}; missing: {', '.join(missing)}"
        )
    arrays = {name: as_float_vector(given[name], name) for name in sorted(present)}
    _same_length(**arrays)
    if next(iter(arrays.values())).shape[0] == 0:
        raise DataError(f"the inputs of measure {m.value} are empty; at least one study is needed")
    _finite(**arrays)
    return arrays


def _study(a: np.ndarray, bad: np.ndarray) -> tuple[int, float]:
    i = int(np.flatnonzero(bad)[0])
    return i, float(a[i])


def _not_negative(a: np.ndarray, name: str, what: str) -> None:
    if (a < 0).any():
        i, v = _study(a, a < 0)
        raise DataError(f"{name} has negative {what} (study {i + 1}: {v:g})")


def _positive(a: np.ndarray, name: str, what: str) -> None:
    if (a <= 0).any():
        i, v = _study(a, a <= 0)
        raise DataError(f"{name} has {what} <= 0 (study {i + 1}: {v:g})")


def _correlations(r: np.ndarray) -> None:
    if (np.abs(r) > 1).any():
        i, v = _study(r, np.abs(r) > 1)
        raise DataError(f"ri has correlations outside [-1, 1] (study {i + 1}: {v:g})")


def _undefined_where(bad: np.ndarray, message: Callable[[int], str]) -> None:
    """Refuse a study whose effect size metafor cannot compute (escalc gives it NA)."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{message(i)}; metafor's escalc returns NA for such a study. Correct or remove it"
        )


def _hedges_c(m: np.ndarray) -> np.ndarray:
    """Hedges' exact small-sample correction c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)).

    The gamma ratio is the Pochhammer symbol ((m-1)/2)_(1/2), which keeps full precision
    for large m (the difference of two log-gammas, as metafor computes it, loses ~1e-11
    relative at m = 1e5 and ~1e-9 at m = 2e6).
    """
    return np.asarray(poch((m - 1) / 2, 0.5) / np.sqrt(m / 2))


def _continuity(cells: list[np.ndarray], add: float, to: str) -> list[np.ndarray]:
    """Add ``add`` to every cell of the studies ``to`` selects (metafor's add/to).

    A study has a zero cell when any of its cells is 0. ``only0``: the studies with a zero
    cell; ``all``: every study; ``if0all``: every study when any has a zero cell;
    ``none``: no study.
    """
    zero = np.zeros(cells[0].shape, dtype=bool)
    for c in cells:
        zero |= c == 0
    if to == "all":
        which = np.ones_like(zero)
    elif to == "only0":
        which = zero
    elif to == "if0all":
        which = np.full_like(zero, bool(zero.any()))
    else:
        which = np.zeros_like(zero)
    return [np.where(which, c + add, c) for c in cells]


def escalc(
    measure: Measure | str,
    *,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    x1i: Any = None,
    x2i: Any = None,
    t1i: Any = None,
    t2i: Any = None,
    m1i: Any = None,
    m2i: Any = None,
    sd1i: Any = None,
    sd2i: Any = None,
    xi: Any = None,
    mi: Any = None,
    ri: Any = None,
    ti: Any = None,
    sdi: Any = None,
    ni: Any = None,
    add: float | None = None,
    to: str = "only0",
    vtype: str = "LS",
) -> EffectSizes:
    """Effect sizes and their sampling variances, as ``metafor::escalc`` (metafor 3.8).

    Arguments are named as metafor's. Every one is a vector with one entry per study.

    Two groups, 2x2 table (``ai, ci`` events, ``bi, di`` non-events, or ``n1i, n2i`` group
    sizes instead of ``bi, di``): ``"RR"`` log risk ratio, ``"OR"`` log odds ratio,
    ``"RD"`` risk difference, ``"PETO"`` log odds ratio by Peto's method, ``"AS"`` arcsine
    square root risk difference. Events and person-time (``x1i, x2i, t1i, t2i``):
    ``"IRR"`` log incidence rate ratio, ``"IRD"`` incidence rate difference. Means (``m1i,
    m2i, sd1i, sd2i, n1i, n2i``): ``"MD"`` raw mean difference, ``"SMD"`` standardized
    mean difference with Hedges' exact correction (also from ``di``, Cohen's d, or ``ti``,
    t statistics, with ``n1i, n2i``), ``"SMDH"`` with heteroscedastic variances,
    ``"ROM"`` log ratio of means. Correlations (``ri, ni``): ``"COR"``, ``"ZCOR"``
    (Fisher's z).

    One group: ``"MN"`` mean, ``"MNLN"`` log mean, ``"CVLN"`` log coefficient of variation
    (``mi, sdi, ni``); ``"PR"`` proportion, ``"PLO"`` its logit, ``"PFT"`` Freeman-Tukey
    double arcsine (``xi`` events and ``ni`` sizes, or ``mi`` non-events as in metafor);
    ``"IR"`` incidence rate, ``"IRLN"`` its log (``xi, ti``). Two time points of one group
    (``m1i, m2i`` means at the later and earlier occasion, ``sd1i, sd2i``, ``ni``, ``ri``
    the correlation between occasions): ``"MC"`` raw mean change, ``"SMCC"`` standardized
    by the SD of the change scores, ``"SMCR"`` standardized by ``sd1i`` (``sd2i`` not
    needed), ``"ROMC"`` log ratio of means.

    Parameters
    ----------
    add, to
        Continuity correction of the count measures, as metafor: ``add`` (default 1/2,
        but 0 for AS and PFT unless given) is added to every cell (``ai, bi, ci, di``;
        ``x1i, x2i``; ``xi`` and ``ni - xi``; ``xi`` of IR/IRLN) of the studies with a zero
        cell (``to="only0"``), of all studies (``"all"``), of all studies when any has a
        zero cell (``"if0all"``) or of none (``"none"``). metafor corrects PR, RD, IR and
        PETO too; the uncorrected values are not available (metafor's ``addyi``/``addvi``).
    vtype
        metafor's default ``"LS"`` (large-sample variances) for every measure; the other
        vtypes are not supported yet.

    Returns
    -------
    EffectSizes
        ``yi, vi`` and ``ni`` (metafor's ``ni`` attribute: the total sample size, or
        person-time, before any correction).

    Raises
    ------
    ModelSpecError
        An unknown measure, ``to`` or ``vtype``, a negative ``add``, an argument the
        measure needs missing, or one it does not use given.
    DataError
        Non-numeric, missing or infinite values, vectors of unequal lengths, values
        metafor refuses (negative counts or SDs, events above the group size, sizes or
        person-time <= 0, correlations outside [-1, 1], negative means for MNLN/CVLN),
        and a study whose effect size or variance is undefined, where metafor returns NA
        for that study (a zero cell left uncorrected under a log or Peto measure; ROM/ROMC
        means of opposite signs or 0; an SD of 0 under a standardized measure or CVLN; too
        few subjects for Hedges' correction (SMD, SMDH: n1i + n2i < 4; SMCC, SMCR: ni < 3)
        or for the variance (COR, ZCOR: ni <= 3; SMDH: n1i or n2i = 1; CVLN: ni = 1); a
        Fisher z of r = +-1). Studies are numbered from 0 in the messages.
    """
    m = _measure(measure)
    if to not in _TO:
        raise ModelSpecError(f"to must be 'only0', 'all', 'if0all' or 'none', got {to!r}")
    if vtype not in _VTYPES:
        raise ModelSpecError(f"unknown vtype {vtype!r}; metafor's are {', '.join(_VTYPES)}")
    if vtype != "LS":
        raise ModelSpecError(
            f"vtype={vtype!r} is not supported yet; ipdmeta implements metafor's default "
            "vtype='LS' (large-sample variances)"
        )
    if add is None:
        add_value = 0.0 if m in _NO_DEFAULT_ADD else 0.5
    else:
        try:
            add_value = float(add)
        except (TypeError, ValueError):
            raise ModelSpecError(f"add must be a number >= 0, got {add!r}") from None
        if not (math.isfinite(add_value) and add_value >= 0):
            raise ModelSpecError(f"add must be a number >= 0, got {add!r}")
    given = {
        "ai": ai,
        "bi": bi,
        "ci": ci,
        "di": di,
        "n1i": n1i,
        "n2i": n2i,
        "x1i": x1i,
        "x2i": x2i,
        "t1i": t1i,
        "t2i": t2i,
        "m1i": m1i,
        "m2i": m2i,
        "sd1i": sd1i,
        "sd2i": sd2i,
        "xi": xi,
        "mi": mi,
        "ri": ri,
        "ti": ti,
        "sdi": sdi,
        "ni": ni,
    }
    a = _take_arguments(m, given)
    if m in _TWO_BY_TWO:
        yi, vi, n = _two_by_two(m, a, add_value, to)
    elif m in _PERSON_TIME:
        yi, vi, n = _person_time(m, a, add_value, to)
    elif m in _TWO_GROUP_MEANS:
        yi, vi, n = _two_group_means(m, a)
    elif m in _CORRELATION:
        yi, vi, n = _correlation(m, a)
    elif m in _ONE_GROUP_MEAN:
        yi, vi, n = _one_group_mean(m, a)
    elif m in _PROPORTION:
        yi, vi, n = _proportion(m, a, add_value, to)
    elif m in _RATE:
        yi, vi, n = _rate(m, a, add_value, to)
    else:
        yi, vi, n = _pre_post(m, a)
    # A value metafor recodes to NA (non-finite yi or vi, or vi < 0) that no check above
    # explained, e.g. a zero cell left uncorrected.
    bad = ~np.isfinite(yi) | ~np.isfinite(vi) | (vi < 0)
    _undefined_where(
        bad,
        lambda i: (
            f"measure {m.value} is undefined for study {i + 1} (yi = {yi[i]:g}, vi = {vi[i]:g})"
            + _zero_cell_hint(m, a, i, add_value, to)
        ),
    )
    return EffectSizes(m, np.asarray(yi, float), np.asarray(vi, float), np.asarray(n, float))


def _zero_cell_hint(m: Measure, a: dict[str, np.ndarray], i: int, add: float, to: str) -> str:
    names = [n for n in ("ai", "bi", "ci", "di", "x1i", "x2i", "xi") if n in a]
    zeros = [n for n in names if a[n][i] == 0]
    if zeros and (to == "none" or add == 0):
        return (
            f": {', '.join(zeros)} is 0 and no continuity correction is applied "
            f"(add={add:g}, to={to!r})"
        )
    return ""


def _two_by_two(
    m: Measure, a: dict[str, np.ndarray], add: float, to: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ai, ci = a["ai"], a["ci"]
    _not_negative(ai, "ai", "counts")
    _not_negative(ci, "ci", "counts")
    cells = {}
    for ev, non, size in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
        events = a[ev]
        if size in a:
            _not_negative(a[size], size, "group sizes")
            if (events > a[size]).any():
                i, _ = _study(events, events > a[size])
                raise DataError(
                    f"{ev} is larger than {size} for study {i + 1} ({events[i]:g} > {a[size][i]:g})"
                )
        if non in a:
            _not_negative(a[non], non, "counts")
            if size in a and (a[size] != events + a[non]).any():
                i, _ = _study(events, a[size] != events + a[non])
                raise DataError(
                    f"{size} is not {ev} + {non} for study {i + 1} "
                    f"({a[size][i]:g} != {events[i]:g} + {a[non][i]:g})"
                )
            cells[non] = a[non]
        else:
            cells[non] = a[size] - events
    bi, di = cells["bi"], cells["di"]
    n_total = ai + bi + ci + di
    ai, bi, ci, di = _continuity([ai, bi, ci, di], add, to)
    n1, n2 = ai + bi, ci + di
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = ai / n1, ci / n2
        if m is Measure.RR:
            yi = np.log(p1) - np.log(p2)
            vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif m is Measure.OR:
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
        elif m is Measure.RD:
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        elif m is Measure.PETO:
            # (O - E) / V with the hypergeometric mean E and variance V of ai given the
            # margins; yi = (O - E) / V, vi = 1 / V.
            n = n1 + n2
            events, non_events = ai + ci, bi + di
            expected = events * n1 / n
            var = events * non_events * (n1 / n) * (n2 / n) / (n - 1)
            yi = (ai - expected) / var
            vi = 1 / var
        else:  # AS
            yi = np.arcsin(np.sqrt(p1)) - np.arcsin(np.sqrt(p2))
            vi = 1 / (4 * n1) + 1 / (4 * n2)
    return yi, vi, n_total


def _person_time(
    m: Measure, a: dict[str, np.ndarray], add: float, to: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _not_negative(a["x1i"], "x1i", "event counts")
    _not_negative(a["x2i"], "x2i", "event counts")
    _positive(a["t1i"], "t1i", "person-times")
    _positive(a["t2i"], "t2i", "person-times")
    t1, t2 = a["t1i"], a["t2i"]
    x1, x2 = _continuity([a["x1i"], a["x2i"]], add, to)
    with np.errstate(divide="ignore", invalid="ignore"):
        ir1, ir2 = x1 / t1, x2 / t2
        if m is Measure.IRR:
            yi = np.log(ir1) - np.log(ir2)
            vi = 1 / x1 + 1 / x2
        else:  # IRD
            yi = ir1 - ir2
            vi = ir1 / t1 + ir2 / t2
    return yi, vi, t1 + t2


def _two_group_means(
    m: Measure, a: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n1, n2 = a["n1i"], a["n2i"]
    _positive(n1, "n1i", "group sizes")
    _positive(n2, "n2i", "group sizes")
    if m is Measure.SMD and "m1i" not in a:
        d = a["di"] if "di" in a else a["ti"] * np.sqrt(1 / n1 + 1 / n2)
        m1, m2, sd1, sd2 = d, np.zeros_like(d), np.ones_like(d), np.ones_like(d)
    else:
        m1, m2, sd1, sd2 = a["m1i"], a["m2i"], a["sd1i"], a["sd2i"]
        _not_negative(sd1, "sd1i", "standard deviations")
        _not_negative(sd2, "sd2i", "standard deviations")
    n = n1 + n2
    df = n - 2
    if m in (Measure.SMD, Measure.SMDH):
        _undefined_where(
            df <= 1,
            lambda i: (
                f"{m.value} needs n1i + n2i >= 4 (Hedges' correction c(m), m = n1i + n2i "
                f"- 2, is defined for m > 1); study {i + 1} has n1i + n2i = {n[i]:g}"
            ),
        )
    if m is Measure.MD:
        return m1 - m2, sd1**2 / n1 + sd2**2 / n2, n
    if m is Measure.SMD:
        sd_pooled = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df)
        _undefined_where(
            sd_pooled == 0,
            lambda i: f"SMD: the pooled SD of study {i + 1} is 0 (sd1i and sd2i are 0)",
        )
        yi = _hedges_c(df) * (m1 - m2) / sd_pooled
        return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * n), n
    if m is Measure.SMDH:
        _undefined_where(
            (n1 <= 1) | (n2 <= 1),
            lambda i: (
                f"SMDH's variance divides by n1i - 1 and n2i - 1; study {i + 1} has a group "
                f"of 1 (n1i = {n1[i]:g}, n2i = {n2[i]:g})"
            ),
        )
        var_sum = sd1**2 + sd2**2
        _undefined_where(var_sum == 0, lambda i: f"SMDH: sd1i and sd2i of study {i + 1} are both 0")
        c = _hedges_c(df)
        yi = c * (m1 - m2) / np.sqrt(var_sum / 2)
        # Bonett's (2009) large-sample variance, scaled by c^2 as metafor 3.8 does.
        vi = yi**2 * (sd1**4 / (n1 - 1) + sd2**4 / (n2 - 1)) / (2 * var_sum**2) + (
            sd1**2 / (n1 - 1) + sd2**2 / (n2 - 1)
        ) / (var_sum / 2)
        return yi, c**2 * vi, n
    # ROM
    _ratio_of_means(m1, m2)
    yi = np.log(m1 / m2)
    return yi, sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2), n


def _ratio_of_means(m1: np.ndarray, m2: np.ndarray) -> None:
    _undefined_where(
        m1 * m2 <= 0,
        lambda i: (
            f"the log ratio of means needs m1i and m2i of the same sign and not 0; study "
            f"{i + 1} has m1i = {m1[i]:g}, m2i = {m2[i]:g}"
        ),
    )


def _correlation(m: Measure, a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, n = a["ri"], a["ni"]
    _correlations(r)
    _positive(n, "ni", "sample sizes")
    _undefined_where(
        n <= 3,
        lambda i: (
            f"{m.value} needs ni > 3 (metafor gives no variance); study {i + 1} has ni = {n[i]:g}"
        ),
    )
    if m is Measure.COR:
        return r.copy(), (1 - r**2) ** 2 / (n - 1), n
    _undefined_where(
        np.abs(r) == 1,
        lambda i: f"the Fisher z of a correlation of {r[i]:g} (study {i + 1}) is infinite",
    )
    return np.arctanh(r), 1 / (n - 3), n


def _one_group_mean(
    m: Measure, a: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, sd, n = a["mi"], a["sdi"], a["ni"]
    _not_negative(sd, "sdi", "standard deviations")
    _positive(n, "ni", "sample sizes")
    if m is Measure.MN:
        return mean.copy(), sd**2 / n, n
    _not_negative(mean, "mi", "means")
    _undefined_where(
        mean == 0, lambda i: f"{m.value} takes the log of the mean, which is 0 for study {i + 1}"
    )
    if m is Measure.MNLN:
        return np.log(mean), sd**2 / (n * mean**2), n
    # CVLN
    _undefined_where(sd == 0, lambda i: f"CVLN takes the log of sdi, which is 0 for study {i + 1}")
    _undefined_where(n <= 1, lambda i: f"CVLN divides by ni - 1; study {i + 1} has ni = {n[i]:g}")
    yi = np.log(sd / mean) + 1 / (2 * (n - 1))
    return yi, 1 / (2 * (n - 1)) + sd**2 / (n * mean**2), n


def _proportion(
    m: Measure, a: dict[str, np.ndarray], add: float, to: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = a["xi"]
    if "ni" in a:
        _positive(a["ni"], "ni", "sample sizes")
    _not_negative(x, "xi", "event counts")
    if "mi" in a:
        non = a["mi"]
        _not_negative(non, "mi", "non-event counts")
        if "ni" in a and (a["ni"] != x + non).any():
            i, _ = _study(x, a["ni"] != x + non)
            raise DataError(
                f"ni is not xi + mi for study {i + 1} ({a['ni'][i]:g} != {x[i]:g} + {non[i]:g})"
            )
        n = x + non
        _positive(n, "xi + mi", "sample sizes")
    else:
        n = a["ni"]
    if (x > n).any():
        i = int(np.flatnonzero(x > n)[0])
        raise DataError(f"xi is larger than ni for study {i + 1} ({x[i]:g} > {n[i]:g})")
    x_c, non_c = _continuity([x, n - x], add, to)
    n_c = x_c + non_c
    if m is Measure.PFT:
        return _pft(x_c, n_c), 1.0 / (4 * n_c + 2), n
    p = x_c / n_c
    if m is Measure.PR:
        return p, p * (1 - p) / n_c, n
    with np.errstate(divide="ignore"):
        return np.log(p / (1 - p)), 1 / x_c + 1 / non_c, n


def _rate(
    m: Measure, a: dict[str, np.ndarray], add: float, to: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = a["ti"]
    _not_negative(a["xi"], "xi", "event counts")
    _positive(t, "ti", "person-times")
    (x,) = _continuity([a["xi"]], add, to)
    rate = x / t
    if m is Measure.IR:
        return rate, rate / t, t
    with np.errstate(divide="ignore"):
        return np.log(rate), 1 / x, t


def _pre_post(m: Measure, a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m1, m2, sd1, n, r = a["m1i"], a["m2i"], a["sd1i"], a["ni"], a["ri"]
    _not_negative(sd1, "sd1i", "standard deviations")
    sd2 = a.get("sd2i")
    if sd2 is not None:
        _not_negative(sd2, "sd2i", "standard deviations")
    _correlations(r)
    _positive(n, "ni", "sample sizes")
    if m in (Measure.SMCC, Measure.SMCR):
        _undefined_where(
            n <= 2,
            lambda i: (
                f"{m.value} needs ni >= 3 (Hedges' correction c(ni - 1) is defined for "
                f"ni - 1 > 1); study {i + 1} has ni = {n[i]:g}"
            ),
        )
    if m is Measure.SMCR:
        _undefined_where(sd1 == 0, lambda i: f"SMCR divides by sd1i, which is 0 for study {i + 1}")
        yi = _hedges_c(n - 1) * (m1 - m2) / sd1
        # metafor 3.8's default (vtype "LS"): 2 (1 - ri) / ni + yi^2 / (2 ni)
        return yi, 2 * (1 - r) / n + yi**2 / (2 * n), n
    if sd2 is None:  # the argument check asks for it; kept for callers that skip it
        raise ModelSpecError(f"{m.value} needs sd2i")
    cov_term = 2 * r * sd1 * sd2
    if m is Measure.MC:
        return m1 - m2, (sd1**2 + sd2**2 - cov_term) / n, n
    if m is Measure.SMCC:
        var_change = sd1**2 + sd2**2 - cov_term
        _undefined_where(
            var_change <= 0,
            lambda i: (
                f"SMCC divides by the SD of the change scores, sqrt(sd1i^2 + sd2i^2 - 2 ri "
                f"sd1i sd2i), which is 0 for study {i + 1}"
            ),
        )
        yi = _hedges_c(n - 1) * (m1 - m2) / np.sqrt(var_change)
        return yi, 1 / n + yi**2 / (2 * n), n
    # ROMC
    _ratio_of_means(m1, m2)
    yi = np.log(m1 / m2)
    vi = sd1**2 / (n * m1**2) + sd2**2 / (n * m2**2) - cov_term / (m1 * m2 * n)
    return yi, vi, n


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        txt = ", ".join(f"{n} has {size}" for n, size in lengths.items())
        raise DataError(f"the inputs have unequal lengths ({txt})")


def _finite(**arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            studies = ", ".join(f"study {i + 1} ({a[i]:g})" for i in bad[:5])
            more = f" and {bad.size - 5} more" if bad.size > 5 else ""
            raise DataError(
                f"{name} has missing or infinite values: {studies}{more}; fill them in or "
                "leave those studies out"
            )


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class StudySummaries(RichDisplay):
    """Per-study mean outcome of IPD and its sampling variance (escalc measure MN).

    ``table`` has one row per included study: ``study, n, mean, sd, yi, vi``.
    ``excluded`` lists every study left out of the two-stage analysis with the reason.
    """

    table: pd.DataFrame
    excluded: pd.DataFrame
    outcome: str

    @property
    def yi(self) -> np.ndarray:
        return self.table["yi"].to_numpy()

    @property
    def vi(self) -> np.ndarray:
        return self.table["vi"].to_numpy()

    @property
    def studies(self) -> tuple[str, ...]:
        return tuple(str(s) for s in self.table["study"])

    def to_frame(self) -> pd.DataFrame:
        """Included and excluded studies in one table, with an ``included`` flag and reason."""
        inc = self.table.assign(included=True, reason="")
        exc = self.excluded.assign(included=False)
        return pd.concat([inc, exc], ignore_index=True)

    def random_effects(self, method: str = "REML", test: str = "z", level: float = 0.95) -> Any:
        """Pool the included studies with :func:`ipdmeta.meta.random_effects`."""
        return random_effects(
            self.yi, self.vi, method=method, test=test, level=level, labels=self.studies
        )

    def summary(self) -> SummaryText:
        """The study table and the exclusions as text."""
        lines = [f"Study summaries of {self.outcome!r}: {len(self.table)} studies included"]
        lines.append(self.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        if len(self.excluded):
            lines.append(f"{len(self.excluded)} excluded:")
            for _, row in self.excluded.iterrows():
                lines.append(f"  {row['study']}: {row['reason']}")
        return SummaryText("\n".join(lines))

    def _display_title(self) -> str:
        return (
            f"Study summaries of {self.outcome!r}: {len(self.table)} studies included, "
            f"{len(self.excluded)} excluded"
        )


def study_summaries(
    data: pd.DataFrame, study: str = "study", outcome: str = "relief"
) -> StudySummaries:
    """Mean outcome (e.g. percentage pain relief) per study and its sampling variance.

    For each study: ``yi`` is the mean of the patients' outcomes and ``vi = sd^2 / n``
    with the sample SD (n - 1 denominator), as ``escalc("MN", mi, sdi, ni)``. Patients
    with a missing outcome are not counted. A study with one patient (no within-study
    variance) or whose patients all have the same outcome (``vi = 0``) cannot enter an
    inverse-variance analysis: it is excluded, and ``excluded`` records why.
    """
    for col in (study, outcome):
        if col not in data.columns:
            raise DataError(f"column {col!r} not found; columns are {list(data.columns)}")
    values = pd.to_numeric(data[outcome], errors="coerce")
    bad = values.isna() & data[outcome].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"column {outcome!r} has a non-numeric value {data[outcome].iloc[i]!r} "
            f"(row {i}); expected numbers"
        )
    if np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).any():
        raise DataError(f"column {outcome!r} has infinite values")
    rows, excluded = [], []
    frame = pd.DataFrame({"study": data[study].to_numpy(), "y": values.to_numpy()})
    for name, grp in frame.groupby("study", sort=False, dropna=False):
        y = grp["y"].dropna().to_numpy(dtype=float)
        n = y.shape[0]
        missing = int(grp["y"].isna().sum())
        note = f" ({missing} patient(s) with a missing outcome not counted)" if missing else ""
        if n == 0:
            excluded.append({"study": name, "n": 0, "reason": "no patient with an outcome" + note})
            continue
        if n == 1:
            excluded.append(
                {
                    "study": name,
                    "n": 1,
                    "reason": "one patient: no within-study variance, so no sampling "
                    "variance for the two-stage analysis" + note,
                }
            )
            continue
        sd = float(np.std(y, ddof=1))
        if sd == 0.0:
            excluded.append(
                {
                    "study": name,
                    "n": n,
                    "reason": "all patients have the same outcome: sampling variance 0" + note,
                }
            )
            continue
        rows.append(
            {
                "study": name,
                "n": n,
                "mean": float(y.mean()),
                "sd": sd,
                "yi": float(y.mean()),
                "vi": sd**2 / n,
            }
        )
    table = pd.DataFrame(rows, columns=["study", "n", "mean", "sd", "yi", "vi"])
    exc = pd.DataFrame(excluded, columns=["study", "n", "reason"])
    return StudySummaries(table=table, excluded=exc, outcome=outcome)
