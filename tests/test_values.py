"""Unit tests of values.py: timestamps, query bounds, costs and their sort keys."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fixtures
import values
from values import InvalidValue


def epoch_ms(*fields):
    """Epoch milliseconds of a UTC datetime, computed without values.py."""
    return int(datetime(*fields, tzinfo=timezone.utc).timestamp() * 1000)


NOON = epoch_ms(2024, 6, 1, 12, 0, 0)


# -- parse_date_time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T12:00:00Z", NOON),
        ("2024-06-01t12:00:00z", NOON),
        ("2024-06-01T12:00:00", NOON),
        ("2024-06-01T12:00Z", NOON),
        ("2024-06-01 12:00:00Z", NOON),
        ("2024-06-01T14:00:00+02:00", NOON),
        ("2024-06-01T14:00:00+0200", NOON),
        ("2024-06-01T06:30:00-05:30", NOON),
        ("2024-06-01T06:30:00-0530", NOON),
        ("2024-06-01T12:00:00+00:00", NOON),
        ("2024-06-01T12:00:00-00:00", NOON),
        ("2024-06-02T01:45:00+13:45", NOON),
        ("2024-06-01T00:00:00-23:59", epoch_ms(2024, 6, 1, 23, 59)),
        ("2024-06-01T12:00:00.250Z", NOON + 250),
        ("2024-06-01T12:00:00,250Z", NOON + 250),
        ("2024-06-01T12:00:00.5Z", NOON + 500),
        ("2024-06-01T12:00:00.05Z", NOON + 50),
        ("2024-06-01T12:00:00.123456789Z", NOON + 123),
        ("2024-06-01T12:00:00.999999Z", NOON + 999),
        ("1969-12-31T23:59:59.999Z", -1),
        ("1970-01-01T00:00:00Z", 0),
        ("1900-03-01T00:00:00Z", epoch_ms(1900, 3, 1)),
        ("2024-02-29T00:00:00Z", epoch_ms(2024, 2, 29)),
        ("0001-01-01T00:00:00Z", epoch_ms(1, 1, 1)),
        ("9999-12-31T23:59:59.999Z", epoch_ms(9999, 12, 31, 23, 59, 59) + 999),
    ],
)
def test_parse_date_time_valid(text, expected):
    assert values.parse_date_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01T12:00:00.1231Z", NOON + 124),
        ("2024-06-01T12:00:00.123000001Z", NOON + 124),
        ("2024-06-01T12:00:00.123000Z", NOON + 123),
        ("2024-06-01T12:00:00.123Z", NOON + 123),
        ("2024-06-01T12:00:00.9999Z", NOON + 1000),
        ("2024-06-01T12:00:00Z", NOON),
    ],
)
def test_parse_date_time_round_up(text, expected):
    assert values.parse_date_time(text, round_up=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-06-01",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-06-31T00:00:00Z",
        "2024-06-00T00:00:00Z",
        "2024-06-01T24:00:00Z",
        "2024-06-01T12:60:00Z",
        "2024-06-01T12:00:60Z",
        "2024-06-01T12:00:00+24:00",
        "2024-06-01T12:00:00+05:60",
        "2024-06-01T12:00:00+5:00",
        "2024-06-01T12:00:00+05",
        "2024-06-01T12:00:00 +05:00",
        "2024-06-01T12:00:00.Z",
        "2024-06-01T12:00:00.1234567890Z",
        "2024-6-01T12:00:00Z",
        "24-06-01T12:00:00Z",
        "2024-06-01T12",
        "2024-06-01T12:00:00ZZ",
        "2024-06-01T12:00:00Z\n",
        " 2024-06-01T12:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-05:00",
        "２０２４-06-01T12:00:00Z",
        "2024-٠٦-01T12:00:00Z",
        "2024-06-01T１２:00:00Z",
        "2024-06-01T12:00:00+٠٥:00",
        "2024-06-01T12:00:00.٥Z",
        "yesterday",
    ],
)
def test_parse_date_time_invalid(text):
    with pytest.raises(InvalidValue, match="ISO 8601"):
        values.parse_date_time(text)


@pytest.mark.parametrize("value", [None, 1717243200, 1717243200.0, b"2024-06-01T12:00:00Z"])
def test_parse_date_time_non_string(value):
    with pytest.raises(InvalidValue):
        values.parse_date_time(value)


def test_parse_date_time_round_up_past_max():
    with pytest.raises(InvalidValue, match="0001-9999"):
        values.parse_date_time("9999-12-31T23:59:59.9991Z", round_up=True)


# -- parse_bound -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2024-06-01", False, epoch_ms(2024, 6, 1)),
        ("2024-06-01", True, epoch_ms(2024, 6, 1, 23, 59, 59) + 999),
        ("1969-12-31", False, -86_400_000),
        ("1969-12-31", True, -1),
        ("2024-02-29", True, epoch_ms(2024, 2, 29, 23, 59, 59) + 999),
        ("0001-01-01", False, epoch_ms(1, 1, 1)),
        ("9999-12-31", True, epoch_ms(9999, 12, 31, 23, 59, 59) + 999),
        ("2024-06-01T12:00:00Z", False, NOON),
        ("2024-06-01T12:00:00Z", True, NOON),
        ("2024-06-01T14:00:00+02:00", True, NOON),
        # A lower bound rounds extra digits up and an upper bound truncates them, so both
        # keep exactly the stored milliseconds that the written instant includes.
        ("2024-06-01T12:00:00.0005Z", False, NOON + 1),
        ("2024-06-01T12:00:00.0005Z", True, NOON),
    ],
)
def test_parse_bound_valid(text, end, expected):
    assert values.parse_bound(text, end=end) == expected


@pytest.mark.parametrize("end", [False, True])
@pytest.mark.parametrize(
    "text", ["2024-02-30", "2023-02-29", "2024-13-01", "2024-00-01", "2024-06-00", "0000-01-01"]
)
def test_parse_bound_invalid_date(text, end):
    with pytest.raises(InvalidValue, match="calendar date"):
        values.parse_bound(text, end=end)


@pytest.mark.parametrize("text", ["2024-06", "20240601", "2024/06/01", "２０２４-06-01", "today", ""])
def test_parse_bound_invalid_text(text):
    with pytest.raises(InvalidValue, match="ISO 8601"):
        values.parse_bound(text, end=False)


# -- format_timestamp --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("millis", "expected"),
    [
        (NOON, "2024-06-01T12:00:00Z"),
        (NOON + 250, "2024-06-01T12:00:00.250Z"),
        (NOON + 1, "2024-06-01T12:00:00.001Z"),
        (NOON + 999, "2024-06-01T12:00:00.999Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-1000, "1969-12-31T23:59:59Z"),
        (-86_400_000 - 500, "1969-12-30T23:59:59.500Z"),
        (epoch_ms(1900, 3, 1, 8, 5, 3), "1900-03-01T08:05:03Z"),
        (epoch_ms(1, 1, 1), "0001-01-01T00:00:00Z"),
        (epoch_ms(9999, 12, 31, 23, 59, 59) + 999, "9999-12-31T23:59:59.999Z"),
        (None, None),
    ],
)
def test_format_timestamp(millis, expected):
    assert values.format_timestamp(millis) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=values.MIN_MS, max_value=values.MAX_MS))
def test_format_timestamp_round_trip(millis):
    assert values.parse_date_time(values.format_timestamp(millis)) == millis


# -- costs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.00015", "0.00015"),
        ("12.5", "12.5"),
        ("1.50", "1.50"),
        (" 0.0045 ", "0.0045"),
        ("+3", "3"),
        ("-0.25", "-0.25"),
        (".5", "0.5"),
        ("0", "0"),
        ("-0", "0"),
        ("-0.000", "0.000"),
        ("1.5E-4", "0.00015"),
        ("1.5e-4", "0.00015"),
        ("1e3", "1000"),
        ("2E+2", "200"),
        ("1E-12", "0.000000000001"),
        (0, "0"),
        (7, "7"),
        (-2, "-2"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1.5e16, "15000000000000000"),
        (Decimal("0.00015"), "0.00015"),
    ],
)
def test_cost_parse_and_format(value, expected):
    assert values.format_cost(values.parse_cost(value)) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        [],
        {},
        "",
        "abc",
        "NaN",
        "nan",
        "sNaN",
        "Infinity",
        "-inf",
        float("nan"),
        float("inf"),
        float("-inf"),
        "1_000",
        "١٢",
        "１２.５",
        "1,5",
        "0x10",
        "1e",
        "1E+10000",
        "1E-10000",
    ],
)
def test_parse_cost_invalid(value):
    with pytest.raises(InvalidValue):
        values.parse_cost(value)


def cost_key(text):
    return values.cost_sort_key(values.parse_cost(text))


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ("0.00015", "0.0045"),
        ("0.0045", "12.5"),
        ("0.00015", "12.5"),
        ("9", "10"),
        ("10", "100"),
        ("1", "1.5"),
        ("1.5", "2"),
        ("0", "0.0000001"),
        ("-0.0000001", "0"),
        ("-1", "0"),
        ("-10", "-9"),
        ("-1.5", "-1"),
        ("-1.6", "-1.5"),
        ("-100", "-0.001"),
        ("-12.5", "0.00015"),
        ("1E-9999", "1E+9999"),
        # more significant digits than the default decimal context's 28
        ("1.0000000000000000000000000000001", "1.0000000000000000000000000000002"),
        ("-999999999999999999999999999950", "-999999977699813849196106164996.2081209844565844"),
        ("-1E+9999", "-1E-9999"),
    ],
)
def test_cost_sort_key_order(smaller, larger):
    assert cost_key(smaller) < cost_key(larger)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("1.5", "1.50"),
        ("1.5", "1.500000"),
        ("100", "1E+2"),
        ("0.00015", "1.5E-4"),
        ("0", "0.000"),
        ("0", "-0"),
        ("-2.0", "-2"),
    ],
)
def test_cost_sort_key_equal_values(first, second):
    assert cost_key(first) == cost_key(second)


decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30, places=None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(decimals, min_size=2, max_size=8))
def test_cost_sort_key_orders_like_decimal(numbers):
    parsed = [values.parse_cost(str(number)) for number in numbers]

    by_key = sorted(parsed, key=values.cost_sort_key)

    assert by_key == sorted(parsed)


@settings(max_examples=300, deadline=None)
@given(decimals, decimals)
def test_cost_sort_key_pairwise(first, second):
    first_key = values.cost_sort_key(values.parse_cost(str(first)))
    second_key = values.cost_sort_key(values.parse_cost(str(second)))

    assert (first_key < second_key) == (first < second)
    assert (first_key == second_key) == (first == second)


@settings(max_examples=200, deadline=None)
@given(decimals)
def test_format_cost_plain_round_trip(number):
    text = values.format_cost(values.parse_cost(str(number)))

    assert "e" not in text.lower()
    assert Decimal(text) == number


def test_cost_from_json_keeps_every_digit():
    document = fixtures.parse_json('{"estimatedCost": 12345678901234567890.123}')

    assert values.format_cost(values.parse_cost(document["estimatedCost"])) == "12345678901234567890.123"
