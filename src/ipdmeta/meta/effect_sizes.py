"""Effect sizes of single-arm studies (metafor's ``escalc``) and study summaries of IPD."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

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
    """Single-arm outcome measures, named as in ``escalc(measure=)``."""

    MN = "MN"  # raw mean
    PR = "PR"  # raw proportion
    PLO = "PLO"  # logit of the proportion
    PFT = "PFT"  # Freeman-Tukey double arcsine of the proportion


# eq=False: fields hold arrays, whose == is elementwise
@dataclass(frozen=True, eq=False, repr=False)
class EffectSizes(RichDisplay):
    """Effect sizes ``yi`` and sampling variances ``vi`` of k studies.

    ``ni`` holds the sample sizes (needed to back-transform PFT).
    """

    measure: Measure
    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray

    @property
    def k(self) -> int:
        return int(self.yi.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """One row per study: ``yi, vi, ni, yi_back`` (``yi_back`` on the proportion scale)."""
        return pd.DataFrame({"yi": self.yi, "vi": self.vi, "ni": self.ni, "yi_back": self.yi_back})

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

        As ``predict(res, transf=...)``: PLO by the inverse logit, PFT by the inverse of
        Miller (1978) at the harmonic mean of the sample sizes (``transf.ipft.hm``).
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

    PR and MN are returned as given; PLO by the inverse logit; PFT by
    :func:`transf_ipft` with ``ni`` (one sample size per value, or one for all: for a
    pooled estimate pass the harmonic mean of the studies' sizes, as
    ``transf.ipft.hm``).
    """
    m = _measure(measure)
    x = np.asarray(values, dtype=float)
    if m in (Measure.PR, Measure.MN):
        return x.copy()
    if m is Measure.PLO:
        return np.asarray(1.0 / (1.0 + np.exp(-x)))
    if ni is None:
        raise ModelSpecError("back-transforming PFT needs the sample sizes ni")
    return transf_ipft(x, ni)


def _measure(measure: Measure | str) -> Measure:
    try:
        return Measure(str(measure).upper()) if not isinstance(measure, Measure) else measure
    except ValueError:
        opts = ", ".join(m.value for m in Measure)
        raise ModelSpecError(f"unknown measure {measure!r}; expected one of {opts}") from None


def escalc(
    measure: Measure | str,
    *,
    xi: Any = None,
    ni: Any = None,
    mi: Any = None,
    sdi: Any = None,
    add: float = 0.5,
    to: str = "only0",
) -> EffectSizes:
    """Effect sizes for single-arm studies, as ``metafor::escalc``.

    Parameters
    ----------
    measure
        ``"MN"`` (mean; needs ``mi``, ``sdi``, ``ni``), ``"PR"`` (proportion), ``"PLO"``
        (logit proportion) or ``"PFT"`` (Freeman-Tukey double arcsine); the proportion
        measures need event counts ``xi`` and sample sizes ``ni``.
    add, to
        Continuity correction of PR and PLO as escalc: ``add`` is added to ``xi`` and
        ``ni - xi`` of studies with a zero cell (``to="only0"``), of all studies
        (``"all"``), of all studies when any has a zero cell (``"if0all"``) or never
        (``"none"``). PFT needs no correction.

    Returns
    -------
    EffectSizes
        ``yi, vi, ni``: MN: mean and sdi^2 / ni; PR: p and p(1 - p)/n; PLO: log(p/(1-p))
        and 1/x + 1/(n - x); PFT: the double arcsine and 1/(4n + 2).
    """
    m = _measure(measure)
    if m is Measure.MN:
        if mi is None or sdi is None or ni is None:
            raise ModelSpecError("measure MN needs mi (means), sdi (SDs) and ni (sizes)")
        mean = as_float_vector(mi, "mi")
        sd = as_float_vector(sdi, "sdi")
        n = as_float_vector(ni, "ni")
        _same_length(mi=mean, sdi=sd, ni=n)
        _finite(mi=mean, sdi=sd, ni=n)
        if (sd < 0).any():
            raise DataError("sdi has negative standard deviations")
        if (n <= 0).any():
            raise DataError("ni has sample sizes <= 0")
        return EffectSizes(Measure.MN, mean.copy(), sd**2 / n, n)
    if xi is None or ni is None:
        raise ModelSpecError(f"measure {m.value} needs xi (event counts) and ni (sizes)")
    x = as_float_vector(xi, "xi")
    n = as_float_vector(ni, "ni")
    _same_length(xi=x, ni=n)
    _finite(xi=x, ni=n)
    if (n <= 0).any():
        raise DataError("ni has sample sizes <= 0")
    if (x < 0).any():
        raise DataError("xi has negative event counts")
    if (x > n).any():
        i = int(np.flatnonzero(x > n)[0])
        raise DataError(f"xi is larger than ni for study {i} ({x[i]:g} > {n[i]:g})")
    if m is Measure.PFT:
        yi = _pft(x, n)
        return EffectSizes(m, yi, 1.0 / (4 * n + 2), n)
    x_c, non_c = _continuity(x, n - x, add, to)
    n_c = x_c + non_c
    p = x_c / n_c
    if m is Measure.PR:
        return EffectSizes(m, p, p * (1 - p) / n_c, n)
    with np.errstate(divide="ignore"):
        yi = np.log(p / (1 - p))
        vi = 1 / x_c + 1 / non_c
    return EffectSizes(m, yi, vi, n)


def _continuity(
    x: np.ndarray, non: np.ndarray, add: float, to: str
) -> tuple[np.ndarray, np.ndarray]:
    zero = (x == 0) | (non == 0)
    if to == "all":
        return x + add, non + add
    if to == "only0":
        return np.where(zero, x + add, x), np.where(zero, non + add, non)
    if to == "if0all":
        return (x + add, non + add) if zero.any() else (x, non)
    if to == "none":
        return x, non
    raise ModelSpecError(f"to must be 'only0', 'all', 'if0all' or 'none', got {to!r}")


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        txt = ", ".join(f"{n} has {size}" for n, size in lengths.items())
        raise DataError(f"the inputs have unequal lengths ({txt})")


def _finite(**arrays: np.ndarray) -> None:
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise DataError(f"{name} has missing or infinite values")


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
