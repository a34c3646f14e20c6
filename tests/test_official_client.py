"""The official client, runtype-sdk 5.5.0, against the mock on a live HTTP server.

The client builds ``v1/records/{id}/step-results`` on its base URL, sends
``Authorization: Bearer <key>``, passes every query parameter as a string and parses the
body into its generated models. It retries 5xx, 408, 409 and 429 responses twice with
exponential backoff, so the 500 test turns retries off.
"""

import time
from decimal import Decimal

import pytest
from runtype import RuntypeClient
from runtype._generated.errors import (
    BadRequestError,
    ForbiddenError,
    InternalServerError,
    NotFoundError,
    UnauthorizedError,
)
from runtype._generated.records.types import GetV1RecordsIdStepResultsResponse

import models
from conftest import API_KEY, NO_READ_KEY, ORGANIZATION_ID, RECORD_ID, USER_ID, make_step_result

ROW_COUNT = 25
STATUSES = ("completed", "failed", "running")


def cost(index):
    """Costs across several magnitudes, so that text order and numeric order differ."""
    return str(Decimal(10) ** (index % 5 - 3) * (index + 1))


def step_rows():
    return [
        make_step_result(
            index,
            flowId="flow_a" if index % 2 == 0 else "flow_b",
            batchExecutionId=f"batch_{index % 3}",
            status=STATUSES[index % 3],
            estimatedCost=cost(index),
            totalTokens=100 + index,
            order=index % 4,
        )
        for index in range(ROW_COUNT)
    ]


def step_id(index):
    return f"step_result_{index:05d}"


@pytest.fixture
def server(seeded, live_server):
    seeded({"stepResults": step_rows()})
    return live_server


def open_records(url, key):
    client = RuntypeClient(api_key=key, base_url=url, timeout=10)
    return client, client.api.records


@pytest.fixture
def records(server):
    client, records = open_records(server.url, API_KEY)
    yield records
    client.close()


def ids_of(page):
    return [row.id for row in page.data]


# -- typed rows ------------------------------------------------------------------------------


def test_client_parses_page(records):
    page = records.get_record_step_results(RECORD_ID)

    assert isinstance(page, GetV1RecordsIdStepResultsResponse)
    assert page.data[0].step_name == f"Step {ROW_COUNT - 1}"


def test_client_row_fields(records):
    row = records.get_record_step_results(RECORD_ID).data[0]
    index = ROW_COUNT - 1

    assert row.id == step_id(index)
    assert row.user_id == USER_ID
    assert row.organization_id == ORGANIZATION_ID
    assert row.record_id == RECORD_ID
    assert row.record_name == "Test record"
    assert row.created_at == "2024-06-01T10:00:24Z"
    assert row.total_tokens == 100 + index
    assert row.duration_ms is None


def test_client_cost_is_text(records):
    row = records.get_record_step_results(RECORD_ID).data[0]

    assert isinstance(row.estimated_cost, str)
    assert row.estimated_cost == cost(ROW_COUNT - 1)


def test_client_pagination(records):
    pagination = records.get_record_step_results(RECORD_ID).pagination

    assert (pagination.limit, pagination.offset, pagination.returned) == (10, 0, 10)
    assert pagination.has_more is True


# -- filters and sorting ---------------------------------------------------------------------


def test_client_filters_flow(records):
    page = records.get_record_step_results(RECORD_ID, flow_id="flow_b", limit="100")

    assert {row.flow_id for row in page.data} == {"flow_b"}
    assert len(page.data) == ROW_COUNT // 2


def test_client_filters_batch(records):
    page = records.get_record_step_results(RECORD_ID, batch_id="batch_1", limit="100")

    assert sorted(ids_of(page)) == [step_id(index) for index in range(ROW_COUNT) if index % 3 == 1]


def test_client_filters_statuses(records):
    page = records.get_record_step_results(RECORD_ID, status="failed,completed", limit="100")

    assert {row.status for row in page.data} == {"failed", "completed"}
    assert len(page.data) == len([index for index in range(ROW_COUNT) if index % 3 != 2])


def test_client_filters_time_range(records):
    page = records.get_record_step_results(
        RECORD_ID, from_="2024-06-01T10:00:05Z", to="2024-06-01T12:00:09+02:00", limit="100"
    )

    assert ids_of(page) == [step_id(index) for index in range(9, 4, -1)]


def test_client_filters_combined(records):
    page = records.get_record_step_results(
        RECORD_ID, flow_id="flow_a", status="completed", from_="2024-06-01", to="2024-06-01", limit="100"
    )

    assert ids_of(page) == [step_id(index) for index in range(ROW_COUNT - 1, -1, -1) if index % 6 == 0]


def test_client_sorts_cost_numerically(records):
    page = records.get_record_step_results(RECORD_ID, sort_by="estimatedCost", sort_order="asc", limit="100")
    costs = [Decimal(row.estimated_cost) for row in page.data]

    assert costs == sorted(Decimal(cost(index)) for index in range(ROW_COUNT))


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "key", "reverse"),
    [
        ("createdAt", "asc", lambda row: row.created_at, False),
        ("totalTokens", "desc", lambda row: row.total_tokens, True),
        ("stepName", "asc", lambda row: row.step_name, False),
    ],
)
def test_client_sorts(records, sort_by, sort_order, key, reverse):
    page = records.get_record_step_results(RECORD_ID, sort_by=sort_by, sort_order=sort_order, limit="100")

    assert [key(row) for row in page.data] == sorted((key(row) for row in page.data), reverse=reverse)
    assert len(page.data) == ROW_COUNT


def test_client_sort_ties_by_id(records):
    page = records.get_record_step_results(RECORD_ID, sort_by="order", sort_order="desc", limit="100")
    pairs = [(-row.order, row.id) for row in page.data]

    assert pairs == sorted(pairs)


# -- limit, offset and page walks ------------------------------------------------------------


def test_client_limit_offset_strings(records):
    page = records.get_record_step_results(RECORD_ID, limit="5", offset="20")

    assert ids_of(page) == [step_id(index) for index in range(4, -1, -1)]
    assert (page.pagination.limit, page.pagination.offset, page.pagination.returned) == (5, 20, 5)
    assert page.pagination.has_more is False


def test_client_offset_past_end(records):
    page = records.get_record_step_results(RECORD_ID, offset=str(ROW_COUNT))

    assert page.data == []
    assert page.pagination.has_more is False


def test_client_page_walk(records):
    seen, offset, pages = [], 0, 0
    while pages < 10:
        page = records.get_record_step_results(RECORD_ID, sort_order="asc", limit="7", offset=str(offset))
        seen.extend(ids_of(page))
        pages += 1
        offset += page.pagination.returned
        if not page.pagination.has_more:
            break

    assert seen == [step_id(index) for index in range(ROW_COUNT)]
    assert pages == 4


def test_client_unusual_record_id(seeded, records):
    record_id = "record ü 1+2"
    seeded({
        "records": [{"id": record_id, "name": "Unusual", "organizationId": ORGANIZATION_ID, "userId": USER_ID}],
        "stepResults": [make_step_result(99, recordId=record_id)],
    })

    assert ids_of(records.get_record_step_results(record_id)) == [step_id(99)]


# -- typed errors ----------------------------------------------------------------------------


def test_client_not_found(records):
    with pytest.raises(NotFoundError) as raised:
        records.get_record_step_results("record_missing")

    assert raised.value.status_code == 404
    assert "'record_missing'" in raised.value.body["error"]


def test_client_bad_request(records):
    with pytest.raises(BadRequestError) as raised:
        records.get_record_step_results(RECORD_ID, limit="0", status="done")

    assert raised.value.status_code == 400
    assert set(raised.value.body["details"]) == {"status", "limit"}
    assert "'done'" in raised.value.body["details"]["status"]


def test_client_unauthorized(server):
    client, records = open_records(server.url, "test-key-unknown")
    with client, pytest.raises(UnauthorizedError) as raised:
        records.get_record_step_results(RECORD_ID)

    assert raised.value.status_code == 401
    assert "API key" in raised.value.body["error"]


def test_client_forbidden(server):
    client, records = open_records(server.url, NO_READ_KEY)
    with client, pytest.raises(ForbiddenError) as raised:
        records.get_record_step_results(RECORD_ID)

    assert raised.value.status_code == 403
    assert "records:read" in raised.value.body["error"]


def test_client_internal_error_once(app, records, monkeypatch):
    calls = []

    def fail(record_id, arguments):
        calls.append(record_id)
        raise RuntimeError("unexpected")

    app.config["TESTING"] = False
    monkeypatch.setattr(models, "select_step_results", fail)
    started = time.monotonic()
    with pytest.raises(InternalServerError) as raised:
        records.get_record_step_results(RECORD_ID, request_options={"max_retries": 0})

    assert raised.value.body == {"error": "Internal server error"}
    assert calls == [RECORD_ID]
    assert time.monotonic() - started < 2
