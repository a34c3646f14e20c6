"""Fixture loading: defaults, hashed keys, records filled in, captured bodies, upserts,
all-or-nothing writes and the error messages that name the item and field."""

import json
import sqlite3
import time
from datetime import datetime, timezone

import pytest

import fixtures
import models
from conftest import (
    API_KEY,
    AUTH,
    NO_READ_KEY,
    ORGANIZATION_ID,
    OTHER_ORGANIZATION_ID,
    OTHER_ORG_KEY,
    RECORD_ID,
    REVOKED_KEY,
    USER_ID,
    base_fixture,
    make_step_result,
)
from service import create_app

URL = f"/v1/records/{RECORD_ID}/step-results"


def epoch_ms(text):
    """Epoch milliseconds of an ISO 8601 date-time, computed with the standard library."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def dump_tables(path):
    """Every table's schema and rows as SQL text, read through a separate connection."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def table_counts():
    with models.database.connection_context():
        return {model.__name__: model.select().count() for model in models.MODELS}


def stored_record(record_id):
    with models.database.connection_context():
        return models.Record.get_by_id(record_id)


def load_error(load, document):
    """Load ``document``, expecting a FixtureError, and return its message."""
    with pytest.raises(fixtures.FixtureError) as raised:
        load(document)
    return str(raised.value)


def rows_of(client, url=URL, headers=AUTH, **params):
    response = client.get(url, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


# -- API keys --------------------------------------------------------------------------------


def test_api_key_permissions_default(seeded):
    with models.database.connection_context():
        api_key = models.find_api_key(API_KEY)

    assert api_key.permissions == ["records:read"]


def test_api_key_default_permission_reads(seeded, client):
    assert client.get(URL, headers=AUTH).status_code == 200


@pytest.mark.parametrize("key", [API_KEY, NO_READ_KEY, REVOKED_KEY, OTHER_ORG_KEY])
def test_api_key_stored_hashed(seeded, database_path, key):
    models.database.close()
    files = sorted(database_path.parent.glob(database_path.name + "*"))
    content = b"".join(path.read_bytes() for path in files)

    assert models.ApiKey.hash_key(key).encode() in content
    assert key.encode() not in content


def test_api_key_reload_replaces_permissions(seeded, client):
    seeded({"apiKeys": [{"key": API_KEY, "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": ["flows:read"]}]})

    assert client.get(URL, headers=AUTH).status_code == 403


def test_api_key_revoked_rejected(seeded, client):
    response = client.get(URL, headers={"Authorization": f"Bearer {REVOKED_KEY}"})

    assert response.status_code == 401


# -- records ---------------------------------------------------------------------------------


def test_record_metadata_defaults_to_empty(seeded):
    assert stored_record(RECORD_ID).metadata == {}


def test_record_metadata_kept(load):
    load({"records": [{"id": "r1", "organizationId": ORGANIZATION_ID, "userId": USER_ID, "metadata": {"tier": "gold"}}]})

    assert stored_record("r1").metadata == {"tier": "gold"}


def test_record_timestamps_default_to_load_time(load):
    before = int(time.time() * 1000)
    load({"records": [{"id": "r1", "organizationId": ORGANIZATION_ID, "userId": USER_ID}]})
    after = int(time.time() * 1000)
    record = stored_record("r1")

    assert before <= record.created_at <= after
    assert record.updated_at == record.created_at


def test_record_timestamps_default_to_given_now(app):
    with models.database.connection_context():
        fixtures.load_fixture(
            {"records": [{"id": "r1", "organizationId": ORGANIZATION_ID, "userId": USER_ID}]}, now_ms=1_717_236_930_000
        )
    record = stored_record("r1")

    assert record.created_at == 1_717_236_930_000
    assert record.updated_at == 1_717_236_930_000


def test_record_timestamps_given_stored_utc(load):
    load({"records": [{
        "id": "r1", "organizationId": ORGANIZATION_ID, "userId": USER_ID,
        "createdAt": "2024-06-01T12:00:00+02:00", "updatedAt": "2024-06-02T00:30:00.5-01:00",
    }]})
    record = stored_record("r1")

    assert record.created_at == epoch_ms("2024-06-01T10:00:00Z")
    assert record.updated_at == epoch_ms("2024-06-02T01:30:00.500Z")


def test_record_cannot_change_organization(seeded):
    message = load_error(seeded, {"records": [{"id": RECORD_ID, "organizationId": OTHER_ORGANIZATION_ID, "userId": USER_ID}]})

    assert message.startswith("records[0].organizationId: ")
    assert f"'{OTHER_ORGANIZATION_ID}'" in message


# -- step results ----------------------------------------------------------------------------


def test_step_result_absent_fields_null(seeded, client):
    seeded({"stepResults": [make_step_result(0)]})
    row = rows_of(client)[0]
    filled = {
        "id": "step_result_00000",
        "userId": USER_ID,
        "organizationId": ORGANIZATION_ID,
        "recordId": RECORD_ID,
        "recordName": "Test record",
        "stepType": "prompt",
        "stepName": "Step 0",
        "status": "completed",
        "createdAt": "2024-06-01T10:00:00Z",
    }

    assert {name: value for name, value in row.items() if value is not None} == filled
    assert len(row) == 37


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"userId": USER_ID, "organizationId": ORGANIZATION_ID, "recordName": "Test record"}),
        ({"userId": "user_runner"}, {"userId": "user_runner"}),
        ({"userId": None}, {"userId": USER_ID}),
        ({"organizationId": ORGANIZATION_ID}, {"organizationId": ORGANIZATION_ID}),
        ({"organizationId": None}, {"organizationId": ORGANIZATION_ID}),
        ({"recordName": "Former name"}, {"recordName": "Former name"}),
        ({"recordName": None}, {"recordName": None}),
    ],
)
def test_step_result_filled_from_record(seeded, client, given, expected):
    seeded({"stepResults": [make_step_result(0, **given)]})
    row = rows_of(client)[0]

    assert {name: row[name] for name in expected} == expected


def test_step_result_record_from_same_fixture(load, client):
    document = base_fixture()
    document["records"].append({"id": "r_new", "name": "New", "organizationId": ORGANIZATION_ID, "userId": USER_ID})
    document["stepResults"] = [make_step_result(0, recordId="r_new")]
    load(document)

    assert [row["recordName"] for row in rows_of(client, url="/v1/records/r_new/step-results")] == ["New"]


def test_step_result_record_from_database(seeded, client):
    seeded({"stepResults": [make_step_result(0)]})

    assert [row["id"] for row in rows_of(client)] == ["step_result_00000"]


def test_step_result_unknown_record_rejected(seeded):
    message = load_error(seeded, {"stepResults": [make_step_result(0), make_step_result(1, recordId="record_missing")]})

    assert message.startswith("stepResults[1].recordId: no record 'record_missing'")
    assert table_counts()["StepResult"] == 0


def test_step_result_other_organization_rejected(seeded):
    message = load_error(seeded, {"stepResults": [make_step_result(0, organizationId=OTHER_ORGANIZATION_ID)]})

    assert message.startswith("stepResults[0].organizationId: ")
    assert f"'{OTHER_ORGANIZATION_ID}'" in message
    assert f"'{ORGANIZATION_ID}'" in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-06-01T12:15:30+02:00", "2024-06-01T10:15:30Z"),
        ("2024-06-01T05:15:30.250-05:00", "2024-06-01T10:15:30.250Z"),
        ("2024-06-01T00:30:00+01:00", "2024-05-31T23:30:00Z"),
        ("2024-06-01T10:15:30+0000", "2024-06-01T10:15:30Z"),
        ("2024-06-01T10:15:30", "2024-06-01T10:15:30Z"),
        ("2024-06-01T10:15:30.123456Z", "2024-06-01T10:15:30.123Z"),
    ],
)
@pytest.mark.parametrize("field", ["createdAt", "startedAt", "completedAt"])
def test_step_result_timestamp_stored_utc(seeded, client, field, given, expected):
    seeded({"stepResults": [make_step_result(0, **{field: given})]})
    with models.database.connection_context():
        stored = models.StepResult.get_by_id("step_result_00000")

    assert rows_of(client)[0][field] == expected
    assert getattr(stored, {"createdAt": "created_at", "startedAt": "started_at", "completedAt": "completed_at"}[field]) == epoch_ms(expected)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0.00015", "0.00015"), (0.0045, "0.0045"), ("1.5E-7", "0.00000015"), (12, "12"), (" 2.50 ", "2.50")],
)
def test_step_result_cost_stored_as_decimal_text(seeded, client, given, expected):
    seeded({"stepResults": [make_step_result(0, estimatedCost=given)]})

    assert rows_of(client)[0]["estimatedCost"] == expected


def test_step_result_json_fields_kept(seeded, client):
    values = {
        "recordMetadata": {"plan": "pro", "tags": ["a", "b"]},
        "stepConfig": [1, 2.5, None, True],
        "inputVariables": "plain text",
        "reasoningConfig": 0,
        "reasoningRequested": False,
        "reasoningRejection": {"reason": "unsupported"},
    }
    seeded({"stepResults": [make_step_result(0, **values)]})
    row = rows_of(client)[0]

    assert {name: row[name] for name in values} == values


# -- captured response bodies ----------------------------------------------------------------


def captured_row(index, **fields):
    return make_step_result(
        index, recordId="record_captured", recordName="Captured record",
        organizationId=ORGANIZATION_ID, userId=USER_ID, **fields,
    )


def test_captured_body_creates_record(seeded, client):
    counts = seeded({"data": [captured_row(0), captured_row(1)], "pagination": {"limit": 10, "offset": 0, "returned": 2, "hasMore": False}})
    record = stored_record("record_captured")

    assert counts == {"apiKeys": 0, "records": 1, "stepResults": 2}
    assert (record.name, record.organization_id, record.user_id) == ("Captured record", ORGANIZATION_ID, USER_ID)
    assert len(rows_of(client, url="/v1/records/record_captured/step-results")) == 2


def test_captured_body_uses_existing_record(seeded):
    counts = seeded({"data": [make_step_result(0, recordName="Old name")], "pagination": {}})

    assert counts == {"apiKeys": 0, "records": 0, "stepResults": 1}
    assert stored_record(RECORD_ID).name == "Test record"


def test_captured_body_round_trip(seeded, client, tmp_path):
    rich = {
        "batchExecutionId": "batch_1", "executionSessionId": "session_1", "flowId": "flow_1",
        "flowVersionId": "flowver_1", "stepId": "step_1", "order": 2, "startedAt": "2024-06-01T10:00:00.250Z",
        "completedAt": "2024-06-01T10:00:01Z", "durationMs": 750, "outputPreview": "ok",
        "recordMetadata": {"plan": "pro"}, "stepConfig": {"model": "gpt-4o"}, "inputVariables": {"email": "a@b.c"},
        "resolvedPrompt": "Check a@b.c", "modelUsed": "gpt-4o", "promptTokens": 120, "completionTokens": 30,
        "totalTokens": 150, "estimatedCost": "0.00015", "errorMessage": None, "retryCount": 0,
        "cacheReadTokens": 5, "cacheWriteTokens": 6, "reasoningTokens": 7, "reasoningConfig": {"effort": "low"},
        "reasoningRequested": True, "reasoningRejection": None, "executionEngine": "runtime",
    }
    seeded({"stepResults": [make_step_result(index, **rich) for index in range(3)]})
    captured = client.get(URL, headers=AUTH).get_json()

    # a second database, as another developer's machine would have it
    second = create_app({"DATABASE": tmp_path / "second.db", "SEED_DEMO": False, "TESTING": True})
    with models.database.connection_context():
        fixtures.load_fixture({"apiKeys": base_fixture()["apiKeys"]})
        fixtures.load_fixture(json.loads(json.dumps(captured)))
    replayed = second.test_client().get(URL, headers=AUTH).get_json()

    assert replayed == captured


def test_captured_row_needs_organization(seeded):
    row = captured_row(0)
    del row["organizationId"]
    message = load_error(seeded, {"data": [row], "pagination": {}})

    assert message.startswith("data[0].organizationId: ")
    assert "'record_captured'" in message


# -- upserts ---------------------------------------------------------------------------------


def stable_fixture():
    """The base fixture with fixed record timestamps, so that reloading writes the same bytes."""
    document = base_fixture()
    for record in document["records"]:
        record["createdAt"] = record["updatedAt"] = "2024-05-01T00:00:00Z"
    document["stepResults"] = [make_step_result(index, estimatedCost="0.001") for index in range(5)]
    return document


def test_reload_changes_no_counts(load):
    first = load(stable_fixture())
    counts = table_counts()
    second = load(stable_fixture())

    assert second == first
    assert table_counts() == counts


def test_reload_changes_no_content(load, database_path):
    load(stable_fixture())
    before = dump_tables(database_path)
    load(stable_fixture())

    assert dump_tables(database_path) == before


def test_reload_changed_row_replaces(seeded, client):
    seeded({"stepResults": [make_step_result(0, durationMs=5, flowId="flow_1"), make_step_result(1)]})
    seeded({"stepResults": [make_step_result(0, stepName="Renamed", status="failed")]})
    rows = {row["id"]: row for row in rows_of(client)}

    assert len(rows) == 2
    assert (rows["step_result_00000"]["stepName"], rows["step_result_00000"]["status"]) == ("Renamed", "failed")
    assert rows["step_result_00000"]["durationMs"] is None
    assert rows["step_result_00000"]["flowId"] is None


# -- all or nothing --------------------------------------------------------------------------


def big_fixture(bad_index, size=600):
    """A fixture that adds a key and a record, changes stored rows and has one invalid row."""
    document = {
        "apiKeys": [{"key": "test-key-new", "userId": USER_ID, "organizationId": ORGANIZATION_ID}],
        "records": [{"id": "record_new", "organizationId": ORGANIZATION_ID, "userId": USER_ID}],
        "stepResults": [make_step_result(index, stepName=f"Changed {index}") for index in range(size)],
    }
    document["stepResults"][bad_index]["status"] = "done"
    return document


@pytest.mark.parametrize("bad_index", [0, 49, fixtures.CHUNK_SIZE + 49, 599])
def test_invalid_row_stores_nothing(seeded, database_path, monkeypatch, bad_index):
    seeded({"stepResults": [make_step_result(index) for index in range(3)]})
    before = dump_tables(database_path)
    written = []
    upsert = fixtures._upsert
    monkeypatch.setattr(fixtures, "_upsert", lambda model, rows: (written.append(len(rows)), upsert(model, rows)))

    message = load_error(seeded, big_fixture(bad_index))

    assert message.startswith(f"stepResults[{bad_index}].status: ")
    assert dump_tables(database_path) == before
    # past the first chunk, a chunk of step results was written before the error
    assert (fixtures.CHUNK_SIZE in written) == (bad_index >= fixtures.CHUNK_SIZE)


def test_invalid_second_file_stores_nothing(tmp_path):
    valid = tmp_path / "valid.json"
    valid.write_text(json.dumps(base_fixture()))
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"stepResults": [make_step_result(0, status="done")]}))
    database_path = tmp_path / "start.db"

    with pytest.raises(fixtures.FixtureError) as raised:
        create_app({"DATABASE": database_path, "FIXTURES": [valid, invalid], "TESTING": True})

    assert str(raised.value).startswith(f"{invalid}: stepResults[0].status: ")
    assert table_counts() == {"ApiKey": 0, "Record": 0, "StepResult": 0}
    models.database.close()


# -- error messages --------------------------------------------------------------------------


def thirteen_rows(**fields):
    """Thirteen valid step results whose item 12 gets ``fields``."""
    rows = [make_step_result(index) for index in range(13)]
    rows[12].update(fields)
    return {"stepResults": rows}


def without(document, section, index, name):
    del document[section][index][name]
    return document


STEP_RESULT_ERRORS = [
    # wrong JSON types
    (thirteen_rows(order="3"), "stepResults[12].order: not an integer", "'3'"),
    (thirteen_rows(durationMs=1.5), "stepResults[12].durationMs: not an integer", "1.5"),
    (thirteen_rows(promptTokens=True), "stepResults[12].promptTokens: not an integer", "True"),
    (thirteen_rows(retryCount=-1), "stepResults[12].retryCount: must be an integer from 0", "-1"),
    (thirteen_rows(stepName=5), "stepResults[12].stepName: not a string", "5"),
    (thirteen_rows(flowId=["flow_1"]), "stepResults[12].flowId: not a string", "['flow_1']"),
    (thirteen_rows(createdAt=1717236930), "stepResults[12].createdAt: not an ISO 8601 date-time", "1717236930"),
    # unknown and missing fields
    (thirteen_rows(colour="red"), "stepResults[12].colour: unknown field", ""),
    (without(thirteen_rows(), "stepResults", 12, "id"), "stepResults[12].id: missing required field", ""),
    (without(thirteen_rows(), "stepResults", 12, "recordId"), "stepResults[12].recordId: missing required field", ""),
    (without(thirteen_rows(), "stepResults", 12, "stepType"), "stepResults[12].stepType: missing required field", ""),
    (without(thirteen_rows(), "stepResults", 12, "stepName"), "stepResults[12].stepName: missing required field", ""),
    (without(thirteen_rows(), "stepResults", 12, "status"), "stepResults[12].status: missing required field", ""),
    (without(thirteen_rows(), "stepResults", 12, "createdAt"), "stepResults[12].createdAt: missing required field", ""),
    (thirteen_rows(createdAt=None), "stepResults[12].createdAt: must not be null", ""),
    # values outside their lists and ranges
    (thirteen_rows(status="done"), "stepResults[12].status: must be one of pending, queued,", "'done'"),
    (thirteen_rows(status="Completed"), "stepResults[12].status: must be one of", "'Completed'"),
    (thirteen_rows(executionEngine="v8"), "stepResults[12].executionEngine: must be one of runtime, legacy, external", "'v8'"),
    (thirteen_rows(createdAt="yesterday"), "stepResults[12].createdAt: not an ISO 8601 date-time", "'yesterday'"),
    (thirteen_rows(startedAt="2024-02-30T10:00:00Z"), "stepResults[12].startedAt: not an ISO 8601 date-time", "'2024-02-30T10:00:00Z'"),
    (thirteen_rows(estimatedCost="abc"), "stepResults[12].estimatedCost: ", "'abc'"),
    (thirteen_rows(estimatedCost="NaN"), "stepResults[12].estimatedCost: ", "'NaN'"),
    (thirteen_rows(estimatedCost="1e99999"), "stepResults[12].estimatedCost: ", "'1e99999'"),
    (thirteen_rows(estimatedCost=True), "stepResults[12].estimatedCost: ", "True"),
    (thirteen_rows(id=""), "stepResults[12].id: must not be empty", ""),
]

SHAPE_ERRORS = [
    ({"stepResults": [make_step_result(0), "step"]}, "stepResults[1]: expected a JSON object, got a string", ""),
    ({"stepResults": [None]}, "stepResults[0]: expected a JSON object, got null", ""),
    ({"records": [["r1"]]}, "records[0]: expected a JSON object, got a list", ""),
    ({"stepResults": {"id": "x"}}, "stepResults: expected a JSON list, got an object", ""),
    ({"apiKeys": "test-key"}, "apiKeys: expected a JSON list, got a string", ""),
    ({"data": [], "pagination": 10}, "pagination: expected a JSON object, got a number", ""),
    ({"steps": []}, "steps: unknown fixture section; accepted are apiKeys, records, stepResults, data, pagination", ""),
    ([make_step_result(0)], "a fixture must be a JSON object", "got a list"),
    ("stepResults", "a fixture must be a JSON object", "got a string"),
]

KEY_AND_RECORD_ERRORS = [
    ({"apiKeys": [{"userId": USER_ID, "organizationId": ORGANIZATION_ID}]}, "apiKeys[0].key: missing required field", ""),
    ({"apiKeys": [{"key": "k", "userId": USER_ID}]}, "apiKeys[0].organizationId: missing required field", ""),
    ({"apiKeys": [{"key": "k", "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": "records:read"}]},
     "apiKeys[0].permissions: not a list", "'records:read'"),
    ({"apiKeys": [{"key": "k", "userId": USER_ID, "organizationId": ORGANIZATION_ID, "revoked": "yes"}]},
     "apiKeys[0].revoked: not a boolean", "'yes'"),
    ({"apiKeys": [{"key": "k", "userId": USER_ID, "organizationId": ORGANIZATION_ID, "scope": "all"}]},
     "apiKeys[0].scope: unknown field", ""),
    ({"records": [{"id": "r1", "organizationId": ORGANIZATION_ID}]}, "records[0].userId: missing required field", ""),
    ({"records": [{"id": 7, "organizationId": ORGANIZATION_ID, "userId": USER_ID}]}, "records[0].id: not a string", "7"),
    ({"records": [{"id": "r1", "organizationId": ORGANIZATION_ID, "userId": USER_ID, "createdAt": "June 1"}]},
     "records[0].createdAt: not an ISO 8601 date-time", "'June 1'"),
]


@pytest.mark.parametrize(("document", "prefix", "shown"), STEP_RESULT_ERRORS + SHAPE_ERRORS + KEY_AND_RECORD_ERRORS)
def test_error_names_item_and_field(seeded, document, prefix, shown):
    message = load_error(seeded, document)

    assert message.startswith(prefix)
    assert shown in message
    assert table_counts()["StepResult"] == 0


# -- fixture files ---------------------------------------------------------------------------


def test_file_missing(tmp_path):
    path = tmp_path / "missing.json"

    with pytest.raises(fixtures.FixtureError, match="cannot read the fixture file: No such file"):
        fixtures.read_fixture_file(path)


def test_file_invalid_json_names_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "apiKeys": [\n    {"key": "k",}\n  ]\n}\n')

    with pytest.raises(fixtures.FixtureError) as raised:
        fixtures.read_fixture_file(path)

    assert str(raised.value).startswith(f"{path}: invalid JSON at line 3, column 17: ")


def test_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"records": [{"name": "Jos\u00e9"}]}'.encode("latin-1"))

    with pytest.raises(fixtures.FixtureError, match="not UTF-8 text"):
        fixtures.read_fixture_file(path)


def test_file_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_fixture()).encode())

    assert fixtures.read_fixture_file(path) == base_fixture()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_file_non_finite_number_rejected(tmp_path, number):
    path = tmp_path / "nan.json"
    path.write_text('{"stepResults": [{"stepConfig": {"temperature": %s}}]}' % number)

    with pytest.raises(fixtures.FixtureError) as raised:
        fixtures.read_fixture_file(path)

    assert str(raised.value).startswith(f"{path}: invalid JSON: ")
    assert number.lstrip("-") in str(raised.value)


def test_file_error_names_file(seeded, tmp_path):
    path = tmp_path / "bad-status.json"
    path.write_text(json.dumps({"stepResults": [make_step_result(0, status="done")]}))

    with pytest.raises(fixtures.FixtureError) as raised:
        with models.database.connection_context():
            fixtures.load_fixture_file(path)

    assert str(raised.value).startswith(f"{path}: stepResults[0].status: must be one of")
