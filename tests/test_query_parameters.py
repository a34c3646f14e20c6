"""Query parameter validation of GET /v1/records/{id}/step-results: each parameter's valid
and invalid values, empty and repeated values, the 400 body, and the order of the checks."""

from urllib.parse import quote, urlencode

import pytest

import readonly
import schemas
from conftest import (
    API_KEY, AUTH, NO_READ_KEY, OTHER_ORG_KEY, OTHER_RECORD_ID, RECORD_ID, REVOKED_KEY, base_fixture,
    make_step_result,
)
from readonly import client  # noqa: F401 (a fixture)

STATUSES = list(schemas.STEP_STATUSES)
SORT_KEYS = list(schemas.SORT_KEYS)

# Twelve rows in two flows and two batches, with every third one failed.
ROWS = [
    make_step_result(
        index,
        flowId=f"flow_{index % 2}",
        batchExecutionId=f"batch_{index % 2}",
        status="failed" if index % 3 == 0 else "completed",
        order=index,
    )
    for index in range(12)
]


def get(client, query="", *, record_id=RECORD_ID, headers=AUTH):
    """Send the request with ``query`` as the raw query string, or as a list of pairs."""
    if not isinstance(query, str):
        query = urlencode(query)
    return client.get(f"/v1/records/{quote(record_id, safe='')}/step-results?{query}", headers=headers)


def ids(response):
    return [row["id"] for row in response.get_json()["data"]]


loaded_app = readonly.module_app(base_fixture(), {"stepResults": ROWS})


# -- valid values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("sortBy", key) for key in SORT_KEYS]
    + [("status", status) for status in STATUSES]
    + [
        ("status", "completed,failed"),
        ("status", " completed , failed "),
        ("status", ",".join(STATUSES)),
        ("status", "completed,completed"),
        ("sortOrder", "asc"),
        ("sortOrder", "desc"),
        ("sortOrder", "ASC"),
        ("sortOrder", "Desc"),
        ("sortOrder", "dEsC"),
        ("flowId", "flow_1"),
        ("flowId", "日本語 flow/1?&="),
        ("flowId", "x" * 2_000),
        ("batchId", "batch_0"),
        ("batchId", "%2F"),
        ("from", "2024-06-01"),
        ("from", "2024-06-01T10:00:05Z"),
        ("from", "2024-06-01T12:00:05+02:00"),
        ("from", "2024-06-01T10:00:05.5"),
        ("to", "2024-06-01"),
        ("to", "2024-06-01T05:00:05-05:00"),
        ("to", "2024-06-01T10:00:05.123456Z"),
        ("limit", "1"),
        ("limit", "100"),
        ("limit", "007"),
        ("offset", "0"),
        ("offset", "11"),
        ("offset", "12"),
        ("offset", "1000000"),
        ("offset", str(schemas.MAX_OFFSET)),
    ],
)
def test_valid_value_accepted(client, name, value):
    response = get(client, [(name, value)])

    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("query", "limit", "offset"),
    [
        ("", 10, 0),
        ("limit=1", 1, 0),
        ("limit=100", 100, 0),
        ("limit=007", 7, 0),
        ("limit=" + "0" * 40 + "5", 5, 0),
        ("offset=3", 10, 3),
        ("offset=0000", 10, 0),
        ("limit=5&offset=7", 5, 7),
        (f"offset={schemas.MAX_OFFSET}", 10, schemas.MAX_OFFSET),
    ],
)
def test_pagination_effective_values(client, query, limit, offset):
    pagination = get(client, query).get_json()["pagination"]

    assert pagination["limit"] == limit
    assert pagination["offset"] == offset


def test_sort_order_case_insensitive(client):
    expected = ids(get(client, "sortBy=order&limit=100&sortOrder=asc"))

    assert ids(get(client, "sortBy=order&limit=100&sortOrder=ASC")) == expected
    assert ids(get(client, "sortBy=order&limit=100&sortOrder=aSc")) == expected
    assert ids(get(client, "sortBy=order&limit=100&sortOrder=desc")) == expected[::-1]


# -- empty, unknown and repeated parameters ----------------------------------------------


@pytest.mark.parametrize("name", list(schemas.QUERY_PARAMETERS))
def test_empty_value_means_absent(client, name):
    expected = get(client, "limit=100" if name != "limit" else "")

    response = get(client, f"{name}=" + ("&limit=100" if name != "limit" else ""))

    assert response.status_code == 200
    assert response.get_json() == expected.get_json()


def test_empty_limit_uses_default(client):
    assert get(client, "limit=").get_json()["pagination"]["limit"] == schemas.DEFAULT_LIMIT


@pytest.mark.parametrize(
    "query",
    [
        "foo=bar",
        "page=2",
        "pageSize=1",
        "Limit=abc",
        "LIMIT=0",
        "sort_by=nope",
        "sortby=nope",
        "flowid=flow_1",
        "status[]=done",
        "limit[]=0",
        "offset%20=x",
    ],
)
def test_unknown_parameter_ignored(client, query):
    expected = get(client, "")

    response = get(client, query)

    assert response.status_code == 200
    assert response.get_json() == expected.get_json()


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("flowId", "flow_0", "flow_1"),
        ("flowId", "flow_0", "flow_0"),
        ("batchId", "batch_0", "batch_1"),
        ("from", "2024-06-01", "2024-06-02"),
        ("to", "2024-06-01", "2024-06-01"),
        ("sortBy", "order", "createdAt"),
        ("sortOrder", "asc", "desc"),
        ("limit", "5", "5"),
        ("limit", "5", "abc"),
        ("offset", "0", "1"),
    ],
)
def test_repeated_parameter_rejected(client, name, first, second):
    response = get(client, [(name, first), (name, second)])
    body = response.get_json()

    assert response.status_code == 400
    assert list(body["details"]) == [name]
    assert f"'{name}'" in body["error"]
    assert "at most once" in body["details"][name]


def test_repeated_with_empty_value_is_single(client):
    response = get(client, "limit=&limit=5")

    assert response.status_code == 200
    assert response.get_json()["pagination"]["limit"] == 5


@pytest.mark.parametrize(
    ("repeated", "listed"),
    [
        ("status=completed&status=failed", "status=completed,failed"),
        ("status=failed&status=completed", "status=completed,failed"),
        ("status=failed&status=failed", "status=failed"),
        ("status=completed,failed&status=running", "status=completed,failed,running"),
        ("status=&status=failed", "status=failed"),
    ],
)
def test_status_repeated_like_list(client, repeated, listed):
    expected = get(client, listed + "&limit=100")

    response = get(client, repeated + "&limit=100")

    assert response.status_code == 200
    assert ids(response) == ids(expected)


def test_status_list_matches_any(client):
    both = ids(get(client, "status=completed,failed&limit=100"))

    assert len(both) == len(ROWS)


# -- invalid values ----------------------------------------------------------------------

# What each parameter's message must name as accepted.
ACCEPTED = {
    "limit": ["1 to 100", "digits 0-9"],
    "offset": [f"0 to {schemas.MAX_OFFSET}", "digits 0-9"],
    "sortBy": SORT_KEYS,
    "sortOrder": ["asc", "desc"],
    "status": STATUSES,
    "from": ["ISO 8601", "2024-06-01"],
    "to": ["ISO 8601", "2024-06-01"],
}

INVALID_VALUES = [
    ("limit", "0"),
    ("limit", "101"),
    ("limit", "-1"),
    ("limit", "+5"),
    ("limit", "1.5"),
    ("limit", "1e2"),
    ("limit", "0x10"),
    ("limit", " 5"),
    ("limit", "5 "),
    ("limit", "ten"),
    ("limit", "１０"),
    ("limit", "٣"),
    ("limit", "५"),
    ("limit", "1" * 30),
    ("limit", "9" * 5_000),
    ("limit", "true"),
    ("offset", "-1"),
    ("offset", "1.5"),
    ("offset", "+0"),
    ("offset", "٣"),
    ("offset", "１"),
    ("offset", "1_000"),
    ("offset", str(schemas.MAX_OFFSET + 1)),
    ("offset", str(2**64)),
    ("offset", "9" * 30),
    ("offset", "9" * 5_000),
    ("sortBy", "created_at"),
    ("sortBy", "CreatedAt"),
    ("sortBy", "createdat"),
    ("sortBy", "id"),
    ("sortBy", "flowId"),
    ("sortBy", "createdAt,order"),
    ("sortOrder", "ascending"),
    ("sortOrder", "up"),
    ("sortOrder", "1"),
    ("sortOrder", "asc "),
    ("status", "done"),
    ("status", "Completed"),
    ("status", "COMPLETED"),
    ("status", "completed,done"),
    ("status", "completed;failed"),
    ("status", "completed,"),
    ("status", ","),
    ("status", "success"),
    ("from", "yesterday"),
    ("from", "2024-13-01"),
    ("from", "2024-02-30"),
    ("from", "2024-06-01T25:00:00Z"),
    ("from", "2024-06-01T10:00:00+25:00"),
    ("from", "1717243200"),
    ("from", "2024/06/01"),
    ("from", "２０２４-06-01"),
    ("from", "9999-12-31T23:00:00-05:00"),
    ("to", "tomorrow"),
    ("to", "2023-02-29"),
    ("to", "2024-06-01T10:60:00Z"),
    ("to", "2024-06-01T10:00:00.Z"),
    ("to", "0000-01-01"),
]


# Status lists show only the item that is not a status.
SHOWN_ITEM = {"completed,done": "'done'", "completed,": "an empty item", ",": "an empty item"}


@pytest.mark.parametrize(("name", "value"), INVALID_VALUES)
def test_invalid_value_rejected(client, name, value):
    response = get(client, [(name, value)])
    body = response.get_json()
    detail = body["details"][name]

    assert response.status_code == 400
    assert list(body["details"]) == [name]
    assert body["error"] == f"Invalid query parameter '{name}': {detail}"
    for accepted in ACCEPTED[name]:
        assert accepted in detail
    # Long values are cut, so only their start is shown.
    assert SHOWN_ITEM.get(value, value.strip()[:20]) in detail


@pytest.mark.parametrize(
    "query",
    ["limit=%FF", "limit=%00", "offset=%C3%A9", "sortBy=%E2%80%8BcreatedAt", "status=%E2%80%8Bcompleted"],
)
def test_odd_bytes_rejected(client, query):
    response = get(client, query)

    assert response.status_code == 400
    assert response.content_type == "application/json"


def test_status_error_names_value(client):
    detail = get(client, "status=completed,done").get_json()["details"]["status"]

    assert "'done'" in detail
    assert ", ".join(STATUSES) in detail


def test_huge_limit_message_short(client):
    detail = get(client, "limit=" + "9" * 100_000).get_json()["details"]["limit"]

    assert len(detail) < 300


# -- from and to together ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-06-02", "2024-06-01"),
        ("2024-06-01T10:00:01Z", "2024-06-01T10:00:00Z"),
        ("2024-06-01T10:00:00.001Z", "2024-06-01T10:00:00Z"),
        ("2024-06-01T12:00:00+01:00", "2024-06-01T10:00:00Z"),
        ("2024-06-01T10:00:00.0001Z", "2024-06-01T10:00:00.0001Z"),
        ("2024-06-02T00:00:00Z", "2024-06-01"),
    ],
)
def test_from_after_to_rejected(client, start, end):
    response = get(client, [("from", start), ("to", end)])
    body = response.get_json()

    assert response.status_code == 400
    assert list(body["details"]) == ["from"]
    assert "'to'" in body["details"]["from"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-06-01", "2024-06-01"),
        ("2024-06-01T10:00:00Z", "2024-06-01T10:00:00Z"),
        ("2024-06-01T12:00:00+02:00", "2024-06-01T10:00:00Z"),
        ("2024-06-01T23:59:59.999Z", "2024-06-01"),
        ("2024-06-01", "2024-06-01T00:00:00Z"),
    ],
)
def test_from_equal_to_accepted(client, start, end):
    response = get(client, [("from", start), ("to", end)])

    assert response.status_code == 200


# -- the 400 body ------------------------------------------------------------------------


def test_error_body_shape(client):
    response = get(client, "limit=0")
    body = response.get_json()

    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert sorted(body) == ["details", "error"]
    assert body["details"] == {"limit": "expected an integer from 1 to 100 written with the digits 0-9, got '0'"}
    assert body["error"] == "Invalid query parameter 'limit': " + body["details"]["limit"]


def test_several_invalid_parameters_listed(client):
    body = get(client, "sortOrder=up&limit=0&status=done&flowId=x&offset=-1").get_json()

    assert list(body["details"]) == ["status", "sortOrder", "limit", "offset"]
    assert body["error"].startswith("Invalid query parameters: ")
    for name in ("status", "sortOrder", "limit", "offset"):
        assert f"'{name}'" in body["error"]


def test_repeat_and_invalid_listed(client):
    body = get(client, "limit=1&limit=2&offset=x").get_json()

    assert list(body["details"]) == ["limit", "offset"]


# -- order of the checks: 401, 403, 400, 404 ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "record_id", "query", "status"),
    [
        ({}, RECORD_ID, "limit=0", 401),
        ({}, "no_such_record", "limit=0", 401),
        ({"Authorization": "Bearer wrong-key"}, RECORD_ID, "limit=0", 401),
        ({"Authorization": "Bearer wrong-key"}, "no_such_record", "limit=0&sortBy=x", 401),
        ({"Authorization": f"Bearer {REVOKED_KEY}"}, "no_such_record", "limit=0", 401),
        ({"Authorization": "Basic abc"}, RECORD_ID, "limit=0", 401),
        ({"Authorization": f"Bearer {NO_READ_KEY}"}, RECORD_ID, "limit=0", 403),
        ({"Authorization": f"Bearer {NO_READ_KEY}"}, "no_such_record", "limit=0", 403),
        (AUTH, "no_such_record", "limit=0", 400),
        (AUTH, OTHER_RECORD_ID, "limit=0", 400),
        (AUTH, RECORD_ID, "limit=0", 400),
        (AUTH, "no_such_record", "limit=5", 404),
        (AUTH, OTHER_RECORD_ID, "", 404),
        ({"Authorization": f"Bearer {OTHER_ORG_KEY}"}, RECORD_ID, "from=x", 400),
        ({"Authorization": f"Bearer {OTHER_ORG_KEY}"}, RECORD_ID, "", 404),
        ({"Authorization": API_KEY}, RECORD_ID, "limit=5", 200),
    ],
)
def test_check_order(client, headers, record_id, query, status):
    response = get(client, query, record_id=record_id, headers=headers)

    assert response.status_code == status
    assert response.content_type == "application/json"


def test_unencoded_plus_offset_hint(client, seeded):
    response = client.get(f"/v1/records/{RECORD_ID}/step-results?from=2024-06-01T12:15:30+02:00", headers=AUTH)

    assert response.status_code == 400
    assert "%2B" in response.json["details"]["from"]
