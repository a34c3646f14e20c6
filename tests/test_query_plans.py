"""SQLite query plans of the step-results query: every sort and filter searches an index on
the record, and the default order needs no sort step for the common filters."""

import re

import pytest
from werkzeug.datastructures import MultiDict

import models
import readonly
import schemas
from conftest import RECORD_ID, base_fixture, make_step_result

FILTERS = {
    "none": {},
    "flowId": {"flowId": "flow_a"},
    "batchId": {"batchId": "batch_1"},
    "one status": {"status": "failed"},
    "two statuses": {"status": "failed,running"},
    "from": {"from": "2024-06-01"},
    "to": {"to": "2024-06-01T10:00:00Z"},
    "from and to": {"from": "2024-06-01", "to": "2024-06-02"},
    "flowId and status": {"flowId": "flow_a", "status": "completed"},
    "every filter": {
        "flowId": "flow_a", "batchId": "batch_1", "status": "completed,failed", "from": "2024-06-01", "to": "2024-06-02",
    },
}
# Filters after which the default order, createdAt descending with ties by id, is read
# straight from an index.
PRESORTED_FILTERS = ["none", "flowId", "batchId", "one status", "from", "to", "from and to"]

INDEX_SEARCH = re.compile(r"SEARCH (t1|step_result) USING (COVERING )?INDEX \w+ \(record_id=\?")

ROWS = [
    make_step_result(index, flowId=f"flow_{'ab'[index % 2]}", batchExecutionId=f"batch_{index % 3}", status="failed")
    for index in range(30)
]
loaded_app = readonly.module_app(base_fixture(), {"stepResults": ROWS})


@pytest.fixture
def plan(loaded_app):
    """Return a function that returns the plan lines of the page query for a query string."""
    models.init_database(loaded_app.config["DATABASE"])

    def explain(query):
        arguments = schemas.load_query(MultiDict(query))
        sql, params = models.select_step_results(RECORD_ID, arguments).sql()
        with models.database.connection_context():
            return [row[3] for row in models.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params)]

    return explain


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", list(schemas.SORT_KEYS))
def test_plan_searches_record_index(plan, sort_by, sort_order, filter_name):
    lines = plan({"sortBy": sort_by, "sortOrder": sort_order, **FILTERS[filter_name]})

    assert any(INDEX_SEARCH.match(line) for line in lines), lines
    assert not any(line.startswith("SCAN") for line in lines), lines


@pytest.mark.parametrize("filter_name", PRESORTED_FILTERS)
def test_default_order_needs_no_sort(plan, filter_name):
    lines = plan(FILTERS[filter_name])

    assert not any("TEMP B-TREE" in line for line in lines), lines


def test_explicit_default_same_plan(plan):
    assert plan({"sortBy": "createdAt", "sortOrder": "desc"}) == plan({})


@pytest.mark.parametrize("filter_name", ["flowId", "batchId", "one status"])
def test_equality_filter_uses_its_index(plan, filter_name):
    column = {"flowId": "flow_id", "batchId": "batch_execution_id", "one status": "status"}[filter_name]

    lines = plan(FILTERS[filter_name])

    assert any(f"record_id=? AND {column}=?" in line for line in lines), lines
