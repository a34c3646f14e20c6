"""Filters and sorting of GET /v1/records/{id}/step-results, checked against orders and
filters computed in Python from the loaded rows."""

import random
from datetime import datetime, timedelta, timezone
from itertools import cycle, islice
from urllib.parse import urlencode

import pytest

import readonly
import schemas
from conftest import AUTH, ORGANIZATION_ID, RECORD_ID, USER_ID, base_fixture, make_step_result
from ordering import INTEGER_KEYS, STRING_KEYS, TIMESTAMP_KEYS, expected_ids, instant, sort_value
from readonly import client  # noqa: F401 (a fixture)

SECOND_RECORD_ID = "record_second"
SORT_KEYS = list(schemas.SORT_KEYS)

# Instants written with several offsets. Equal instants in other notations make ties.
CREATED = [
    "2024-06-01T10:00:00Z",
    "2024-06-01T12:00:00+02:00",
    "2024-06-01T05:00:00-05:00",
    "2024-06-01T10:00:00.001Z",
    "2024-06-01T10:00:00.000900Z",
    "2024-06-01T11:30:00+05:30",
    "2024-05-31T23:59:59.999Z",
    "2024-06-01T00:00:00Z",
    "2024-06-01T23:59:59.999Z",
    "2024-06-02T01:59:59.999+02:00",
    "2024-06-02T00:00:00Z",
    "2024-06-01T20:00:00-04:00",
    "1969-12-31T23:59:59.500Z",
]
STARTED = [None, "2024-06-01T09:59:59Z", "2024-06-01T11:59:59.5+02:00", "2024-06-01T09:59:59Z", "2023-01-01T00:00:00-12:00"]
COMPLETED = ["2024-06-01T10:00:01.250Z", None, None, "2024-06-01T15:00:01.25+05:00", "2024-06-01T10:00:02Z", "2030-01-01T00:00:00Z"]
ORDERS = [9, 10, 100, None, 1, 10, 0, 2]
DURATIONS = [None, 0, 1500, 9, 10, 100, 2**40, 1500, 999]
STEP_NAMES = ["B", "a", "é", "日", "Z", "z", "", "ab", "a", "ｱ", "😀", "A b", "e\u0301", "B"]
STEP_TYPES = ["prompt", "api-call", "ai-processing", "Prompt", "transform"]
TOTAL_TOKENS = [None, 9, 10, 100, 0, 1_000_000, 10]
COSTS = ["0.00015", "0.0045", "12.5", None, "1.5", "1.50", "0", "1E-7", 100, "99.99", 0.1, "-0.25"]
RETRIES = [0, 1, None, 2, 10, 0]
FLOWS = ["flow_a", "flow_b", None, "Flow_a"]
BATCHES = ["batch_1", None, "batch_2"]
STATUS_CYCLE = list(schemas.STEP_STATUSES) + ["completed", "failed"]
ROW_COUNT = 60


def take(values, count):
    return list(islice(cycle(values), count))


def build_rows():
    """Rows whose columns cycle through lists of different lengths, so values, ties and
    nulls fall in many combinations."""
    columns = {
        "createdAt": take(CREATED, ROW_COUNT),
        "startedAt": take(STARTED, ROW_COUNT),
        "completedAt": take(COMPLETED, ROW_COUNT),
        "order": take(ORDERS, ROW_COUNT),
        "durationMs": take(DURATIONS, ROW_COUNT),
        "status": take(STATUS_CYCLE, ROW_COUNT),
        "stepName": take(STEP_NAMES, ROW_COUNT),
        "stepType": take(STEP_TYPES, ROW_COUNT),
        "totalTokens": take(TOTAL_TOKENS, ROW_COUNT),
        "estimatedCost": take(COSTS, ROW_COUNT),
        "retryCount": take(RETRIES, ROW_COUNT),
        "flowId": take(FLOWS, ROW_COUNT),
        "batchExecutionId": take(BATCHES, ROW_COUNT),
    }
    return [
        make_step_result(index, **{name: values[index] for name, values in columns.items()})
        for index in range(ROW_COUNT)
    ]


ROWS = build_rows()
# Rows of another record in the same organization, with the same values, must never show up.
SECOND_ROWS = [dict(row, id=f"second_{row['id']}", recordId=SECOND_RECORD_ID) for row in ROWS[:20]]


SECOND_RECORD = {"id": SECOND_RECORD_ID, "organizationId": ORGANIZATION_ID, "userId": USER_ID}
# Loaded in shuffled order, so that insertion order cannot pass for id order.
SHUFFLED_ROWS = ROWS + SECOND_ROWS
random.Random(20240601).shuffle(SHUFFLED_ROWS)
loaded_app = readonly.module_app(base_fixture(), {"records": [SECOND_RECORD], "stepResults": SHUFFLED_ROWS})


def fetch(client, **query):
    """Return the ids of one page of up to 100 rows."""
    response = client.get(
        f"/v1/records/{RECORD_ID}/step-results?" + urlencode({"limit": 100, **query}, doseq=True), headers=AUTH
    )
    assert response.status_code == 200, response.get_json()
    return [row["id"] for row in response.get_json()["data"]]


def fetch_rows(client, **query):
    response = client.get(
        f"/v1/records/{RECORD_ID}/step-results?" + urlencode({"limit": 100, **query}), headers=AUTH
    )
    return response.get_json()["data"]


def test_dataset_fits_one_page():
    assert len(ROWS) <= schemas.MAX_LIMIT


# -- sorting -----------------------------------------------------------------------------


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORT_KEYS)
def test_sort_matches_python(client, sort_by, sort_order):
    expected = expected_ids(ROWS, sort_by, sort_order == "desc")

    assert fetch(client, sortBy=sort_by, sortOrder=sort_order) == expected


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORT_KEYS)
def test_sort_with_filter_matches_python(client, sort_by, sort_order):
    matching = [row for row in ROWS if row["status"] in ("completed", "failed") and row["flowId"] == "flow_a"]

    response_ids = fetch(client, sortBy=sort_by, sortOrder=sort_order, status="completed,failed", flowId="flow_a")

    assert response_ids == expected_ids(matching, sort_by, sort_order == "desc")


def test_default_sort_created_desc(client):
    assert fetch(client) == expected_ids(ROWS, "createdAt", True)


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", ["startedAt", "completedAt", "order", "durationMs", "totalTokens", "estimatedCost", "retryCount"])
def test_nulls_last(client, sort_by, sort_order):
    rows = fetch_rows(client, sortBy=sort_by, sortOrder=sort_order)
    nulls = [row[sort_by] is None for row in rows]
    first_null = nulls.index(True)

    assert not any(nulls[:first_null])
    assert all(nulls[first_null:])


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", SORT_KEYS)
def test_ties_by_id_ascending(client, sort_by, sort_order):
    rows = fetch_rows(client, sortBy=sort_by, sortOrder=sort_order)
    runs = {}
    for row in rows:
        runs.setdefault(str(sort_value(row, sort_by)), []).append(row["id"])

    assert any(len(run) > 1 for run in runs.values())
    for run in runs.values():
        assert run == sorted(run)


def values_in_order(client, sort_by, sort_order):
    return [row[sort_by] for row in fetch_rows(client, sortBy=sort_by, sortOrder=sort_order)]


def positions(items, wanted):
    return [items.index(value) for value in wanted]


@pytest.mark.parametrize(
    ("sort_by", "ascending"),
    [
        ("order", [9, 10, 100]),
        ("durationMs", [0, 9, 10, 100, 999, 1500, 2**40]),
        ("totalTokens", [0, 9, 10, 100, 1_000_000]),
        ("retryCount", [0, 1, 2, 10]),
        ("estimatedCost", ["-0.25", "0", "0.0000001", "0.00015", "0.0045", "0.1", "1.5", "12.5", "99.99", "100"]),
        ("stepName", ["", "A b", "B", "Z", "a", "ab", "e\u0301", "z", "é", "日", "ｱ", "😀"]),
        ("stepType", ["Prompt", "ai-processing", "api-call", "prompt", "transform"]),
        ("status", sorted(schemas.STEP_STATUSES)),
    ],
)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_values_compare_by_type(client, sort_by, ascending, sort_order):
    items = values_in_order(client, sort_by, sort_order)
    wanted = ascending if sort_order == "asc" else ascending[::-1]

    found = positions(items, wanted)

    assert found == sorted(found)


def test_cost_examples_numeric(client):
    costs = values_in_order(client, "estimatedCost", "asc")

    assert costs.index("0.00015") < costs.index("0.0045") < costs.index("12.5")


def test_string_examples_code_point(client):
    names = values_in_order(client, "stepName", "asc")

    assert names.index("B") < names.index("a") < names.index("é") < names.index("日")


def test_astral_after_bmp(client):
    """UTF-16 code units would put U+1F600 before U+FF71; code points put it after."""
    names = values_in_order(client, "stepName", "asc")

    assert names.index("ｱ") < names.index("😀")


@pytest.mark.parametrize("sort_by", list(TIMESTAMP_KEYS))
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_timestamps_by_instant(client, sort_by, sort_order):
    moments = [
        datetime.fromisoformat(text) for text in values_in_order(client, sort_by, sort_order) if text is not None
    ]

    assert moments == sorted(moments, reverse=sort_order == "desc")


@pytest.mark.parametrize("sort_by", list(INTEGER_KEYS) + list(STRING_KEYS))
def test_desc_reverses_values(client, sort_by):
    ascending = [value for value in values_in_order(client, sort_by, "asc") if value is not None]
    descending = [value for value in values_in_order(client, sort_by, "desc") if value is not None]

    assert descending == ascending[::-1]


# -- filters -----------------------------------------------------------------------------


def utc(*fields):
    return datetime(*fields, tzinfo=timezone.utc)


def matches(row, *, flow=None, batch=None, statuses=None, start=None, end=None):
    """The contract's filters, applied in Python to one fixture row."""
    created = instant(row["createdAt"])
    return (
        (flow is None or row["flowId"] == flow)
        and (batch is None or row["batchExecutionId"] == batch)
        and (statuses is None or row["status"] in statuses)
        and (start is None or created >= start)
        and (end is None or created <= end)
    )


END_OF_JUNE_1 = utc(2024, 6, 1, 23, 59, 59, 999_000)

FILTER_CASES = [
    ({"flowId": "flow_a"}, {"flow": "flow_a"}),
    ({"flowId": "Flow_a"}, {"flow": "Flow_a"}),
    ({"flowId": "flow_b"}, {"flow": "flow_b"}),
    ({"flowId": "flow"}, {"flow": "flow"}),
    ({"flowId": "flow_a "}, {"flow": "flow_a "}),
    ({"flowId": "null"}, {"flow": "null"}),
    ({"batchId": "batch_1"}, {"batch": "batch_1"}),
    ({"batchId": "batch_2"}, {"batch": "batch_2"}),
    ({"batchId": "BATCH_1"}, {"batch": "BATCH_1"}),
    ({"status": "completed"}, {"statuses": {"completed"}}),
    ({"status": "skipped"}, {"statuses": {"skipped"}}),
    ({"status": "completed,failed"}, {"statuses": {"completed", "failed"}}),
    ({"status": ["running", "paused,queued"]}, {"statuses": {"running", "paused", "queued"}}),
    ({"status": ",".join(schemas.STEP_STATUSES)}, {"statuses": set(schemas.STEP_STATUSES)}),
    ({"flowId": "flow_a", "batchId": "batch_1"}, {"flow": "flow_a", "batch": "batch_1"}),
    ({"flowId": "flow_a", "status": "completed,pending"}, {"flow": "flow_a", "statuses": {"completed", "pending"}}),
    # inclusive bounds, date-only bounds at the edges of a UTC day, and offsets
    ({"from": "2024-06-01"}, {"start": utc(2024, 6, 1)}),
    ({"to": "2024-06-01"}, {"end": END_OF_JUNE_1}),
    ({"from": "2024-06-01", "to": "2024-06-01"}, {"start": utc(2024, 6, 1), "end": END_OF_JUNE_1}),
    ({"from": "2024-06-02"}, {"start": utc(2024, 6, 2)}),
    ({"to": "2024-05-31"}, {"end": utc(2024, 5, 31, 23, 59, 59, 999_000)}),
    ({"from": "2024-06-01T10:00:00Z"}, {"start": utc(2024, 6, 1, 10)}),
    ({"to": "2024-06-01T10:00:00Z"}, {"end": utc(2024, 6, 1, 10)}),
    ({"from": "2024-06-01T10:00:00Z", "to": "2024-06-01T10:00:00Z"}, {"start": utc(2024, 6, 1, 10), "end": utc(2024, 6, 1, 10)}),
    ({"from": "2024-06-01T10:00:00.001Z"}, {"start": utc(2024, 6, 1, 10, 0, 0, 1000)}),
    ({"to": "2024-06-01T10:00:00.001Z"}, {"end": utc(2024, 6, 1, 10, 0, 0, 1000)}),
    ({"from": "2024-06-01T10:00:00.0005Z"}, {"start": utc(2024, 6, 1, 10, 0, 0, 500)}),
    ({"to": "2024-06-01T10:00:00.0005Z"}, {"end": utc(2024, 6, 1, 10, 0, 0, 500)}),
    ({"from": "2024-06-01T12:00:00+02:00", "to": "2024-06-01T06:00:00.001-04:00"}, {"start": utc(2024, 6, 1, 10), "end": utc(2024, 6, 1, 10, 0, 0, 1000)}),
    ({"from": "2024-06-01T10:00:00"}, {"start": utc(2024, 6, 1, 10)}),
    ({"from": "2024-06-01T23:59:59.999Z"}, {"start": END_OF_JUNE_1}),
    ({"to": "2024-06-01T23:59:59.998Z"}, {"end": END_OF_JUNE_1 - timedelta(milliseconds=1)}),
    ({"from": "2024-06-02T01:59:59.999+02:00", "to": "2024-06-01T23:59:59.999Z"}, {"start": END_OF_JUNE_1, "end": END_OF_JUNE_1}),
    ({"to": "1970-01-01"}, {"end": utc(1970, 1, 1, 23, 59, 59, 999_000)}),
    ({"to": "1969-12-31T23:59:59.4Z"}, {"end": utc(1969, 12, 31, 23, 59, 59, 400_000)}),
    ({"from": "2024-06-01", "to": "2024-06-01T10:00:00Z", "status": "completed,failed,running", "flowId": "flow_a"},
     {"start": utc(2024, 6, 1), "end": utc(2024, 6, 1, 10), "statuses": {"completed", "failed", "running"}, "flow": "flow_a"}),
]


@pytest.mark.parametrize(("query", "conditions"), FILTER_CASES)
def test_filter_matches_python(client, query, conditions):
    matching = [row for row in ROWS if matches(row, **conditions)]

    assert fetch(client, **query) == expected_ids(matching)


@pytest.mark.parametrize(
    "query",
    [{"flowId": "no_such_flow"}, {"batchId": "no_such_batch"}, {"from": "2030-01-01"}, {"to": "1969-12-30"}],
)
def test_filter_without_match_empty(client, query):
    assert fetch(client, **query) == []


@pytest.mark.parametrize(
    ("bound", "row_created", "included"),
    [
        ({"to": "2024-06-01"}, "2024-06-01T23:59:59.999Z", True),
        ({"to": "2024-06-01"}, "2024-06-02T00:00:00Z", False),
        ({"from": "2024-06-01"}, "2024-06-01T00:00:00Z", True),
        ({"from": "2024-06-01"}, "2024-05-31T23:59:59.999Z", False),
        ({"to": "2024-06-01"}, "2024-06-02T01:59:59.999+02:00", True),
        ({"to": "2024-06-01"}, "2024-06-01T20:00:00-04:00", False),
    ],
)
def test_day_edges(client, bound, row_created, included):
    edge_ids = [row["id"] for row in ROWS if row["createdAt"] == row_created]

    found = set(fetch(client, **bound))

    assert edge_ids
    assert all((row_id in found) == included for row_id in edge_ids)


def test_other_record_rows_excluded(client):
    found = fetch(client, flowId="flow_a")

    assert not [row_id for row_id in found if row_id.startswith("second_")]
