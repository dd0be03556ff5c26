"""Reading one cell as a quantity: every form clinicians type is read as the number meant,
or refused with a reason; never a silently different number."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ipdmeta.data import cells, quantities
from ipdmeta.data.quantities import CellReading, Quantity, read_cell, split_header_unit

NUMBER, AGE, DURATION, FOLLOWUP, SCORE, PERCENT = (
    Quantity.NUMBER,
    Quantity.AGE,
    Quantity.DURATION,
    Quantity.FOLLOWUP,
    Quantity.SCORE,
    Quantity.PERCENT,
)
TIMES = (AGE, DURATION, FOLLOWUP)

# A value reached through a division (weeks or days into months, months into years) is the
# exact fraction rounded once; the test's own float arithmetic rounds again, so the two may
# differ in the last bit.
REL = 1e-12

DAYS_PER = {
    "year": Fraction(1461, 4),
    "month": Fraction(1461, 48),
    "week": Fraction(7),
    "day": Fraction(1),
    "hour": Fraction(1, 24),
}
CANONICAL = {AGE: "year", DURATION: "year", FOLLOWUP: "month"}

RULE_UNIT = "a unit written in the cell"
RULE_DASH = "a dash before the number read as a minus sign"
RULE_LABEL = "a scale name (VAS, NRS) written with the score"
RULE_FRACTION = "a score written as a fraction of its scale"
RULE_MM = "millimetres written in the cell (a 0-100 scale)"
RULE_CM = "centimetres written in the cell (a 0-10 scale)"


def _kind(reading: CellReading) -> str:
    kinds = [
        name
        for name, present in (
            ("missing", reading.missing),
            ("value", reading.value is not None),
            ("error", reading.error is not None),
        )
        if present
    ]
    assert len(kinds) == 1, reading
    return kinds[0]


# ---------------------------------------------------------------- the public API


def test_public_names():
    for name in ("Quantity", "CellReading", "read_cell", "split_header_unit"):
        assert name in quantities.__all__
    for name in ("identifier_text", "is_missing_marker", "MISSING_MARKERS"):
        assert name in cells.__all__


@pytest.mark.parametrize("spelling", ["age", "Age", " AGE ", Quantity.AGE], ids=repr)
def test_quantity_accepts_its_string(spelling):
    assert read_cell("6 mo", spelling).value == 0.5


def test_unknown_quantity_or_header_unit_is_a_programming_error():
    with pytest.raises(ValueError):
        read_cell("4", "weight")
    with pytest.raises(ValueError):
        read_cell("4", AGE, header_unit="Hz")


@pytest.mark.parametrize(
    "fields",
    [{}, {"value": 1.0, "missing": True}, {"value": 1.0, "error": "x"}, {"value": math.nan}],
    ids=["nothing", "value-and-missing", "value-and-error", "nan"],
)
def test_a_reading_is_exactly_one_thing(fields):
    with pytest.raises(ValueError):
        CellReading(**{"value": None, **fields})


# ---------------------------------------------------------------- plain numbers

PLAIN = [
    ("45", 45.0),
    ("45.5", 45.5),
    ("61,5", 61.5),
    ("0,500", 0.5),
    ("1,0000", 1.0),
    ("+3", 3.0),
    ("  45  ", 45.0),
    ("\u00a045\u00a0", 45.0),
    (".5", 0.5),
    ("5.", 5.0),
    ("1e3", 1000.0),
    ("-2.5", -2.5),
    ("\u221210", -10.0),  # U+2212 MINUS SIGN
    (45, 45.0),
    (45.5, 45.5),
    (np.int64(7), 7.0),
    (np.float32(0.5), 0.5),
    (Decimal("2.5"), 2.5),
    (-3, -3.0),
]


@pytest.mark.parametrize("quantity", list(Quantity))
@pytest.mark.parametrize(("cell", "value"), PLAIN, ids=[repr(c) for c, _ in PLAIN])
def test_plain_number(cell, value, quantity):
    reading = read_cell(cell, quantity)
    assert reading == CellReading(value)


@pytest.mark.parametrize("quantity", list(Quantity))
@pytest.mark.parametrize("cell", ["\u201310", "\u201410", "\u201010"], ids=["en", "em", "hyphen"])
def test_dash_before_a_number_is_a_minus_with_a_rule(cell, quantity):
    reading = read_cell(cell, quantity)
    assert reading.value == -10.0
    assert reading.rule == RULE_DASH
    assert reading.example is not None and reading.example.startswith(f"'{cell}' as -10")


# ---------------------------------------------------------------- missing

MISSING = ["", "   ", "NR", "nr", "n/a", "N/A", "NA", "n.r.", "-", "\u2013", "\u2014", "\u2212",
           "?", ".", "not reported", "Missing", "nan", None, float("nan"), np.float32("nan"),
           Decimal("NaN")]  # fmt: skip


@pytest.mark.parametrize("quantity", list(Quantity))
@pytest.mark.parametrize("cell", MISSING, ids=repr)
def test_missing(cell, quantity):
    assert read_cell(cell, quantity) == CellReading(None, missing=True)


def test_pandas_nat_is_missing():
    pd = pytest.importorskip("pandas")
    assert read_cell(pd.NaT, AGE).missing


# ---------------------------------------------------------------- time units

TIME_CASES = [
    # (cell, quantity, value, rule)
    ("45y", AGE, 45.0, "years written in the cell"),
    ("45 Y", AGE, 45.0, "years written in the cell"),
    ("45 yr", AGE, 45.0, "years written in the cell"),
    ("45 yrs", AGE, 45.0, "years written in the cell"),
    ("45 yrs.", AGE, 45.0, "years written in the cell"),
    ("45 year", AGE, 45.0, "years written in the cell"),
    ("45 Years", AGE, 45.0, "years written in the cell"),
    ("45yo", AGE, 45.0, "years written in the cell"),
    ("45 y.o.", AGE, 45.0, "years written in the cell"),
    ("45 y/o", AGE, 45.0, "years written in the cell"),
    ("45 years old", AGE, 45.0, "years written in the cell"),
    ("45-year-old", AGE, 45.0, "years written in the cell"),
    ("45,5 y", AGE, 45.5, "years written in the cell"),
    ("6 mo", AGE, 0.5, "months written in the cell, converted to years"),
    ("6-month-old", AGE, 0.5, "months written in the cell, converted to years"),
    ("18 months", AGE, 1.5, "months written in the cell, converted to years"),
    ("3 y 6 mo", AGE, 3.5, "years and months written in the cell, converted to years"),
    ("3 years and 6 months", AGE, 3.5, "years and months written in the cell, converted to years"),
    ("3 y, 6 mo", AGE, 3.5, "years and months written in the cell, converted to years"),
    ("18 mo", DURATION, 1.5, "months written in the cell, converted to years"),
    ("18 mos", DURATION, 1.5, "months written in the cell, converted to years"),
    ("18 mon", DURATION, 1.5, "months written in the cell, converted to years"),
    ("18 mo.", DURATION, 1.5, "months written in the cell, converted to years"),
    ("18m", DURATION, 1.5, "months written in the cell, converted to years"),
    ("18 M", DURATION, 1.5, "months written in the cell, converted to years"),
    ("1y6m", DURATION, 1.5, "years and months written in the cell, converted to years"),
    ("2 yrs", DURATION, 2.0, "years written in the cell"),
    ("-3 mo", DURATION, -0.25, "months written in the cell, converted to years"),
    ("2 yrs", FOLLOWUP, 24.0, "years written in the cell, converted to months"),
    ("2y", FOLLOWUP, 24.0, "years written in the cell, converted to months"),
    ("1.5 years", FOLLOWUP, 18.0, "years written in the cell, converted to months"),
    ("18 mo", FOLLOWUP, 18.0, "months written in the cell"),
    ("18 m", FOLLOWUP, 18.0, "months written in the cell"),
    ("18 months", FOLLOWUP, 18.0, "months written in the cell"),
    ("1y2m", FOLLOWUP, 14.0, "years and months written in the cell, converted to months"),
    ("3 years and 6 months", FOLLOWUP, 42.0,
     "years and months written in the cell, converted to months"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "quantity", "value", "rule"),
    TIME_CASES,
    ids=[f"{c}-{q}" for c, q, _, _ in TIME_CASES],
)
def test_time_unit_in_the_cell_exact(cell, quantity, value, rule):
    # Years and months are whole multiples of each other: these are exact.
    reading = read_cell(cell, quantity)
    assert reading.value == value
    assert reading.rule == rule
    assert reading.error is None and not reading.missing
    assert reading.example is not None and reading.example.startswith(f"'{cell}' as ")


DIVIDED = [
    # (cell, quantity, days)
    ("2 wk", FOLLOWUP, 14),
    ("2 wks", FOLLOWUP, 14),
    ("2 w", FOLLOWUP, 14),
    ("2 weeks", FOLLOWUP, 14),
    ("10 d", FOLLOWUP, 10),
    ("10 days", FOLLOWUP, 10),
    ("1 day", FOLLOWUP, 1),
    ("24 h", FOLLOWUP, 1),
    ("48 hours", FOLLOWUP, 2),
    ("3 weeks", DURATION, 21),
    ("200 days", DURATION, 200),
    ("1y2m", DURATION, Fraction(1461, 4) + 2 * Fraction(1461, 48)),
    ("1 y 2 wk 3 d", AGE, Fraction(1461, 4) + 17),
    ("10 mo", AGE, 10 * Fraction(1461, 48)),
]


@pytest.mark.parametrize(
    ("cell", "quantity", "days"), DIVIDED, ids=[f"{c}-{q}" for c, q, _ in DIVIDED]
)
def test_time_unit_in_the_cell_divided(cell, quantity, days):
    reading = read_cell(cell, quantity)
    expected = float(days) / float(DAYS_PER[CANONICAL[quantity]])
    assert reading.value == pytest.approx(expected, rel=REL)
    assert reading.rule is not None and reading.rule.endswith(
        f"converted to {CANONICAL[quantity]}s"
    )


def test_rule_names_no_value_and_example_does():
    first, second = read_cell("18 mo", DURATION), read_cell("30 mo", DURATION)
    assert first.rule == second.rule
    assert "18" not in (first.rule or "") and "30" not in (second.rule or "")
    assert first.example == "'18 mo' as 1.5 years"
    assert read_cell("2 yrs", FOLLOWUP).example == "'2 yrs' as 24 months"
    assert read_cell("18 mo", FOLLOWUP).example == "'18 mo' as 18 months"


@pytest.mark.parametrize("cell", ["45 m", "45m", "45 M", "6 m."])
def test_m_in_an_age_is_ambiguous(cell):
    reading = read_cell(cell, AGE)
    assert reading.error is not None
    assert "months or male" in reading.error


@pytest.mark.parametrize("quantity", TIMES)
@pytest.mark.parametrize(("cell", "unit"), [("45 kg", "kg"), ("45 cm", "cm"), ("20 min", "min"),
                                            ("45 %", "%"), ("3 decades", "decades")])  # fmt: skip
def test_non_time_unit_in_a_time_quantity_is_named(cell, unit, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None
    assert reading.error.startswith(f"'{unit}' is not a time unit")


@pytest.mark.parametrize("cell", ["6 mo 3 y", "3 y 2 y", "1 d 1 wk"])
def test_compound_units_out_of_order(cell):
    reading = read_cell(cell, AGE)
    assert reading.error is not None and "out of order" in reading.error


@pytest.mark.parametrize(
    ("cell", "hint"), [("6/12", "'6 mo'"), ("3/52", "'3 wk'"), ("5/7", "'5 d'"), ("7/10", None)]
)
@pytest.mark.parametrize("quantity", TIMES)
def test_fraction_in_a_time_quantity(cell, hint, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None and reading.error.startswith(f"a fraction ({cell})")
    if hint:
        assert "clinical shorthand" in reading.error and hint in reading.error
    else:
        assert "clinical shorthand" not in reading.error


# ---------------------------------------------------------------- header units

HEADER_CASES = [
    # (cell, quantity, header unit, value, rule)
    ("18", DURATION, "month", 1.5, "months from the header, converted to years"),
    (18, DURATION, "month", 1.5, "months from the header, converted to years"),
    (18.0, AGE, "month", 1.5, "months from the header, converted to years"),
    ("2", FOLLOWUP, "year", 24.0, "years from the header, converted to months"),
    (np.int64(2), FOLLOWUP, "year", 24.0, "years from the header, converted to months"),
    ("1,5", FOLLOWUP, "year", 18.0, "years from the header, converted to months"),
    ("18", FOLLOWUP, "month", 18.0, None),
    ("45", AGE, "year", 45.0, None),
    ("2 y", DURATION, "month", 2.0, "years written in the cell"),  # the cell's unit wins
    ("6 mo", FOLLOWUP, "year", 6.0, "months written in the cell"),
    ("75", PERCENT, "percent", 75.0, None),
    ("75%", PERCENT, "percent", 75.0, None),
    ("130", NUMBER, "month", 130.0, None),  # a plain number ignores the header's unit
]


@pytest.mark.parametrize(
    ("cell", "quantity", "header", "value", "rule"),
    HEADER_CASES,
    ids=[f"{c!r}-{q}-{h}" for c, q, h, _, _ in HEADER_CASES],
)
def test_header_unit_exact(cell, quantity, header, value, rule):
    reading = read_cell(cell, quantity, header_unit=header)
    assert reading.value == value
    assert reading.rule == rule


def test_header_unit_example_and_division():
    reading = read_cell("18", DURATION, "month")
    assert reading.example == "'18' as 1.5 years"
    weeks = read_cell("6", FOLLOWUP, "week")
    assert weeks.value == pytest.approx(42 / (1461 / 48), rel=REL)
    assert weeks.rule == "weeks from the header, converted to months"
    assert read_cell("18", DURATION, "months").value == 1.5  # a raw spelling is normalised


@pytest.mark.parametrize(
    ("quantity", "header"),
    [(AGE, "percent"), (FOLLOWUP, "mm"), (SCORE, "month"), (SCORE, "percent"), (PERCENT, "year")],
)
def test_header_unit_the_quantity_cannot_have(quantity, header):
    reading = read_cell("18", quantity, header)
    assert reading.error is not None and reading.error.startswith("the column's header gives")


# ---------------------------------------------------------------- scores

SCORE_CASES = [
    # (cell, value, scale, rule)
    ("7", 7.0, None, None),
    ("7/10", 7.0, 10.0, RULE_FRACTION),
    ("7.5 / 10", 7.5, 10.0, RULE_FRACTION),
    ("7,5/10", 7.5, 10.0, RULE_FRACTION),
    ("0/10", 0.0, 10.0, RULE_FRACTION),
    ("10/10", 10.0, 10.0, RULE_FRACTION),
    ("65/100", 65.0, 100.0, RULE_FRACTION),
    ("VAS 8", 8.0, None, RULE_LABEL),
    ("NRS 6", 6.0, None, RULE_LABEL),
    ("nprs 6", 6.0, None, RULE_LABEL),
    ("VAS: 8", 8.0, None, RULE_LABEL),
    ("VAS=8", 8.0, None, RULE_LABEL),
    ("VAS8", 8.0, None, RULE_LABEL),
    ("8 VAS", 8.0, None, RULE_LABEL),
    ("95 mm", 95.0, 100.0, RULE_MM),
    ("95mm", 95.0, 100.0, RULE_MM),
    ("8 cm", 8.0, 10.0, RULE_CM),
    ("8.5 cm", 8.5, 10.0, RULE_CM),
    ("8/10 VAS", 8.0, 10.0, f"{RULE_LABEL}; {RULE_FRACTION}"),
    ("VAS 7/10", 7.0, 10.0, f"{RULE_LABEL}; {RULE_FRACTION}"),
    ("VAS 95 mm", 95.0, 100.0, f"{RULE_LABEL}; {RULE_MM}"),
]


@pytest.mark.parametrize(
    ("cell", "value", "scale", "rule"), SCORE_CASES, ids=[c for c, *_ in SCORE_CASES]
)
def test_score(cell, value, scale, rule):
    reading = read_cell(cell, SCORE)
    assert reading.value == value
    assert reading.scale == scale
    assert reading.rule == rule
    assert reading.unit is None


def test_score_examples():
    assert read_cell("7/10", SCORE).example == "'7/10' as 7 on a 0-10 scale"
    assert read_cell("VAS 8", SCORE).example == "'VAS 8' as 8"
    assert read_cell("95 mm", SCORE).example == "'95 mm' as 95 on a 0-100 scale"


@pytest.mark.parametrize(
    ("cell", "header", "scale"),
    [("95", "mm", 100.0), (95, "mm", 100.0), ("8", "cm", 10.0), ("8 cm", "mm", 10.0),
     ("7/10", "mm", 10.0), ("VAS 60", "mm", 100.0)],
)  # fmt: skip
def test_score_scale_from_the_header(cell, header, scale):
    reading = read_cell(cell, SCORE, header)
    assert reading.scale == scale
    assert reading.value is not None


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("6/7", "a fraction over 7 (6/7)"),
        ("4/5", "a fraction over 5"),
        ("12/10", "outside its own scale"),
        ("-1/10", "outside its own scale"),
        ("80%", "a percent sign in a pain score"),
        ("6 mo", "'mo' is not a unit of a pain score"),
        ("VAS 8 NRS", "text besides the number"),
    ],
)
def test_score_errors(cell, words):
    reading = read_cell(cell, SCORE)
    assert reading.error is not None and words in reading.error


# ---------------------------------------------------------------- percentages

PERCENT_CASES = [
    ("75 %", 75.0, None),
    ("75%", 75.0, None),
    ("75 percent", 75.0, None),
    ("-10%", -10.0, None),
    ("\u221210 %", -10.0, None),
    ("\u201310 %", -10.0, RULE_DASH),
    ("75", 75.0, None),
    ("0.75", 0.75, None),
    (0.84, 0.84, None),
    ("62,5%", 62.5, None),
]


@pytest.mark.parametrize(("cell", "value", "rule"), PERCENT_CASES, ids=repr)
def test_percent(cell, value, rule):
    reading = read_cell(cell, PERCENT)
    assert reading.value == value
    assert reading.rule == rule


@pytest.mark.parametrize(
    ("cell", "words"),
    [("3/4", "a fraction (3/4), not a percentage"), ("75 mm", "'mm' is not a percent sign")],
)
def test_percent_errors(cell, words):
    reading = read_cell(cell, PERCENT)
    assert reading.error is not None and reading.error.startswith(words)


# ---------------------------------------------------------------- plain numbers with units

NUMBER_UNITS = [
    ("130 Hz", 130.0, "Hz"),
    ("130Hz", 130.0, "Hz"),
    ("2.5 mA", 2.5, "mA"),
    ("450 µs", 450.0, "µs"),
    ("5 mg/kg", 5.0, "mg/kg"),
    ("37 °C", 37.0, "°C"),
    ("500 Ω", 500.0, "Ω"),
    ("18 mo", 18.0, "mo"),  # not converted
    ("75%", 75.0, "%"),
    ("-2 V", -2.0, "V"),
    ("60s", 60.0, "s"),  # seconds: a decade only where a number has no unit of its own
]


@pytest.mark.parametrize(("cell", "value", "unit"), NUMBER_UNITS, ids=[c for c, *_ in NUMBER_UNITS])
def test_number_with_a_unit(cell, value, unit):
    reading = read_cell(cell, NUMBER)
    assert reading.value == value
    assert reading.unit == unit
    assert reading.rule == RULE_UNIT
    assert reading.example == f"'{cell}' as {value:g} {unit}"
    assert reading.scale is None


@pytest.mark.parametrize("quantity", [q for q in Quantity if q is not Quantity.NUMBER])
def test_only_a_plain_number_reports_a_unit(quantity):
    assert read_cell("6 mo", quantity).unit is None


# ---------------------------------------------------------------- never a number

EVERY = list(Quantity)


def _error_in_every_quantity(cell):
    return [pytest.param(cell, q, id=f"{cell}-{q}") for q in EVERY]


RANGES = ["8-9", "8 - 9", "8–9", "8 — 9", "8 to 9", "40-50%", "3-6 months", "between 8 and 9",
          "7.5-8", "-10 - -5", "8 \u2212 9"]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "quantity"), [p for c in RANGES for p in _error_in_every_quantity(c)]
)
def test_range_is_an_error(cell, quantity):
    reading = read_cell(cell, quantity)
    assert _kind(reading) == "error"
    assert reading.error.startswith("a range (")
    assert "not one number: give one value (the paper's, or the midpoint)" in reading.error


def test_range_wording():
    assert read_cell("8-9", SCORE).error == (
        "a range (8-9), not one number: give one value (the paper's, or the midpoint) and note "
        "the range in another column"
    )


INEQUALITIES = ["> 50%", ">50", "<1", "< 1 y", ">=3", "=>3", "≥ 3", "≤3", "more than 2",
                "less than 1", "at least 6", "over 60", "under 18", "65+", "65 or older",
                "6 mo or more"]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "quantity"), [p for c in INEQUALITIES for p in _error_in_every_quantity(c)]
)
def test_inequality_is_an_error(cell, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None
    assert reading.error.startswith(f"an inequality ({cell}), not one number")


APPROXIMATIONS = ["~45", "~ 45", "≈45", "about 45", "approx. 45", "approx 45", "approximately 45",
                  "c. 45", "ca 45", "ca. 45", "circa 45", "around 45", "mid-40s", "mid 40s",
                  "early 40s", "late 40s", "40's", "45?", "45 ?", "45 y?", "VAS 8?", "45ish",
                  "45 (approx.)", "45 (estimated)"]  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "quantity"), [p for c in APPROXIMATIONS for p in _error_in_every_quantity(c)]
)
def test_approximation_is_an_error(cell, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None
    assert reading.error.startswith(f"an approximation ({cell}), not an exact value")


@pytest.mark.parametrize("quantity", [q for q in Quantity if q is not Quantity.NUMBER])
def test_a_decade_is_an_approximation(quantity):
    reading = read_cell("40s", quantity)
    assert reading.error is not None and reading.error.startswith("an approximation (40s)")


AMBIGUOUS_THOUSANDS = [("1,000", "1000", "1"), ("12,500", "12500", "12.5"),
                       ("-1,000", "1000", "1"), ("999,999", "999999", "999.999"),
                       ("1,500 days", "1500", "1.5")]  # fmt: skip


@pytest.mark.parametrize("quantity", EVERY)
@pytest.mark.parametrize(
    ("cell", "thousands", "decimal"), AMBIGUOUS_THOUSANDS, ids=[c for c, *_ in AMBIGUOUS_THOUSANDS]
)
def test_thousands_separator_is_ambiguous(cell, thousands, decimal, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None
    token = cell.split()[0].lstrip("-")
    assert reading.error.startswith(f"'{token}' could be {thousands} ")
    assert f"or {decimal} (a decimal comma)" in reading.error


@pytest.mark.parametrize("quantity", EVERY)
@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("1,234.5", "several separators"),
        ("1,000,000", "several separators"),
        ("1.2.3", "a date written as text"),
        ("1.000.000", "several points"),
        ("12 500", "a number with spaces in it"),
    ],
)
def test_other_separators_are_errors(cell, words, quantity):
    reading = read_cell(cell, quantity)
    assert reading.error is not None and words in reading.error


NOT_NUMBERS = [
    (True, "a TRUE/FALSE (Boolean) cell"),
    (False, "a TRUE/FALSE (Boolean) cell"),
    (np.bool_(True), "a TRUE/FALSE (Boolean) cell"),
    ("forty", "a number written in words"),
    ("Forty-five", "a number written in words"),
    ("see text", "text, not a number"),
    ("unknown", "text, not a number"),
    ("8 and 9", "several numbers in one cell"),
    ("8, 9", "several numbers in one cell"),
    ("8; 9", "several numbers in one cell"),
    ("8 and 9 y", "several numbers in one cell"),
    ("45 ± 5", "a value with a spread (45 ± 5)"),
    ("45 +/- 5", "a value with a spread"),
    ("inf", "'inf' is not a finite number"),
    ("-Infinity", "is not a finite number"),
    (float("inf"), "an infinite number"),
    (-np.inf, "an infinite number"),
    ("1e999", "a number too large"),
    (10**400, "a number too large"),
    ("2019-03-04", "a date written as text (2019-03-04)"),
    ("04/03/2019", "a date written as text"),
    ("7-Oct", "a date written as text (7-Oct), as Excel shows a typed '7/10' or '10/7'"),
    ("Oct-26", "a date written as text"),
    ("n=45", "text besides the number"),
    ("6/7", "6/7"),
    (b"45", "a cell holding a bytes"),
]


@pytest.mark.parametrize("quantity", EVERY)
@pytest.mark.parametrize(("cell", "words"), NOT_NUMBERS, ids=[repr(c) for c, _ in NOT_NUMBERS])
def test_not_a_number(cell, words, quantity):
    reading = read_cell(cell, quantity)
    assert _kind(reading) == "error"
    assert words in reading.error


def test_too_large_after_conversion():
    assert "too large" in (read_cell("1e308 y", FOLLOWUP).error or "")
    assert "too large" in (read_cell(1e308, FOLLOWUP, "year").error or "")


# ---------------------------------------------------------------- Excel dates and times

DATES = [
    (
        dt.datetime(2026, 10, 7),
        "Excel shows this cell as a date (7 Oct 2026): a typed '7/10' or '10/7' "
        "(or '7-10' or '10-7') becomes a date. Format the column as Text (or type the number "
        "alone) and enter it again",
    ),
    (
        dt.date(2026, 3, 3),
        "Excel shows this cell as a date (3 Mar 2026): a typed '3/3' (or '3-3') becomes a "
        "date. Format the column as Text (or type the number alone) and enter it again",
    ),
    (
        dt.datetime(2024, 9, 8, 14, 30),
        "Excel shows this cell as a date (8 Sep 2024 14:30): a typed '8/9' or '9/8' "
        "(or '8-9' or '9-8') becomes a date. Format the column as Text (or type the number "
        "alone) and enter it again",
    ),
    (
        dt.datetime(1900, 2, 14),
        "Excel shows this cell as a date (14 Feb 1900), which is how it displays the number 45 "
        "in a date format: format the column as Number and check the value",
    ),
    (
        dt.datetime(1900, 4, 9, 12),
        "Excel shows this cell as a date (9 Apr 1900 12:00), which is how it displays the "
        "number 100.5 in a date format: format the column as Number and check the value",
    ),
    (
        dt.date(1950, 5, 1),
        "Excel shows this cell as a date (1 May 1950), not a number: enter the number meant "
        "(for an age, the age itself rather than a date of birth)",
    ),
    (
        dt.time(7, 10),
        "Excel shows this cell as a time of day (07:10): a typed '7:10' (or a number in a "
        "time format) becomes a time. Format the column as Text (or type the number alone) "
        "and enter it again",
    ),
    (
        dt.timedelta(hours=31, minutes=10),
        "Excel shows this cell as a duration (31:10): a typed '31:10' (or a number in a "
        "duration format) becomes one. Format the column as Text (or type the number alone) "
        "and enter it again",
    ),
]


@pytest.mark.parametrize("quantity", EVERY)
@pytest.mark.parametrize(("cell", "reason"), DATES, ids=[repr(c) for c, _ in DATES])
def test_excel_date_or_time_is_an_error(cell, reason, quantity):
    assert read_cell(cell, quantity) == CellReading(None, error=reason)


def test_excel_serial_matches_openpyxl():
    from_excel = pytest.importorskip("openpyxl.utils.datetime").from_excel
    for serial in (1, 18, 45, 59, 61, 100, 366):
        shown = read_cell(from_excel(serial), AGE).error or ""
        assert f"displays the number {serial} in a date format" in shown


# ---------------------------------------------------------------- header units

HEADERS = [
    ("FU (months)", ("FU", "month")),
    ("Follow-up, mo", ("Follow-up", "month")),
    ("Follow-up (mo.)", ("Follow-up", "month")),
    ("Age (yrs)", ("Age", "year")),
    ("Age [y]", ("Age", "year")),
    ("Age, years", ("Age", "year")),
    ("Duration (years)", ("Duration", "year")),
    ("Pain duration (mo)", ("Pain duration", "month")),
    ("Pain duration (before surgery) (months)", ("Pain duration (before surgery)", "month")),
    ("Follow up in months", ("Follow up", "month")),
    ("FU (in months)", ("FU", "month")),
    ("FU (m)", ("FU", "month")),
    ("FU (wks)", ("FU", "week")),
    ("Time to relief (days)", ("Time to relief", "day")),
    ("Time to relief (h)", ("Time to relief", "hour")),
    ("Relief (%)", ("Relief", "percent")),
    ("Relief %", ("Relief", "percent")),
    ("Pain relief, %", ("Pain relief", "percent")),
    ("% improvement", ("improvement", "percent")),
    ("%improvement", ("improvement", "percent")),
    ("VAS (mm)", ("VAS", "mm")),
    ("VAS (0-100 mm)", ("VAS", "mm")),
    ("VAS (cm)", ("VAS", "cm")),
    ("Age", ("Age", None)),
    ("  Age  ", ("Age", None)),
    ("Stim frequency (Hz)", ("Stim frequency (Hz)", None)),
    ("VAS (0-10)", ("VAS (0-10)", None)),
    ("Sex (m/f)", ("Sex (m/f)", None)),
    ("Change in VAS", ("Change in VAS", None)),
    ("VAS pre-op", ("VAS pre-op", None)),
    ("(months)", ("(months)", None)),
    ("%", ("%", None)),
    ("Author, year", ("Author, year", None)),
    ("Study, Year", ("Study, Year", None)),
    ("Was the condition measured in a standard,\nreliable way?",
     ("Was the condition measured in a standard,\nreliable way?", None)),
    ("Pain\nduration (mo)", ("Pain\nduration", "month")),
]  # fmt: skip


@pytest.mark.parametrize(("header", "expected"), HEADERS, ids=[h for h, _ in HEADERS])
def test_split_header_unit(header, expected):
    assert split_header_unit(header) == expected


def test_header_unit_feeds_read_cell():
    _, unit = split_header_unit("Pain duration (mo)")
    assert read_cell("18", DURATION, unit).value == 1.5


# ---------------------------------------------------------------- properties

PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(list(Quantity)))
@example(-0.0, Quantity.AGE)
@example(5e-324, Quantity.FOLLOWUP)
@example(1.7976931348623157e308, Quantity.SCORE)
def test_any_finite_float_reads_as_itself(x, quantity):
    for cell in (x, repr(x), f" {x!r} ", np.float64(x)):
        reading = read_cell(cell, quantity)
        assert reading == CellReading(x), cell
        assert math.copysign(1, reading.value) == math.copysign(1, x)


CELL_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=list("0123456789 .,+-–−/%<>~?yrmowkdhVASNRcm"), max_size=20),
)


@PROPERTY
@given(CELL_TEXT, st.sampled_from(list(Quantity)), st.sampled_from([None, "month", "mm"]))
@example("1" * 50 + "x", Quantity.AGE, None)
@example("1e99999999999", Quantity.NUMBER, None)
@example("3 y " * 20, Quantity.AGE, None)
@example("1" * 5000, Quantity.NUMBER, None)
@example("7/1" + "0" * 5000, Quantity.SCORE, None)
def test_any_text_reads_as_exactly_one_thing(text, quantity, header):
    reading = read_cell(text, quantity, header)
    kind = _kind(reading)
    if kind == "value":
        assert math.isfinite(reading.value)
        assert (reading.rule is None) == (reading.example is None)
    else:
        assert reading.rule is reading.example is reading.unit is reading.scale is None
    if kind == "error":
        assert reading.error.strip() == reading.error and reading.error


TIME_SPELLINGS = {
    "year": ["y", "yr", "yrs", "year", "years", "yo", "y.o.", "Y", "YRS", "Years", "yrs."],
    "month": ["mo", "mos", "mon", "month", "months", "m", "MO", "Months", "mo."],
    "week": ["w", "wk", "wks", "week", "weeks", "WK", "Weeks"],
    "day": ["d", "day", "days", "D", "Days"],
    "hour": ["h", "hr", "hrs", "hour", "hours"],
}
SPELLINGS = [(unit, spelling) for unit, words in TIME_SPELLINGS.items() for spelling in words]


@st.composite
def number_texts(draw):
    whole = draw(st.integers(0, 10**6))
    decimals = draw(st.one_of(st.none(), st.text(alphabet="0123456789", min_size=1, max_size=4)))
    sign = draw(st.sampled_from(["", "-", "+"]))
    return sign + str(whole) + ("" if decimals is None else "." + decimals)


@PROPERTY
@given(
    number_texts(),
    st.sampled_from(SPELLINGS),
    st.sampled_from(["", " "]),
    st.sampled_from(TIMES),
)
def test_number_and_time_unit_converts_exactly(number, spelling, space, quantity):
    unit, word = spelling
    reading = read_cell(f"{number}{space}{word}", quantity)
    if quantity is AGE and word.rstrip(".").casefold() == "m":
        assert reading.error is not None and "months or male" in reading.error
        return
    factor = DAYS_PER[unit] / DAYS_PER[CANONICAL[quantity]]
    assert reading.value == float(Fraction(number) * factor)  # one rounding of the exact value
    assert reading.value == pytest.approx(float(number) * float(factor), rel=REL, abs=1e-300)
    assert reading.rule is not None and reading.rule.startswith(f"{unit}s written in the cell")
