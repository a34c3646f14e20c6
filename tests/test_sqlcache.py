"""The SQL cache returns exactly what peewee's own execution returns, for every query shape."""

import pytest
from werkzeug.datastructures import MultiDict

import models
import schemas
import sqlcache
from conftest import API_KEY, ORGANIZATION_ID, RECORD_ID, make_step_result

FILTERS = {
    "none": [],
    "flow": [("flowId", "flow_a")],
    "batch": [("batchId", "batch_1")],
    "one status": [("status", "failed")],
    "two statuses": [("status", "failed,completed")],
    "range": [("from", "2024-06-01T10:00:05Z"), ("to", "2024-06-01T10:00:40Z")],
    "all": [("flowId", "flow_a"), ("batchId", "batch_1"), ("status", "completed,failed"), ("from", "2024-06-01")],
}


@pytest.fixture
def rows(seeded):
    """Forty rows with repeated and missing sort values, so ties and nulls are ordered."""
    seeded({"stepResults": [
        make_step_result(
            index,
            flowId="flow_a" if index % 2 else "flow_b",
            batchExecutionId="batch_1" if index % 3 else None,
            status=("completed", "failed", "running")[index % 3],
            order=index % 4 or None,
            durationMs=index * 7 % 5,
            totalTokens=None if index % 5 == 0 else index % 6,
            estimatedCost=None if index % 4 == 0 else f"0.{index % 7}5",
            retryCount=index % 2,
            stepConfig={"index": index} if index % 2 else None,
        )
        for index in range(40)
    ]})


def load_arguments(pairs):
    return schemas.load_query(MultiDict(pairs))


@pytest.mark.parametrize("filter_name", FILTERS)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", schemas.SORT_KEYS)
def test_fetch_matches_peewee(rows, sort_by, sort_order, filter_name):
    pairs = FILTERS[filter_name] + [("sortBy", sort_by), ("sortOrder", sort_order), ("limit", "7"), ("offset", "3")]
    arguments = load_arguments(pairs)

    with models.database.connection_context():
        expected = list(models.select_step_results(RECORD_ID, arguments).dicts())
        # twice: the first call generates the SQL text, the second reuses it
        first = models.fetch_step_results(RECORD_ID, arguments)
        second = models.fetch_step_results(RECORD_ID, arguments)

    assert first == expected
    assert second == expected


def test_fetch_reuses_sql_text(rows, monkeypatch):
    arguments = load_arguments([("sortBy", "durationMs"), ("limit", "5")])
    with models.database.connection_context():
        models.fetch_step_results(RECORD_ID, arguments)

        def fail(*args, **kwargs):
            raise AssertionError("SQL generated again for a known shape")

        monkeypatch.setattr(type(models.select_step_results(RECORD_ID, arguments)), "sql", fail)
        rows = models.fetch_step_results(RECORD_ID, load_arguments([("sortBy", "durationMs"), ("limit", "6")]))

    assert len(rows) == 7


def test_equal_values_are_not_cached(rows, monkeypatch):
    # limit + 1 equals the offset, so the order of the two cannot be proven from the values
    monkeypatch.setattr(sqlcache, "_sql_by_shape", {})
    arguments = load_arguments([("sortBy", "retryCount"), ("sortOrder", "asc"), ("limit", "4"), ("offset", "5")])
    with models.database.connection_context():
        rows = models.fetch_step_results(RECORD_ID, arguments)
        expected = list(models.select_step_results(RECORD_ID, arguments).dicts())

    assert rows == expected
    assert not any(shape[1][1:3] == ("retryCount", "asc") for shape in sqlcache._sql_by_shape)


def test_api_key_lookup_matches_peewee(rows):
    with models.database.connection_context():
        found = models.find_api_key(API_KEY)
        expected = models.ApiKey.get(models.ApiKey.key_hash == models.ApiKey.hash_key(API_KEY))

    assert found.__data__ == expected.__data__


@pytest.mark.parametrize("key", ["test-key-revoked", "no-such-key"])
def test_api_key_lookup_misses(rows, key):
    with models.database.connection_context():
        assert models.find_api_key(key) is None


def test_record_lookup_matches_peewee(rows):
    with models.database.connection_context():
        found = models.find_record(RECORD_ID, ORGANIZATION_ID)
        expected = models.Record.get_by_id(RECORD_ID)

    assert found.__data__ == expected.__data__


def test_record_lookup_checks_organization(rows):
    with models.database.connection_context():
        assert models.find_record(RECORD_ID, "org_other") is None


@pytest.mark.parametrize("record_id", [RECORD_ID, "record_other_org", "no_such_record"])
def test_record_by_id_matches_peewee(rows, record_id):
    with models.database.connection_context():
        found = models.get_record(record_id)
        expected = models.Record.get_or_none(models.Record.id == record_id)

    assert (found and found.__data__) == (expected and expected.__data__)
