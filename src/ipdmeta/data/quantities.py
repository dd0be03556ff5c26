"""Reading one cell as a quantity: a plain number, an age, a duration, a follow-up time, a
pain score or a percentage.

Clinicians type what they see, so a cell may hold "18 mo", "7/10", "VAS 8" or "75 %";
such a cell is read when what was meant is certain, and the answer then names the rule
used, so that a caller can report each rule once per column. A cell that could stand for
more than one number (a range, an inequality, "1,000", a date Excel made of "7/10") is
never read: the answer says why.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import numbers
import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np

from ipdmeta.data.cells import MISSING_MARKERS, is_missing_marker

__all__ = ["CellReading", "Quantity", "read_cell", "split_header_unit"]


class Quantity(StrEnum):
    """What a cell holds, which decides the units it may carry and its canonical unit."""

    NUMBER = "number"  # a plain number; a unit written in the cell is returned, not converted
    AGE = "age"  # years
    DURATION = "duration"  # years
    FOLLOWUP = "followup"  # months
    SCORE = "score"  # a pain score (VAS/NRS)
    PERCENT = "percent"  # a percentage, e.g. % pain relief (may be negative)

    @classmethod
    def _missing_(cls, value: object) -> Quantity | None:
        # "Age" and "FOLLOWUP" name the same quantities as "age" and "followup".
        if isinstance(value, str):
            return next((q for q in cls if q.value == value.strip().casefold()), None)
        return None


@dataclass(frozen=True)
class CellReading:
    """How one cell was read: exactly one of `missing`, a `value`, or an `error`.

    Attributes
    ----------
    value : float or None
        The number meant, in the quantity's canonical unit (years for an age or a
        duration, months for a follow-up time); None when missing or unreadable.
    missing : bool
        The cell is empty or a missing marker ("NR", "n/a", "-", "?", ...).
    rule : str or None
        Set when the cell was not a plain number but was read anyway: a short phrase
        naming the rule, the same for every cell read by that rule, so that it can be
        reported once per column. Several rules are joined by "; " in a fixed order.
    example : str or None
        With a rule: how this cell was read, e.g. "'18 mo' as 1.5 years".
    error : str or None
        Why the cell cannot be read, and what to do; the caller adds file, row, column
        and value.
    unit : str or None
        `Quantity.NUMBER` only: the unit written after the number ("Hz" in "130 Hz").
    scale : float or None
        `Quantity.SCORE` only: the scale maximum the cell states ("7/10" -> 10,
        "95 mm" -> 100, "8 cm" -> 10) or, for a bare number, the one its header's unit
        states (mm -> 100, cm -> 10).
    """

    value: float | None
    missing: bool = False
    rule: str | None = None
    example: str | None = None
    error: str | None = None
    unit: str | None = None
    scale: float | None = None

    def __post_init__(self) -> None:
        # A reading built by this module is always well formed; this guards its code.
        if self.missing + (self.value is not None) + (self.error is not None) != 1:
            raise ValueError("a CellReading is exactly one of missing, a value or an error")
        if self.value is not None and math.isnan(self.value):
            raise ValueError("a CellReading's value is never NaN")


_MISSING = CellReading(None, missing=True)

# Exact lengths in days: a year is 365.25 days (a Julian year), a month a twelfth of it.
_DAYS = {
    "year": Fraction(1461, 4),
    "month": Fraction(1461, 48),
    "week": Fraction(7),
    "day": Fraction(1),
    "hour": Fraction(1, 24),
}
_PLURAL = {"year": "years", "month": "months", "week": "weeks", "day": "days", "hour": "hours"}
_ABBREVIATION = {"year": "y", "month": "mo", "week": "wk", "day": "d", "hour": "h"}
_CANONICAL = {Quantity.AGE: "year", Quantity.DURATION: "year", Quantity.FOLLOWUP: "month"}
_WHAT = {
    Quantity.AGE: "an age",
    Quantity.DURATION: "a duration",
    Quantity.FOLLOWUP: "a follow-up time",
    Quantity.SCORE: "a pain score",
    Quantity.PERCENT: "a percentage",
}

# Unit words written in a cell, keyed with ". ' - / space" removed and case folded.
_TIME_WORDS = {
    **dict.fromkeys(
        ["y", "yr", "yrs", "year", "years", "yo", "yold", "yrold", "yrsold", "yearold",
         "yearsold"], "year"),
    **dict.fromkeys(
        ["m", "mo", "mos", "mon", "mons", "mth", "mths", "mnth", "mnths", "month", "months",
         "monthold", "monthsold", "moold"], "month"),
    **dict.fromkeys(["w", "wk", "wks", "week", "weeks", "weekold", "weeksold"], "week"),
    **dict.fromkeys(["d", "day", "days", "dayold", "daysold"], "day"),
    **dict.fromkeys(["h", "hr", "hrs", "hour", "hours"], "hour"),
}  # fmt: skip

# Units a header may state, keyed as above; "m" in a header is months ("FU (m)").
_HEADER_WORDS = {
    **{k: v for k, v in _TIME_WORDS.items() if "old" not in k and k != "yo"},
    "%": "percent",
    "percent": "percent",
    "pct": "percent",
    "mm": "mm",
    "cm": "cm",
}
_HEADER_UNITS = frozenset(_HEADER_WORDS.values())
_HEADER_SHOWN = {**_PLURAL, "percent": "%", "mm": "mm", "cm": "cm"}
_SCORE_SCALE = {"mm": 100.0, "cm": 10.0}
_SCALE_NAME = {"mm": "millimetres", "cm": "centimetres"}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Hyphen, non-breaking hyphen, figure dash, en dash, em dash, horizontal bar, small and
# full-width hyphen-minus: like the minus sign (U+2212), all typed for a minus or a range.
_OTHER_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\ufe63\uff0d"
_TRANSLATE = str.maketrans(
    {**dict.fromkeys(_OTHER_DASHES + "\u2212", "-"), "％": "%", "⁄": "/", "∕": "/", "＋": "+"}
)
# A dash other than "-" or the minus sign (U+2212) used as a sign: read, with a rule.
_DASH_SIGN = re.compile(rf"(?<![\w.])[{_OTHER_DASHES}](?=[\d.])")

_NUM = r"(?:\d+(?:[.,]\d+)*\.?|\.\d+)(?:e[+-]?\d+)?"
_SNUM = rf"[+-]?{_NUM}"
_LETTER = r"(?:[^\W\d_]|[°µ])"
_WORD = rf"{_LETTER}+(?:[./'’\-]{_LETTER}+)*\.?"
_UNIT = rf"(?:%|{_WORD}(?:\s+old\b)?)"
_FLAGS = re.IGNORECASE | re.DOTALL


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _FLAGS)


_PLAIN = _rx(rf"([+-]?)({_NUM})")
_INEQUALITY = _rx(
    rf"(?:<=?|>=?|=<|=>|[≤≥⩽⩾≦≧≪≫]"
    rf"|(?:more|less|greater|fewer|older|younger|longer|shorter)\s+than"
    rf"|at\s+(?:least|most)|(?:not|no)\s+more\s+than|over|under|above|below|up\s*to|beyond)"
    rf"\s*{_SNUM}.*"
)
_OR_MORE = _rx(
    rf"{_SNUM}\s*(?:{_UNIT}\s*)?"
    rf"(?:\+|or\s+(?:more|less|over|above|older|younger|longer)|and\s+(?:over|above|more))"
)
_APPROXIMATION = [
    _rx(
        rf"(?:~|≈|∼|≃|about|approx\.?|approximately|appr\.?|c\.|ca\.?|circa|around|roughly"
        rf"|nearly|almost|est\.?|estimated|\?)\s*{_SNUM}.*"
    ),
    _rx(r".*\d.*\?\)?"),
    _rx(rf"{_SNUM}.*\b(?:approx\.?|approximately|estimated|est\.|or\s+so)\)?"),
    _rx(rf"{_SNUM}\s*-?\s*ish"),
    _rx(r"(?:early|mid|late)\s*-?\s*\d+0\s*'?s"),
    _rx(r"\d+0's"),
]
_DECADE = _rx(r"\d+0s")  # "40s": a decade, except in a plain number column ("60s" seconds)
_SPREAD = _rx(rf"{_SNUM}.*?(?:±|\+/-|\+-)\s*{_NUM}.*")
_TEXT_DATE = _rx(r"\d{1,4}([-/.])\d{1,2}\1\d{1,4}")
_MONTH_WORD = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_TEXT_DAY_MONTH = _rx(rf"(\d{{1,2}})[-/ ]?{_MONTH_WORD}(?:[-/ ]\d{{2,4}})?")
_TEXT_MONTH_FIRST = _rx(rf"{_MONTH_WORD}[-/ ]?\d{{1,4}}(?:[-/ ,]+\d{{2,4}})?")
# "(?!e[+-]?\d)": "1e-5 Hz" is a number in scientific notation, not "1 e" to "5 Hz".
_RANGE = [
    _rx(
        rf"(?:from\s+)?{_SNUM}\s*(?:(?!e[+-]?\d){_UNIT})?\s*(?:-|to|till|until|\.\.\.?)\s*"
        rf"{_SNUM}\s*(?:{_UNIT})?"
    ),
    _rx(rf"between\s+{_SNUM}\s*(?:{_UNIT})?\s*(?:and|&|-)\s*{_SNUM}\s*(?:{_UNIT})?"),
]
_FRACTION = _rx(rf"({_SNUM})\s*/\s*({_NUM})")
_WITH_UNIT = _rx(rf"([+-]?)({_NUM})\s*({_UNIT})")
_NUMBER_UNIT = re.compile(rf"([+-]?)({_NUM})\s*(%|(?:[^\W\d_]|[µ°/])+)", re.IGNORECASE)
_PERCENT_SIGN = _rx(r"%|percent|per\s+cent|pct")
_TIME_SEPARATOR = r"\s*(?:,|and|&|\+)?\s*"
# "and"/"or" separate parts ("3 y and 6 mo"), and are never a unit ("8 and 9 y").
_TIME_UNIT = rf"(?!(?:and|or)\b){_UNIT}"
_TIME_PART = rf"{_NUM}\s*-?\s*{_TIME_UNIT}"
_TIME = _rx(rf"([+-]?)({_TIME_PART}(?:{_TIME_SEPARATOR}{_TIME_PART})*)")
_TIME_PARTS = _rx(rf"({_NUM})\s*-?\s*({_TIME_UNIT})")
_SCORE_LABEL = r"(?:vas|nrs|nprs|vnrs)"
_SCORE = _rx(rf"(?:({_SCORE_LABEL})\s*[:=]?\s*)?(.+?)(?:\s*({_SCORE_LABEL}))?")
_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    "|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fourty|fifty|sixty"
    "|seventy|eighty|ninety|hundred|half"
)
_IN_WORDS = _rx(rf"(?:(?:{_NUMBER_WORDS}|and|a)[\s-]*)*(?:{_NUMBER_WORDS})")
_NOT_FINITE = _rx(r"[+-]?(?:inf|infinity|nan)")
_SPACED_THOUSANDS = _rx(r"[+-]?\d{1,3}(?: \d{3})+(?:[.,]\d+)?")
_ANY_NUMBER = _rx(_NUM)

_TYPE_AGAIN = "Format the column as Text (or type the number alone) and enter it again"


def read_cell(
    value: Any, quantity: Quantity | str = Quantity.NUMBER, header_unit: str | None = None
) -> CellReading:
    """Read one cell as a quantity: the number meant, missing, or why it cannot be read.

    Parameters
    ----------
    value : Any
        A cell as a reader gives it: a str, an int, float or numpy number, None, a bool,
        or a ``datetime``/``date``/``time``/``timedelta`` (a workbook cell Excel stores
        as a date or a time).
    quantity : Quantity or str
        What the cell holds. Ages and durations are returned in years, follow-up times
        in months; a time unit written in the cell (y, yr, yrs, years, yo, "-year-old",
        mo, mos, months, m, wk, weeks, d, days, h, hours, or a compound such as
        "3 y 6 mo") is converted exactly (1 year = 365.25 days = 12 months, 1 week =
        7 days). In an age, "m" could mean months or male and is not read.
    header_unit : str, optional
        The unit the column's header states, as `split_header_unit` returns it ("year",
        "month", "week", "day", "hour", "percent", "mm" or "cm"). A bare number in the
        column is in that unit; a unit written in the cell wins. `Quantity.NUMBER`
        ignores it.

    Returns
    -------
    CellReading
        Exactly one of ``missing``, a ``value`` or an ``error``. A cell that was not a
        plain number but was read carries a ``rule`` (the same phrase for every cell
        read by that rule) and an ``example``. Never raises for any cell value.

    Raises
    ------
    ValueError
        When `quantity` or `header_unit` is not one this function knows (a programming
        error, not a problem of the cell).
    """
    kind = Quantity(quantity)
    header = _header_unit(header_unit)
    if is_missing_marker(value) or (isinstance(value, dt.date) and value != value):
        return _MISSING  # pandas' NaT is a datetime unequal to itself
    if isinstance(value, bool | np.bool_):
        return _error("a TRUE/FALSE (Boolean) cell, not a number: type the number itself")
    if isinstance(value, dt.date):
        return _error(_date_reason(value))
    if isinstance(value, dt.time):
        return _error(_time_reason(value))
    if isinstance(value, dt.timedelta):
        return _error(_timedelta_reason(value))
    try:
        if isinstance(value, numbers.Real | decimal.Decimal):
            return _read_numeric(value, kind, header)
        if isinstance(value, str):
            return _read_text(value, kind, header)
    except OverflowError:  # "1e300 y" in months, or an int beyond any float
        return _error("a number too large for any cell of this kind: check the value")
    return _error(f"a cell holding a {type(value).__name__}, not a number: type the number")


def split_header_unit(header: str) -> tuple[str, str | None]:
    """Split a column header into its name and the unit it states.

    Recognised forms: "FU (months)", "Age [y]", "Follow-up, mo", "Follow up in months",
    "Relief (%)", "Relief %", "% improvement" and "VAS (0-100 mm)". Only units read by
    `read_cell` are split off and normalised, to "year", "month", "week", "day", "hour",
    "percent", "mm" or "cm"; "m" is months. A header stating any other unit ("Stim
    frequency (Hz)") or none is returned whole (stripped), with None, so the name never
    loses text that is not a recognised unit. After a comma only an abbreviation or a
    plural is a unit: "Author, year" names a study, not a unit.

    Parameters
    ----------
    header : str
        The header as written.

    Returns
    -------
    tuple of (str, str or None)
        The name without the unit (a leading "%" goes too: "% improvement" gives
        ("improvement", "percent")), and the normalised unit or None.
    """
    text = str(header).strip()
    forms = (
        r"(?P<name>.*?\S)\s*[(\[]\s*(?:in\s+)?(?:0\s*-\s*\d+\s*)?(?P<unit>[^()\[\]]+?)\s*[)\]]",
        # "Author, year" names a study: after a comma a unit is abbreviated or plural.
        r"(?P<name>.*?\S)\s*,\s*(?:in\s+)?(?!(?:year|month|week|day|hour)$)(?P<unit>[^,\s][^,]*?)",
        r"(?P<name>.*?\S)\s+in\s+(?P<unit>\S+)",
        r"(?P<name>.*?\S)\s*(?P<unit>%)",
        r"(?P<unit>%)\s*(?P<name>\S.*)",
    )
    for form in forms:
        match = re.fullmatch(form, text, re.IGNORECASE | re.DOTALL)
        if match:
            unit = _HEADER_WORDS.get(_unit_key(match["unit"]))
            if unit is not None:
                return match["name"].strip(), unit
    return text, None


# --------------------------------------------------------------------------- helpers


def _header_unit(header_unit: str | None) -> str | None:
    if header_unit is None:
        return None
    unit = (
        header_unit if header_unit in _HEADER_UNITS else _HEADER_WORDS.get(_unit_key(header_unit))
    )
    if unit is None:
        known = ", ".join(sorted(_HEADER_UNITS))
        raise ValueError(f"header_unit must be one of {known} or None, not {header_unit!r}")
    return unit


def _unit_key(unit: str) -> str:
    return re.sub(r"[.'’\-/\s]", "", unit.casefold())


def _error(reason: str) -> CellReading:
    return CellReading(None, error=reason)


def _fmt(number: float) -> str:
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    text = repr(number)
    return text if len(text) <= 12 else f"{number:.6g}"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _quoted(options: list[str]) -> str:
    return " or ".join(f"'{o}'" for o in dict.fromkeys(options))


def _date_reason(day: dt.date) -> str:
    shown = f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    if isinstance(day, dt.datetime) and day.time() != dt.time():
        shown += f" {day.hour:02d}:{day.minute:02d}"
    date = dt.date(day.year, day.month, day.day)
    if dt.date(1899, 12, 30) <= date <= dt.date(1900, 12, 31):
        # Excel's day 1 is 1 Jan 1900, and it counts a 29 Feb 1900 that never was.
        origin = dt.date(1899, 12, 31) if date < dt.date(1900, 3, 1) else dt.date(1899, 12, 30)
        serial = float((date - origin).days)
        if isinstance(day, dt.datetime):
            serial += (day - day.replace(hour=0, minute=0, second=0, microsecond=0)) / (
                dt.timedelta(days=1)
            )
        return (
            f"Excel shows this cell as a date ({shown}), which is how it displays the number "
            f"{_fmt(serial)} in a date format: format the column as Number and check the value"
        )
    if day.year < 2000:
        return (
            f"Excel shows this cell as a date ({shown}), not a number: enter the number meant "
            "(for an age, the age itself rather than a date of birth)"
        )
    d, m = day.day, day.month
    return (
        f"Excel shows this cell as a date ({shown}): a typed {_quoted([f'{d}/{m}', f'{m}/{d}'])}"
        f" (or {_quoted([f'{d}-{m}', f'{m}-{d}'])}) becomes a date. {_TYPE_AGAIN}"
    )


def _time_reason(moment: dt.time) -> str:
    typed = f"{moment.hour}:{moment.minute:02d}"
    return (
        f"Excel shows this cell as a time of day ({moment.hour:02d}:{moment.minute:02d}): a "
        f"typed '{typed}' (or a number in a time format) becomes a time. {_TYPE_AGAIN}"
    )


def _timedelta_reason(span: dt.timedelta) -> str:
    seconds = abs(span.total_seconds())
    hours, rest = divmod(int(seconds), 3600)
    typed = f"{'-' if span < dt.timedelta(0) else ''}{hours}:{rest // 60:02d}"
    return (
        f"Excel shows this cell as a duration ({typed}): a typed '{typed}' (or a number in a "
        f"duration format) becomes one. {_TYPE_AGAIN}"
    )


def _read_numeric(
    value: numbers.Real | decimal.Decimal, kind: Quantity, header: str | None
) -> CellReading:
    if isinstance(value, decimal.Decimal) and value.is_nan():
        return _MISSING
    number = float(value)
    if math.isnan(number):
        return _MISSING
    if math.isinf(number):
        return _error("an infinite number, not a value: type the value itself")
    return _bare(number, Fraction(number), kind, header, _fmt(number), [])


def _number(token: str) -> Fraction | str:
    """A number token ("61,5", "1e3", ".5") as an exact fraction, or why it is not one."""
    if len(token) > 100:
        # Python refuses to turn thousands of digits into an int; no cell means that many.
        return "a number with more than 100 characters: check the value"
    mantissa, _, exponent = token.casefold().partition("e")
    if "," in mantissa:
        if "." in mantissa or mantissa.count(",") > 1 or exponent:
            return (
                f"a number with several separators ('{token}'): type it with at most one "
                "decimal point (or comma) and no thousands separator, e.g. 1234.5"
            )
        if re.fullmatch(r"[1-9]\d{0,2},\d{3}", mantissa):
            thousands = mantissa.replace(",", "")
            decimal_comma = _fmt(float(mantissa.replace(",", ".")))
            return (
                f"'{token}' could be {thousands} (a comma between thousands) or "
                f"{decimal_comma} (a decimal comma): type {thousands} or {decimal_comma}"
            )
        mantissa = mantissa.replace(",", ".")
    elif mantissa.count(".") > 1:
        return (
            f"a number with several points ('{token}'): type it with one decimal point and no "
            "thousands separator"
        )
    if exponent and abs(int(exponent)) > 400:
        # Building 10**exponent exactly would take forever; float says what it comes to.
        if math.isinf(float(token)):
            return f"a number too large ('{token}'): check the value"
        return Fraction(0)
    return Fraction(mantissa + (f"e{exponent}" if exponent else ""))


def _signed(sign: str, magnitude: Fraction) -> float:
    # Negating the float keeps "-0" as -0.0, as float("-0") does.
    number = float(magnitude)
    return -number if sign == "-" else number


def _reading(
    value: float,
    rules: list[str],
    shown: str,
    what: str,
    *,
    unit: str | None = None,
    scale: float | None = None,
) -> CellReading:
    if not rules:
        return CellReading(value, unit=unit, scale=scale)
    return CellReading(
        value, rule="; ".join(rules), example=f"'{shown}' as {what}", unit=unit, scale=scale
    )


def _in_units(value: float, unit: str) -> str:
    return f"{_fmt(value)} {unit if value == 1 else _PLURAL[unit]}"


def _header_clash(kind: Quantity, header: str) -> CellReading:
    return _error(
        f"the column's header gives the unit '{_HEADER_SHOWN[header]}', which "
        f"{_WHAT[kind]} cannot have: correct the header, or write the unit in each cell"
    )


def _bare(
    number: float, exact: Fraction, kind: Quantity, header: str | None, shown: str, rules: list[str]
) -> CellReading:
    """A number with no unit of its own: the header's unit, if any, applies."""
    if kind is Quantity.NUMBER or header is None:
        return _reading(number, rules, shown, _fmt(number))
    if kind is Quantity.PERCENT:
        if header != "percent":
            return _header_clash(kind, header)
        return _reading(number, rules, shown, _fmt(number))
    if kind is Quantity.SCORE:
        if header not in _SCORE_SCALE:
            return _header_clash(kind, header)
        scale = _SCORE_SCALE[header]
        return _reading(number, rules, shown, f"{_fmt(number)} on a 0-{_fmt(scale)} scale",
                        scale=scale)  # fmt: skip
    canonical = _CANONICAL[kind]
    if header not in _DAYS:
        return _header_clash(kind, header)
    if header == canonical:
        return _reading(number, rules, shown, _in_units(number, canonical))
    value = float(exact * _DAYS[header] / _DAYS[canonical])
    if value == 0:
        value = math.copysign(0.0, number)  # an exact fraction has no -0
    rule = f"{_PLURAL[header]} from the header, converted to {_PLURAL[canonical]}"
    return _reading(value, [*rules, rule], shown, _in_units(value, canonical))


# --------------------------------------------------------------------------- text cells


def _read_text(raw: str, kind: Quantity, header: str | None) -> CellReading:
    shown = " ".join(raw.split())
    if shown.casefold() in MISSING_MARKERS:
        return _MISSING
    text = shown.translate(_TRANSLATE)
    if text in MISSING_MARKERS:
        return _MISSING  # a lone minus sign (U+2212) is the "-" of a missing value
    rules = ["a dash before the number read as a minus sign"] if _DASH_SIGN.search(shown) else []
    plain = _PLAIN.fullmatch(text)
    if plain:
        magnitude = _number(plain[2])
        if isinstance(magnitude, str):  # "7.10.2019" is a date before it is a bad number
            return _error(_never_a_value(text, kind) or magnitude)
        sign = plain[1]
        exact = -magnitude if sign == "-" else magnitude
        return _bare(_signed(sign, magnitude), exact, kind, header, shown, rules)
    reason = _never_a_value(text, kind)
    if reason:
        return _error(reason)
    if kind is Quantity.NUMBER:
        reading = _read_number_text(text, shown, rules)
    elif kind is Quantity.PERCENT:
        reading = _read_percent_text(text, shown, header, rules)
    elif kind is Quantity.SCORE:
        reading = _read_score_text(text, shown, header, rules)
    else:
        reading = _read_time_text(text, shown, kind, rules)
    return reading if reading is not None else _error(_unreadable(text, kind))


def _never_a_value(text: str, kind: Quantity) -> str | None:
    """Why a cell of this shape holds no single number (a range, a bound, ...), if it is one."""
    shown = text
    if _INEQUALITY.fullmatch(text) or _OR_MORE.fullmatch(text):
        return (
            f"an inequality ({shown}), not one number: give the exact value if the paper "
            "reports it, otherwise leave the cell empty and note the bound in another column"
        )
    if any(p.fullmatch(text) for p in _APPROXIMATION) or (
        kind is not Quantity.NUMBER and _DECADE.fullmatch(text)
    ):
        return (
            f"an approximation ({shown}), not an exact value: type the number alone if it is "
            "the value meant, otherwise leave the cell empty and note it in another column"
        )
    if _SPREAD.fullmatch(text):
        return (
            f"a value with a spread ({shown}), not one number: give the value here and the "
            "spread in another column"
        )
    if _TEXT_DATE.fullmatch(text) or _TEXT_MONTH_FIRST.fullmatch(text):
        return (
            f"a date written as text ({shown}), not a number: enter the number meant (a date "
            "in a CSV is often Excel's display of a typed '7/10')"
        )
    day_month = _TEXT_DAY_MONTH.fullmatch(text)
    if day_month:
        d = int(day_month[1])
        m = _MONTHS.index(day_month[2][:3].capitalize()) + 1
        return (
            f"a date written as text ({shown}), as Excel shows a typed "
            f"{_quoted([f'{d}/{m}', f'{m}/{d}'])} (or {_quoted([f'{d}-{m}', f'{m}-{d}'])}): "
            "format the column as Text in the workbook, type the number again and export again"
        )
    if any(p.fullmatch(text) for p in _RANGE):
        return (
            f"a range ({shown}), not one number: give one value (the paper's, or the midpoint) "
            "and note the range in another column"
        )
    return None


def _read_number_text(text: str, shown: str, rules: list[str]) -> CellReading | None:
    if _FRACTION.fullmatch(text):
        return _error(f"a fraction ({shown}), not one number: type its value")
    match = _NUMBER_UNIT.fullmatch(text)
    if not match:
        return None
    magnitude = _number(match[2])
    if isinstance(magnitude, str):
        return _error(magnitude)
    value = _signed(match[1], magnitude)
    unit = match[3]
    return _reading(
        value, [*rules, "a unit written in the cell"], shown, f"{_fmt(value)} {unit}", unit=unit
    )


def _read_percent_text(
    text: str, shown: str, header: str | None, rules: list[str]
) -> CellReading | None:
    fraction = _FRACTION.fullmatch(text)
    if fraction:
        return _error(
            f"a fraction ({shown}), not a percentage: type the percentage itself (e.g. 75 for 3/4)"
        )
    match = _WITH_UNIT.fullmatch(text)
    if not match:
        return None
    magnitude = _number(match[2])
    if isinstance(magnitude, str):
        return _error(magnitude)
    if not _PERCENT_SIGN.fullmatch(match[3]):
        return _error(
            f"'{match[3]}' is not a percent sign: give the percentage as a number, with or "
            "without '%'"
        )
    value = _signed(match[1], magnitude)
    return _reading(value, rules, shown, f"{_fmt(value)}%")


def _read_score_text(
    text: str, shown: str, header: str | None, rules: list[str]
) -> CellReading | None:
    parts = _SCORE.fullmatch(text)
    if parts is None or (parts[1] and parts[3]):
        return None
    body = parts[2]
    rules = [*rules, "a scale name (VAS, NRS) written with the score"] if (
        parts[1] or parts[3]
    ) else rules  # fmt: skip
    plain = _PLAIN.fullmatch(body)
    if plain:
        magnitude = _number(plain[2])
        if isinstance(magnitude, str):
            return _error(magnitude)
        exact = -magnitude if plain[1] == "-" else magnitude
        return _bare(_signed(plain[1], magnitude), exact, Quantity.SCORE, header, shown, rules)
    fraction = _FRACTION.fullmatch(body)
    if fraction:
        return _score_fraction(fraction, shown, rules)
    match = _WITH_UNIT.fullmatch(body)
    if not match:
        return None
    magnitude = _number(match[2])
    if isinstance(magnitude, str):
        return _error(magnitude)
    unit = match[3].casefold()
    if unit == "%":
        return _error(
            "a percent sign in a pain score: give the score itself, on its scale "
            "(e.g. '80/100' or 80 in a column headed 'VAS (mm)')"
        )
    if unit not in _SCORE_SCALE:
        return _error(
            f"'{match[3]}' is not a unit of a pain score: give the score alone, in mm or cm, "
            "or as a fraction of its scale (e.g. '7/10')"
        )
    value = _signed(match[1], magnitude)
    scale = _SCORE_SCALE[unit]
    rule = f"{_SCALE_NAME[unit]} written in the cell (a 0-{_fmt(scale)} scale)"
    return _reading(
        value, [*rules, rule], shown, f"{_fmt(value)} on a 0-{_fmt(scale)} scale", scale=scale
    )


def _score_fraction(fraction: re.Match[str], shown: str, rules: list[str]) -> CellReading:
    top = _number(fraction[1].lstrip("+-"))
    bottom = _number(fraction[2])
    if isinstance(top, str) or isinstance(bottom, str):
        return _error(top if isinstance(top, str) else str(bottom))
    if bottom not in (10, 100):
        return _error(
            f"a fraction over {_fmt(float(bottom))} ({shown}), not a score out of 10 or 100: "
            "give the score on its 0-10 or 0-100 scale"
        )
    value = _signed(fraction[1][:1], top)
    if not 0 <= value <= bottom:
        return _error(f"a score outside its own scale ({shown}): check the value")
    scale = float(bottom)
    return _reading(
        value,
        [*rules, "a score written as a fraction of its scale"],
        shown,
        f"{_fmt(value)} on a 0-{_fmt(scale)} scale",
        scale=scale,
    )


def _read_time_text(text: str, shown: str, kind: Quantity, rules: list[str]) -> CellReading | None:
    fraction = _FRACTION.fullmatch(text)
    if fraction:
        return _error(_time_fraction_reason(fraction, shown))
    match = _TIME.fullmatch(text)
    if not match:
        return None
    canonical = _CANONICAL[kind]
    total = Fraction(0)
    units: list[str] = []
    for part in _TIME_PARTS.finditer(match[2]):
        magnitude = _number(part[1])
        if isinstance(magnitude, str):
            return _error(magnitude)
        key = _unit_key(part[2])
        if key == "m" and kind is Quantity.AGE:
            return _error(
                f"'{part[2]}' after an age could mean months or male: write 'mo' for months "
                "(and give sex in its own column)"
            )
        unit = _TIME_WORDS.get(key)
        if unit is None:
            return _error(
                f"'{part[2]}' is not a time unit this column can use (years, months, weeks, "
                f"days or hours): give {_WHAT[kind]} in {_PLURAL[canonical]}, or with a unit "
                "such as '18 mo'"
            )
        if units and _DAYS[unit] >= _DAYS[units[-1]]:
            return _error(
                f"time units repeated or out of order ({shown}): write one time, largest unit "
                "first, e.g. '3 y 6 mo'"
            )
        units.append(unit)
        total += magnitude * _DAYS[unit]
    value = _signed(match[1], total / _DAYS[canonical])
    rule = f"{_join([_PLURAL[u] for u in units])} written in the cell"
    if units != [canonical]:
        rule += f", converted to {_PLURAL[canonical]}"
    return _reading(value, [*rules, rule], shown, _in_units(value, canonical))


def _time_fraction_reason(fraction: re.Match[str], shown: str) -> str:
    # Clinical shorthand: 6/12 is six months, 3/52 three weeks, 5/7 five days.
    shorthand = {"12": "month", "52": "week", "7": "day"}.get(fraction[2])
    top = fraction[1]
    if shorthand and top.isdigit():
        return (
            f"a fraction ({shown}), not one number: if it is the clinical shorthand for "
            f"{top} {_PLURAL[shorthand]}, write '{top} {_ABBREVIATION[shorthand]}'"
        )
    return f"a fraction ({shown}), not one number: give one value"


def _unreadable(text: str, kind: Quantity) -> str:
    """Why a cell that matched no reading cannot be read."""
    if _NOT_FINITE.fullmatch(text):
        return f"'{text}' is not a finite number: type the value in digits"
    if _IN_WORDS.fullmatch(text):
        return "a number written in words: type it in digits"
    found = _ANY_NUMBER.findall(text)
    if not found:
        return (
            "text, not a number: type the value in digits, or leave the cell empty (or write "
            "NR) if it is not reported"
        )
    if _SPACED_THOUSANDS.fullmatch(text):
        return (
            f"a number with spaces in it ({text}): type it without spaces if it is one number, "
            "or give one value per cell"
        )
    if len(found) > 1:
        return (
            "several numbers in one cell: give one value here and put any other in its own column"
        )
    allowed = {
        Quantity.NUMBER: "a one-word unit such as 'Hz' may follow it",
        Quantity.SCORE: "a scale such as '/10' or a name such as 'VAS' may go with it",
        Quantity.PERCENT: "a '%' may follow it",
    }.get(kind, "a time unit such as 'y' or 'mo' may follow it")
    return f"text besides the number: type the number alone ({allowed})"
