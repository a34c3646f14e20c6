"""Conversions between the API's wire values and the stored ones.

Timestamps are stored as integer milliseconds since the Unix epoch, and costs as exact
decimal text plus a text sort key, so both sort correctly in any SQL database.
"""

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)
MS_PER_DAY = 86_400_000
# The instants that format_timestamp can write: years 0001 to 9999 in UTC.
MIN_MS = (datetime(1, 1, 1, tzinfo=timezone.utc) - EPOCH) // ONE_MS
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=timezone.utc) - EPOCH) // ONE_MS

# ISO 8601 in the extended form the API uses. Only ASCII digits are accepted, so "２０２４"
# or Arabic-Indic digits are rejected instead of being read as numbers by int().
_DATE_TIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Decimal() alone would also read "1_000", "١٢" and fullwidth digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# Costs outside this exponent range are rejected; the sort key stores the exponent in a
# fixed width of five digits.
MAX_COST_EXPONENT = 9_999


class InvalidValue(ValueError):
    """A wire value that cannot be converted; the message names what is accepted."""


def parse_date_time(text, *, round_up=False):
    """Parse an ISO 8601 date-time into epoch milliseconds.

    A missing offset means UTC. Digits beyond milliseconds are truncated, or rounded up
    when ``round_up`` is true, which keeps an inclusive lower bound exact.

    :raise InvalidValue: when ``text`` is not such a date-time.
    """
    match = _DATE_TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidValue("not an ISO 8601 date-time")

    try:
        day = date.fromisoformat(match["date"])
    except ValueError:
        raise InvalidValue(f"not an ISO 8601 date-time: {match['date']} is not a calendar date") from None

    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidValue(
            "not an ISO 8601 date-time: the time of day is out of range (hours 00-23, minutes and seconds 00-59)"
        )
    moment = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=_parse_offset(match["offset"]))

    fraction = match["fraction"] or ""
    millis = int(fraction[:3].ljust(3, "0"))
    if round_up and fraction[3:].strip("0"):
        millis += 1
    result = (moment - EPOCH) // ONE_MS + millis

    # An offset can move a valid local time out of the years 0001-9999 in UTC, which
    # format_timestamp could not write back.
    if not MIN_MS <= result <= MAX_MS:
        raise InvalidValue("not an ISO 8601 date-time: outside the years 0001-9999 in UTC")
    return result


def _parse_offset(text):
    if text is None or text in "Zz":
        return timezone.utc

    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise InvalidValue(f"not an ISO 8601 date-time: the offset {text} is out of range (at most ±23:59)")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def parse_bound(text, *, end):
    """Parse a ``from`` or ``to`` query value into epoch milliseconds.

    A date alone means the first millisecond of that UTC day, or the last one when
    ``end`` is true, so both bounds stay inclusive.

    :raise InvalidValue: when ``text`` is neither a date nor a date-time.
    """
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidValue(f"{text} is not a calendar date") from None
        start = (datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - EPOCH) // ONE_MS
        return start + MS_PER_DAY - 1 if end else start

    return parse_date_time(text, round_up=not end)


def format_timestamp(millis):
    """Format epoch milliseconds as the API does: UTC with ``Z``, milliseconds only if set."""
    if millis is None:
        return None

    moment = EPOCH + timedelta(milliseconds=millis)
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    fraction = millis % 1000
    if fraction:
        text += f".{fraction:03d}"
    return text + "Z"


def parse_cost(value):
    """Parse an ``estimatedCost`` given as a decimal string or a JSON number.

    :raise InvalidValue: for booleans, other types, NaN, infinities and exponents beyond
        ``MAX_COST_EXPONENT``.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidValue("not a decimal number or decimal string")

    if isinstance(value, str):
        value = value.strip()
        if not _DECIMAL.fullmatch(value):
            raise InvalidValue("not a decimal string such as 0.00015 or 1.5e-4, written with the digits 0-9")

    try:
        # A float parsed from a fixture keeps its JSON text, which may hold more digits
        # than the float. Otherwise str() keeps the short written form of a float like 0.1.
        number = Decimal(value if isinstance(value, str) else getattr(value, "text", None) or str(value))
    except InvalidOperation:
        raise InvalidValue("not a decimal number or decimal string") from None

    if not number.is_finite():
        raise InvalidValue("not a finite decimal number")
    if number and abs(number.adjusted()) > MAX_COST_EXPONENT:
        raise InvalidValue(f"decimal exponent beyond ±{MAX_COST_EXPONENT}")
    # A negative zero would be written back as "-0".
    return number.copy_abs() if number.is_zero() else number


def format_cost(number):
    """Format a cost as plain decimal text, never in exponent form."""
    return format(number, "f")


def cost_sort_key(number):
    """Return text that sorts, byte by byte, in the numeric order of the costs.

    The key is a sign class (0 negative, 1 zero, 2 positive), the decimal exponent in five
    digits and then the significant digits. For negative numbers the exponent and digits
    are complemented and closed by ``:``, which sorts after every digit, so that a longer
    digit string of a negative number sorts first.
    """
    if number.is_zero():
        return "1"

    # Trailing zeros are stripped by hand: normalize() would round to the context's 28
    # digits, so that longer costs would get keys of other, rounded values.
    sign, digits, _ = number.as_tuple()
    exponent = number.adjusted() + 50_000
    digit_text = "".join(map(str, digits)).rstrip("0")
    if sign == 0:
        return f"2{exponent:05d}{digit_text}"

    complement = "".join(str(9 - int(digit)) for digit in digit_text)
    return f"0{99_999 - exponent:05d}{complement}:"
