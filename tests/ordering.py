"""The contract's row order and filters, computed in Python from fixture rows, so that tests
can compare the API's pages with an order that does not come from the code under test."""

from datetime import datetime
from decimal import Decimal

TIMESTAMP_KEYS = ("createdAt", "startedAt", "completedAt")
INTEGER_KEYS = ("order", "durationMs", "totalTokens", "retryCount")
STRING_KEYS = ("status", "stepName", "stepType")


def instant(text):
    """Parse a fixture timestamp into an aware datetime cut to milliseconds, as stored."""
    moment = datetime.fromisoformat(text)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def sort_value(row, sort_by):
    """Return the value that ``sortBy=sort_by`` orders ``row`` by, or None when it is null."""
    value = row.get(sort_by)
    if value is None:
        return None
    if sort_by in TIMESTAMP_KEYS:
        return instant(value)
    if sort_by == "estimatedCost":
        return Decimal(str(value))
    # Integers compare as ints and strings by code point, which is how Python compares them.
    return value


def expected_order(rows, sort_by, descending):
    """Return the rows in the contract's order: by value, nulls last, ties by id ascending."""
    by_id = sorted(rows, key=lambda row: row["id"])
    present = [row for row in by_id if sort_value(row, sort_by) is not None]
    missing = [row for row in by_id if sort_value(row, sort_by) is None]

    # sorted() is stable in both directions, so rows with equal values keep the id order.
    ordered = sorted(present, key=lambda row: sort_value(row, sort_by), reverse=descending)
    return ordered + missing


def expected_ids(rows, sort_by="createdAt", descending=True):
    return [row["id"] for row in expected_order(rows, sort_by, descending)]
