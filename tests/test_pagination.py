"""Pagination of GET /v1/records/{id}/step-results: the pagination block, hasMore at the
boundary, offsets past the end, and walks over every page of a 250-row record."""

from itertools import cycle, islice

import pytest

import readonly
import schemas
from conftest import AUTH, ORGANIZATION_ID, RECORD_ID, USER_ID, base_fixture, make_step_result
from ordering import expected_ids
from readonly import client  # noqa: F401 (a fixture)

ROW_COUNT = 250
EMPTY_RECORD_ID = "record_empty"


def build_rows():
    """250 rows with twenty createdAt values, so most rows tie with a dozen others."""
    costs = islice(cycle(["0.00015", None, "12.5", "0.0045", "1.50", "1.5", "0"]), ROW_COUNT)
    names = islice(cycle(["b", "a", "B", "é", "a"]), ROW_COUNT)
    started = islice(cycle([None, "2024-06-01T09:00:00Z", None, "2024-06-01T11:00:00+02:00"]), ROW_COUNT)
    return [
        make_step_result(
            index,
            createdAt=f"2024-06-01T10:00:{index * 7 % 20:02d}Z",
            estimatedCost=cost,
            stepName=name,
            startedAt=start,
            status="failed" if index % 4 == 0 else "completed",
        )
        for index, (cost, name, start) in enumerate(zip(costs, names, started))
    ]


ROWS = build_rows()
FAILED_COUNT = sum(row["status"] == "failed" for row in ROWS)


EMPTY_RECORD = {"id": EMPTY_RECORD_ID, "organizationId": ORGANIZATION_ID, "userId": USER_ID}
loaded_app = readonly.module_app(base_fixture(), {"records": [EMPTY_RECORD], "stepResults": ROWS})


def get_page(client, record_id=RECORD_ID, **query):
    response = client.get(f"/v1/records/{record_id}/step-results", query_string=query, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- the pagination block ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"limit": 10, "offset": 0, "returned": 10, "hasMore": True}),
        ({"limit": 1}, {"limit": 1, "offset": 0, "returned": 1, "hasMore": True}),
        ({"limit": 100}, {"limit": 100, "offset": 0, "returned": 100, "hasMore": True}),
        ({"offset": 240}, {"limit": 10, "offset": 240, "returned": 10, "hasMore": False}),
        ({"offset": 239}, {"limit": 10, "offset": 239, "returned": 10, "hasMore": True}),
        ({"offset": 241}, {"limit": 10, "offset": 241, "returned": 9, "hasMore": False}),
        ({"offset": 249}, {"limit": 10, "offset": 249, "returned": 1, "hasMore": False}),
        ({"limit": 100, "offset": 150}, {"limit": 100, "offset": 150, "returned": 100, "hasMore": False}),
        ({"limit": 100, "offset": 149}, {"limit": 100, "offset": 149, "returned": 100, "hasMore": True}),
        ({"limit": 100, "offset": 200}, {"limit": 100, "offset": 200, "returned": 50, "hasMore": False}),
        ({"limit": 1, "offset": 248}, {"limit": 1, "offset": 248, "returned": 1, "hasMore": True}),
        ({"limit": 1, "offset": 249}, {"limit": 1, "offset": 249, "returned": 1, "hasMore": False}),
        ({"offset": 250}, {"limit": 10, "offset": 250, "returned": 0, "hasMore": False}),
        ({"offset": 251}, {"limit": 10, "offset": 251, "returned": 0, "hasMore": False}),
        ({"offset": 10**9}, {"limit": 10, "offset": 10**9, "returned": 0, "hasMore": False}),
        (
            {"offset": schemas.MAX_OFFSET, "limit": 100},
            {"limit": 100, "offset": schemas.MAX_OFFSET, "returned": 0, "hasMore": False},
        ),
        ({"status": "failed", "limit": FAILED_COUNT}, {"limit": FAILED_COUNT, "offset": 0, "returned": FAILED_COUNT, "hasMore": False}),
        ({"status": "failed", "limit": FAILED_COUNT - 1}, {"limit": FAILED_COUNT - 1, "offset": 0, "returned": FAILED_COUNT - 1, "hasMore": True}),
        ({"status": "failed", "offset": FAILED_COUNT - 3}, {"limit": 10, "offset": FAILED_COUNT - 3, "returned": 3, "hasMore": False}),
        ({"status": "skipped"}, {"limit": 10, "offset": 0, "returned": 0, "hasMore": False}),
    ],
)
def test_pagination_block(client, query, expected):
    assert get_page(client, **query)["pagination"] == expected


@pytest.mark.parametrize("query", [{}, {"offset": 5}, {"limit": 100, "offset": 10}])
def test_returned_counts_data(client, query):
    page = get_page(client, **query)

    assert page["pagination"]["returned"] == len(page["data"])


@pytest.mark.parametrize("offset", [250, 251, 10**6])
def test_offset_past_end_empty(client, offset):
    assert get_page(client, offset=offset)["data"] == []


def test_empty_record(client):
    page = get_page(client, EMPTY_RECORD_ID)

    assert page == {"data": [], "pagination": {"limit": 10, "offset": 0, "returned": 0, "hasMore": False}}


def test_pagination_key_order(client):
    assert list(get_page(client)["pagination"]) == ["limit", "offset", "returned", "hasMore"]


def test_body_key_order(client):
    assert list(get_page(client)) == ["data", "pagination"]


# -- walking every page ------------------------------------------------------------------


def walk(client, limit, **query):
    """Follow pages from offset 0 until hasMore is false; return the pages in order."""
    pages = []
    offset = 0
    # Bounded: one page per row at most, plus the final one.
    for _ in range(ROW_COUNT + 1):
        page = get_page(client, limit=limit, offset=offset, **query)
        pages.append(page)
        if not page["pagination"]["hasMore"]:
            return pages
        offset += limit
    raise AssertionError(f"hasMore stayed true after {ROW_COUNT + 1} pages")


SORTS = [
    ("createdAt", "desc"),
    ("createdAt", "asc"),
    ("estimatedCost", "asc"),
    ("stepName", "desc"),
    ("startedAt", "asc"),
]
# A walk with limit 1 sends 250 requests, so only two orders get one: the default order
# and one with nulls and ties of equal decimals.
WALKS = [(sort_by, sort_order, limit) for sort_by, sort_order in SORTS for limit in (7, 100)] + [
    ("createdAt", "desc", 1),
    ("estimatedCost", "asc", 1),
]


@pytest.mark.parametrize(("sort_by", "sort_order", "limit"), WALKS)
def test_walk_covers_every_row_once(client, sort_by, sort_order, limit):
    pages = walk(client, limit, sortBy=sort_by, sortOrder=sort_order)
    walked = [row["id"] for page in pages for row in page["data"]]

    assert len(walked) == len(set(walked))
    assert walked == expected_ids(ROWS, sort_by, sort_order == "desc")


@pytest.mark.parametrize("limit", [7, 100])
def test_walk_page_blocks(client, limit):
    pages = walk(client, limit)
    full_pages, last = pages[:-1], pages[-1]

    assert [page["pagination"]["offset"] for page in pages] == list(range(0, ROW_COUNT, limit))
    assert all(page["pagination"]["returned"] == limit for page in full_pages)
    assert all(page["pagination"]["hasMore"] for page in full_pages)
    assert last["pagination"]["returned"] == ROW_COUNT - limit * len(full_pages)


def test_walk_with_filter(client):
    failed = [row for row in ROWS if row["status"] == "failed"]

    pages = walk(client, 7, status="failed", sortBy="estimatedCost", sortOrder="desc")

    assert [row["id"] for page in pages for row in page["data"]] == expected_ids(failed, "estimatedCost", True)


def test_dataset_has_ties():
    created = [row["createdAt"] for row in ROWS]

    assert len(set(created)) * 10 < len(created)
