"""The fast paths of fixture loading. Step results load exactly as marshmallow loads them,
and every item the fast path might reject goes to marshmallow, so the errors stay the same.
Large loads rebuild the step-result indexes exactly as they were."""

import sqlite3
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

import fixtures
import models
import schemas
import values
from conftest import AUTH, RECORD_ID, make_step_result

PLAN = schemas._STEP_RESULT_FIXTURE_PLAN
KEYS = [key for _, key, _, _, _ in PLAN]

FULL_ITEM = make_step_result(
    1,
    userId="user_test",
    organizationId="org_test",
    batchExecutionId=None,
    executionSessionId="session_1",
    flowId="flow_1",
    flowVersionId="flow_1_v2",
    recordName="Record",
    stepId="step_1",
    order=0,
    startedAt="2024-06-01T10:00:00.123456+02:00",
    completedAt=None,
    durationMs=2**63 - 1,
    outputPreview="",
    recordMetadata={"a": [1, 2]},
    stepConfig=[],
    inputVariables="text",
    resolvedPrompt="prompt",
    modelUsed="model",
    promptTokens=1,
    completionTokens=2,
    totalTokens=3,
    estimatedCost=fixtures.parse_json("0.000150000000000000000001"),
    errorMessage=None,
    retryCount=0,
    cacheReadTokens=None,
    cacheWriteTokens=5,
    reasoningTokens=6,
    reasoningConfig={"effort": "high"},
    reasoningRequested=True,
    reasoningRejection=None,
    executionEngine="legacy",
)

# Values that each field type accepts or rejects, the edge cases included.
TRICKY_VALUES = [
    None, True, False, 0, 1, -1, 2**63 - 1, 2**63, 1.0, 0.5, fixtures.parse_json("1e-3"),
    "", " ", "x", "completed", "Completed", "runtime", "RUNTIME",
    "2024-06-01T10:00:00Z", "2024-06-01 10:00", "2024-02-30T10:00:00Z", "2024-06-01T24:00:00Z",
    "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59.999Z", "2024-06-01",
    "0.00015", "1.5e-4", " 2 ", "-0", "1e99999", "NaN", "1_000", "١٢",
    Decimal("1.5"), [], ["x"], {}, {"k": "v"},
]


def load_both_ways(item):
    """Return the outcome of marshmallow's load and of the fast path's, each as
    ``("loaded", typed values)`` or ``("invalid", messages)``."""
    outcomes = []
    for load in (schemas.STEP_RESULT_FIXTURE.load, schemas.load_step_result_fixture):
        try:
            loaded = load(item)
        except ValidationError as error:
            outcomes.append(("invalid", error.normalized_messages()))
        else:
            # repr distinguishes Decimal("1.0") from Decimal("1.00"), and the list keeps the order
            outcomes.append(("loaded", [(name, type(value), repr(value)) for name, value in loaded.items()]))
    return outcomes


def test_plan_covers_every_field():
    assert len(PLAN) == len(schemas.STEP_RESULT_FIXTURE.fields)


@pytest.mark.parametrize("item", [make_step_result(1), FULL_ITEM], ids=["required only", "every field"])
def test_valid_item_takes_fast_path(item):
    assert schemas.fast_load(schemas.STEP_RESULT_FIXTURE, PLAN, item) == schemas.STEP_RESULT_FIXTURE.load(item)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "done"},
        {"order": True},
        {"order": 1.0},
        {"durationMs": 2**63},
        {"id": ""},
        {"userId": ""},
        {"stepType": None},
        {"createdAt": "yesterday"},
        {"estimatedCost": "NaN"},
        {"unknownField": 1},
        {"recordid": "record_test"},
    ],
)
def test_invalid_item_left_to_marshmallow(change):
    assert schemas.fast_load(schemas.STEP_RESULT_FIXTURE, PLAN, {**FULL_ITEM, **change}) is None


@pytest.mark.parametrize("key", ["id", "recordId", "stepType", "stepName", "status", "createdAt"])
def test_missing_required_left_to_marshmallow(key):
    item = dict(FULL_ITEM)
    del item[key]

    assert schemas.fast_load(schemas.STEP_RESULT_FIXTURE, PLAN, item) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([make_step_result(1), FULL_ITEM]),
    changes=st.dictionaries(st.sampled_from(KEYS + ["extra", "user_id"]), st.sampled_from(TRICKY_VALUES), max_size=4),
    removed=st.sets(st.sampled_from(KEYS), max_size=3),
)
def test_same_outcome_as_marshmallow(base, changes, removed):
    item = {key: value for key, value in {**base, **changes}.items() if key not in removed}

    marshmallow_outcome, fast_outcome = load_both_ways(item)

    assert fast_outcome == marshmallow_outcome


@pytest.mark.parametrize("key, value", [(key, value) for key in KEYS for value in TRICKY_VALUES])
def test_each_field_value_same_outcome(key, value):
    marshmallow_outcome, fast_outcome = load_both_ways({**FULL_ITEM, key: value})

    assert fast_outcome == marshmallow_outcome


def parse_both_ways(text):
    """Return what ``values.parse_date_time`` and the quick parse return or raise, each as
    ``("parsed", milliseconds)`` or ``("invalid", message)``."""
    outcomes = []
    for parse in (values.parse_date_time, schemas.parse_timestamp_quickly):
        try:
            outcomes.append(("parsed", parse(text)))
        except values.InvalidValue as error:
            outcomes.append(("invalid", str(error)))
    return outcomes


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-01T10:00:00Z", "2024-06-01T10:00:00.123Z", "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-02-29T23:59:59Z", "2024-06-01T24:00:00Z", "2024-06-01T23:60:00Z",
        "2024-06-01T23:00:60Z", "2024-06-01T10:00:00.12Z", "2024-06-01T10:00:00.1234Z",
        "2024-06-01t10:00:00Z", "2024-06-01T10:00:00z", "2024-06-01 10:00:00Z",
        "2024-06-01T10:00Z", "2024-13-01T10:00:00Z", "2024-06-01T10:00:00+00:00",
        "２０２４-06-01T10:00:00Z", "2024-06-01T10:00:00Z ", "",
    ],
)
def test_quick_timestamp_same_as_values(text):
    expected, quick = parse_both_ways(text)

    assert quick == expected


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_quick_timestamp_any_moment(moment):
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}"
        f":{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )

    expected, quick = parse_both_ways(text)

    assert quick == expected


# -- index rebuild of large loads -----------------------------------------------------------


INDEX_SQL = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'step_result' ORDER BY name"


def stored_indexes(database_path):
    with sqlite3.connect(database_path) as connection:
        return connection.execute(INDEX_SQL).fetchall()


def step_results(count, start=0):
    return [make_step_result(index) for index in range(start, start + count)]


@pytest.fixture
def small_rebuild(monkeypatch):
    """Rebuild the indexes from 30 rows on, and record what another connection sees right after each drop."""
    monkeypatch.setattr(fixtures, "REBUILD_INDEXES_FROM_ROWS", 30)
    monkeypatch.setattr(fixtures, "CHUNK_SIZE", 10)
    seen_by_reader = []
    drop = models.drop_secondary_indexes

    def drop_and_look(model):
        statements = drop(model)
        seen_by_reader.append(stored_indexes(models.database.database))
        return statements

    monkeypatch.setattr(models, "drop_secondary_indexes", drop_and_look)
    return seen_by_reader


def test_rebuild_restores_indexes(seeded, database_path, small_rebuild):
    before = stored_indexes(database_path)

    seeded({"stepResults": step_results(100)})

    assert small_rebuild
    assert stored_indexes(database_path) == before


def test_reader_sees_indexes_while_dropped(seeded, database_path, small_rebuild):
    before = stored_indexes(database_path)

    seeded({"stepResults": step_results(100)})

    assert small_rebuild == [before]


def test_failed_rebuild_load_keeps_indexes(seeded, database_path, small_rebuild):
    before = stored_indexes(database_path)
    items = step_results(100) + [make_step_result(100, status="done")]

    with pytest.raises(fixtures.FixtureError):
        seeded({"stepResults": items})

    assert small_rebuild
    assert stored_indexes(database_path) == before


def test_failed_rebuild_load_stores_nothing(seeded, database_path, small_rebuild):
    items = step_results(100) + [make_step_result(100, status="done")]

    with pytest.raises(fixtures.FixtureError):
        seeded({"stepResults": items})

    with sqlite3.connect(database_path) as connection:
        assert connection.execute("SELECT count(*) FROM step_result").fetchone() == (0,)


def test_small_load_onto_large_table_keeps_indexes(seeded, small_rebuild):
    seeded({"stepResults": step_results(100)})
    small_rebuild.clear()

    seeded({"stepResults": step_results(40, start=100)})

    assert small_rebuild == []


def test_rebuilt_load_reads_back(seeded, client, small_rebuild):
    seeded({"stepResults": step_results(100)})

    response = client.get(
        f"/v1/records/{RECORD_ID}/step-results?sortBy=stepName&sortOrder=asc&limit=100", headers=AUTH
    )

    assert [row["id"] for row in response.get_json()["data"]] == sorted(
        (f"step_result_{index:05d}" for index in range(100)), key=lambda name: f"Step {int(name[-5:])}"
    )
