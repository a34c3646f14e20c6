"""The 200 body of GET /v1/records/{id}/step-results: every field in the contract's order
with its type, timestamps, costs, JSON fields, and record ids that need escaping."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fixtures
import models
import readonly
from conftest import AUTH, ORGANIZATION_ID, RECORD_ID, USER_ID, base_fixture, make_step_result
from readonly import client  # noqa: F401 (a fixture)

# The contract's field list, in its order.
FIELDS = [
    "id", "userId", "organizationId", "batchExecutionId", "executionSessionId", "flowId", "flowVersionId",
    "recordId", "recordName", "stepId", "stepType", "stepName", "order", "status", "startedAt", "completedAt",
    "durationMs", "outputPreview", "createdAt", "recordMetadata", "stepConfig", "inputVariables",
    "resolvedPrompt", "modelUsed", "promptTokens", "completionTokens", "totalTokens", "estimatedCost",
    "errorMessage", "retryCount", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens", "reasoningConfig",
    "reasoningRequested", "reasoningRejection", "executionEngine",
]
JSON_FIELDS = [
    "recordMetadata", "stepConfig", "inputVariables", "reasoningConfig", "reasoningRequested", "reasoningRejection",
]
TIMESTAMP_FIELDS = ["startedAt", "completedAt", "createdAt"]
TIMESTAMP_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z")
PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")

# A row with every field set, and the values the API must send back for it.
FULL_ROW = make_step_result(
    7,
    userId="user_override",
    organizationId=ORGANIZATION_ID,
    batchExecutionId="batch_1",
    executionSessionId="session_1",
    flowId="flow_1",
    flowVersionId="flow_1_v3",
    recordName="Name when the step ran",
    stepId="step_1",
    stepType="api-call",
    stepName="Call the CRM",
    order=3,
    status="failed",
    startedAt="2024-06-01T12:15:30.250+02:00",
    completedAt="2024-06-01T10:15:31Z",
    durationMs=750,
    outputPreview="{\"ok\": false}",
    createdAt="2024-06-01T10:15:31.000Z",
    recordMetadata={"plan": "pro", "seats": 5},
    stepConfig={"url": "https://example.invalid/", "retries": [1, 2]},
    inputVariables={"name": "Ada"},
    resolvedPrompt="Hello Ada",
    modelUsed="gpt-4o",
    promptTokens=100,
    completionTokens=20,
    totalTokens=120,
    estimatedCost="0.00015",
    errorMessage="HTTP 502 from upstream",
    retryCount=2,
    cacheReadTokens=64,
    cacheWriteTokens=0,
    reasoningTokens=12,
    reasoningConfig={"effort": "low"},
    reasoningRequested=True,
    reasoningRejection=None,
    executionEngine="runtime",
)
FULL_EXPECTED = dict(
    FULL_ROW,
    recordId=RECORD_ID,
    startedAt="2024-06-01T10:15:30.250Z",
    completedAt="2024-06-01T10:15:31Z",
    createdAt="2024-06-01T10:15:31Z",
)

STRING_FIELDS = [
    "id", "userId", "organizationId", "batchExecutionId", "executionSessionId", "flowId", "flowVersionId",
    "recordId", "recordName", "stepId", "stepType", "stepName", "status", "outputPreview", "resolvedPrompt",
    "modelUsed", "errorMessage", "executionEngine", "estimatedCost",
] + TIMESTAMP_FIELDS
INTEGER_FIELDS = [
    "order", "durationMs", "promptTokens", "completionTokens", "totalTokens", "retryCount", "cacheReadTokens",
    "cacheWriteTokens", "reasoningTokens",
]


def url(record_id=RECORD_ID):
    return f"/v1/records/{quote(record_id, safe='')}/step-results"


def fetch_rows(client, record_id=RECORD_ID):
    response = client.get(url(record_id) + "?limit=100", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def fetch_row(client, row_id):
    """Return the row ``row_id`` of the module's record as the API sends it."""
    (row,) = [row for row in fetch_rows(client) if row["id"] == row_id]
    return row


# -- the module's rows -------------------------------------------------------------------

TIMESTAMP_CASES = [
    ("2024-06-01T10:15:30Z", "2024-06-01T10:15:30Z"),
    ("2024-06-01T10:15:30.000Z", "2024-06-01T10:15:30Z"),
    ("2024-06-01T10:15:30.250Z", "2024-06-01T10:15:30.250Z"),
    ("2024-06-01T10:15:30.5Z", "2024-06-01T10:15:30.500Z"),
    ("2024-06-01T10:15:30.001Z", "2024-06-01T10:15:30.001Z"),
    ("2024-06-01T10:15:30.0009Z", "2024-06-01T10:15:30Z"),
    ("2024-06-01T10:15:30.999999Z", "2024-06-01T10:15:30.999Z"),
    ("2024-06-01T12:15:30+02:00", "2024-06-01T10:15:30Z"),
    ("2024-06-01T05:45:30.120-04:30", "2024-06-01T10:15:30.120Z"),
    ("2024-06-02T00:15:30+14:00", "2024-06-01T10:15:30Z"),
    ("2024-06-01T10:15:30", "2024-06-01T10:15:30Z"),
    ("2024-06-01T10:15Z", "2024-06-01T10:15:00Z"),
    ("1969-07-20T20:17:40Z", "1969-07-20T20:17:40Z"),
    ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
    ("1900-01-01T00:00:00+01:00", "1899-12-31T23:00:00Z"),
]
COST_CASES = [
    ("0.00015", "0.00015"),
    ("0.0045", "0.0045"),
    ("12.5", "12.5"),
    ("0", "0"),
    ("-0", "0"),
    ("1.50", "1.50"),
    ("1E-7", "0.0000001"),
    ("2.5e-10", "0.00000000025"),
    ("1E+3", "1000"),
    (1e-7, "0.0000001"),
    (0.1, "0.1"),
    (100, "100"),
    ("-0.25", "-0.25"),
    ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
]
JSON_VALUES = [
    {},
    [],
    "",
    "null",
    0,
    -1,
    2**62,
    1.5,
    -0.001,
    1e300,
    True,
    False,
    "text",
    "日本語 😀 ünïcödé",
    {"z": 1, "a": 2, "m": [3, {"y": None, "b": True}]},
    {"nested": {"deeper": {"deepest": [[], {}, [[]], ""]}}},
    {"ключ": "значение", "emoji 😀": ["🎉"], "quote\"and\\slash": "\n\t"},
    [1, "two", 3.0, None, False, {"six": [7]}],
    {"": ""},
]
ENGINES = ["runtime", "legacy", "external", None]
RECORD_NAME_CASES = [({}, "Test record"), ({"recordName": None}, None), ({"recordName": "Renamed since"}, "Renamed since")]
ODD_RECORD_IDS = [
    "a/b",
    "a/b/step-results",
    "../escape",
    "with space",
    "query?x=1&y=2",
    "hash#part",
    "percent%2Fliteral",
    "plus+sign",
    "記録-é-😀",
    "r" * 2_000,
]
PROPERTY_RECORD_ID = "record_property"


def case_row(kind, number, **fields):
    """A row of one table of cases; its id names the table and the case."""
    return make_step_result(number, id=f"{kind}_{number:02d}", **fields)


def build_rows():
    rows = [FULL_ROW, make_step_result(1), case_row("big", 0, totalTokens=2**53 + 1, durationMs=2**63 - 1)]
    rows += [
        case_row("time", number, startedAt=loaded, completedAt=loaded, createdAt=loaded)
        for number, (loaded, _) in enumerate(TIMESTAMP_CASES)
    ]
    rows += [case_row("cost", number, estimatedCost=loaded) for number, (loaded, _) in enumerate(COST_CASES)]
    rows += [
        case_row("json", number, **{field: value for field in JSON_FIELDS}) for number, value in enumerate(JSON_VALUES)
    ]
    rows += [case_row("engine", number, executionEngine=engine) for number, engine in enumerate(ENGINES)]
    rows += [case_row("name", number, **fields) for number, (fields, _) in enumerate(RECORD_NAME_CASES)]
    return rows


def odd_record_document():
    """A record and one row for each record id that needs escaping in a URL."""
    return {
        "records": [{"id": record_id, "organizationId": ORGANIZATION_ID, "userId": USER_ID} for record_id in ODD_RECORD_IDS]
        + [{"id": PROPERTY_RECORD_ID, "organizationId": ORGANIZATION_ID, "userId": USER_ID}],
        "stepResults": [
            make_step_result(number, id=f"odd_{number:02d}", recordId=record_id)
            for number, record_id in enumerate(ODD_RECORD_IDS)
        ],
    }


ROWS = build_rows()
loaded_app = readonly.module_app(base_fixture(), {"stepResults": ROWS}, odd_record_document())


def test_rows_fit_one_page():
    assert len(ROWS) <= 100


# -- fields, order and types -------------------------------------------------------------


def test_full_row_values(client):
    assert fetch_row(client, FULL_ROW["id"]) == FULL_EXPECTED


def test_full_row_field_order(client):
    assert list(fetch_row(client, FULL_ROW["id"])) == FIELDS


def test_every_row_field_order(client):
    rows = fetch_rows(client)

    assert len(rows) == len(ROWS)
    assert all(list(row) == FIELDS for row in rows)


def test_minimal_row_nulls(client):
    row = fetch_row(client, "step_result_00001")
    required = {
        "id": "step_result_00001",
        "userId": USER_ID,
        "organizationId": ORGANIZATION_ID,
        "recordId": RECORD_ID,
        "recordName": "Test record",
        "stepType": "prompt",
        "stepName": "Step 1",
        "status": "completed",
        "createdAt": "2024-06-01T10:00:01Z",
    }

    assert {name: value for name, value in row.items() if value is not None} == required


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_string_field_type(client, field):
    assert type(fetch_row(client, FULL_ROW["id"])[field]) is str


@pytest.mark.parametrize("field", INTEGER_FIELDS)
def test_integer_field_type(client, field):
    assert type(fetch_row(client, FULL_ROW["id"])[field]) is int


def test_large_integers_exact(client):
    row = fetch_row(client, "big_00")

    assert row["totalTokens"] == 2**53 + 1
    assert row["durationMs"] == 2**63 - 1


def test_json_content_type(client):
    response = client.get(url(), headers=AUTH)

    assert response.status_code == 200
    assert response.content_type == "application/json"


@pytest.mark.parametrize(("number", "engine"), list(enumerate(ENGINES)))
def test_execution_engine_values(client, number, engine):
    assert fetch_row(client, f"engine_{number:02d}")["executionEngine"] == engine


@pytest.mark.parametrize(("number", "expected"), [(number, name) for number, (_, name) in enumerate(RECORD_NAME_CASES)])
def test_record_name(client, number, expected):
    assert fetch_row(client, f"name_{number:02d}")["recordName"] == expected


# -- timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "sent"), [(number, sent) for number, (_, sent) in enumerate(TIMESTAMP_CASES)])
@pytest.mark.parametrize("field", TIMESTAMP_FIELDS)
def test_timestamp_format(client, field, number, sent):
    value = fetch_row(client, f"time_{number:02d}")[field]

    assert value == sent
    assert TIMESTAMP_FORMAT.fullmatch(value)


def test_every_timestamp_format(client):
    values = [row[field] for row in fetch_rows(client) for field in TIMESTAMP_FIELDS if row[field] is not None]

    assert all(TIMESTAMP_FORMAT.fullmatch(value) for value in values)


def test_timestamps_without_zero_millis(client):
    values = [row[field] for row in fetch_rows(client) for field in TIMESTAMP_FIELDS if row[field] is not None]

    assert not [value for value in values if value.endswith(".000Z")]


# -- estimatedCost -----------------------------------------------------------------------


@pytest.mark.parametrize(("number", "sent"), [(number, sent) for number, (_, sent) in enumerate(COST_CASES)])
def test_cost_sent_as_plain_string(client, number, sent):
    value = fetch_row(client, f"cost_{number:02d}")["estimatedCost"]

    assert value == sent
    assert PLAIN_DECIMAL.fullmatch(value)


def test_cost_null(client):
    assert fetch_row(client, "step_result_00001")["estimatedCost"] is None


# -- JSON fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "value"), list(enumerate(JSON_VALUES)))
@pytest.mark.parametrize("field", JSON_FIELDS)
def test_json_field_round_trip(client, field, number, value):
    sent = fetch_row(client, f"json_{number:02d}")[field]

    # json.dumps keeps key order and distinguishes True from 1, which == would not.
    assert json.dumps(sent) == json.dumps(value)


json_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_json_round_trip_property(client, value):
    """Writes one row of its own record, which no other test of the module reads."""
    row = make_step_result(1, id="property_row", recordId=PROPERTY_RECORD_ID, stepConfig=value)
    with models.database.connection_context():
        fixtures.load_fixture({"stepResults": [row]})

    (sent,) = fetch_rows(client, PROPERTY_RECORD_ID)

    assert json.dumps(sent["stepConfig"]) == json.dumps(value)


# -- record ids --------------------------------------------------------------------------


@pytest.mark.parametrize("record_id", ODD_RECORD_IDS)
def test_odd_record_id_served(client, record_id):
    rows = fetch_rows(client, record_id)

    assert [row["recordId"] for row in rows] == [record_id]


@pytest.mark.parametrize(
    "path",
    [
        url("no_such_record"),
        url("a/b/c"),
        url("r" * 5_000),
        url("記録"),
        url("record_test\x00"),
        url("record_test "),
        url("RECORD_TEST"),
        "/v1/records/%ZZ/step-results",
        "/v1/records/%C3/step-results",
        "/v1/records/..%2F..%2Fetc/step-results",
    ],
)
def test_unknown_record_404_json(client, path):
    response = client.get(path, headers=AUTH)

    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert list(response.get_json()) == ["error"]


def test_404_names_record(client):
    body = client.get(url("no_such_record"), headers=AUTH).get_json()

    assert body == {"error": "Record 'no_such_record' not found"}


def test_404_long_id_cut(client):
    body = client.get(url("r" * 5_000), headers=AUTH).get_json()

    assert len(body["error"]) < 200
