"""The OpenAPI document: it validates, agrees with the official runtype-sdk client's models,
describes every query parameter and error, and is what ``/openapi.json`` serves."""

import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from runtype._generated.records.types.get_v1records_id_step_results_response import (
    GetV1RecordsIdStepResultsResponse,
)
from runtype._generated.records.types.get_v1records_id_step_results_response_data_item import (
    GetV1RecordsIdStepResultsResponseDataItem,
)
from runtype._generated.records.types.get_v1records_id_step_results_response_pagination import (
    GetV1RecordsIdStepResultsResponsePagination,
)

import admin
import demo
import models
import openapi
import schemas
from conftest import AUTH, RECORD_ID, make_step_result
from service import create_app

STEP_RESULTS = openapi.STEP_RESULTS_PATH
# Each component of the 200 response and the runtype-sdk model that the client parses it into.
SDK_MODELS = [
    ("StepResult", GetV1RecordsIdStepResultsResponseDataItem),
    ("Pagination", GetV1RecordsIdStepResultsResponsePagination),
    ("StepResultPage", GetV1RecordsIdStepResultsResponse),
]


@pytest.fixture(scope="module")
def document():
    return openapi.build_document()


def component(document, name):
    return document["components"]["schemas"][name]


def sdk_fields(model):
    return {field.alias or name for name, field in model.model_fields.items()}


def sdk_required(model):
    return {field.alias or name for name, field in model.model_fields.items() if field.is_required()}


def operation(document):
    return document["paths"][STEP_RESULTS]["get"]


def query_parameter(document, name):
    (parameter,) = [p for p in operation(document)["parameters"] if p["in"] == "query" and p["name"] == name]
    return parameter


# -- validity and the official client ----------------------------------------------------------


def test_document_validates(document):
    validate(document)


def test_document_served(client, document):
    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == document


def test_step_result_has_37_fields(document):
    assert len(component(document, "StepResult")["properties"]) == 37


@pytest.mark.parametrize("name, model", SDK_MODELS)
def test_fields_match_sdk(document, name, model):
    assert set(component(document, name)["properties"]) == sdk_fields(model)


@pytest.mark.parametrize("name, model", SDK_MODELS)
def test_required_match_sdk(document, name, model):
    assert set(component(document, name)["required"]) == sdk_required(model)


def test_step_result_field_order(document):
    assert list(component(document, "StepResult")["properties"]) == [
        field.data_key or name for name, field in schemas.StepResultSchema().fields.items()
    ]


def test_optional_fields_nullable(document):
    properties = component(document, "StepResult")["properties"]
    optional = sdk_fields(GetV1RecordsIdStepResultsResponseDataItem) - sdk_required(GetV1RecordsIdStepResultsResponseDataItem)

    # The mock always sends recordId, so it is optional in the document but never null.
    nullable = {name for name, schema in properties.items() if schema.get("nullable")}
    assert nullable == optional - set(openapi.OPTIONAL_IN_OFFICIAL_DEFINITION)


def test_required_fields_not_nullable(document):
    properties = component(document, "StepResult")["properties"]

    assert [name for name in component(document, "StepResult")["required"] if properties[name].get("nullable")] == []


@pytest.mark.parametrize(
    "name, expected",
    [
        ("status", {"type": "string", "enum": list(schemas.STEP_STATUSES)}),
        ("executionEngine", {"type": "string", "nullable": True, "enum": [*schemas.EXECUTION_ENGINES, None]}),
        ("createdAt", {"type": "string", "format": "date-time", "pattern": openapi.TIMESTAMP_PATTERN}),
        ("estimatedCost", {"type": "string", "nullable": True, "pattern": openapi.COST_PATTERN}),
        ("totalTokens", {"type": "integer", "nullable": True, "minimum": 0, "maximum": schemas.MAX_INTEGER}),
        ("stepConfig", {"nullable": True}),
    ],
)
def test_step_result_field_schema(document, name, expected):
    schema = component(document, "StepResult")["properties"][name]

    assert {key: schema[key] for key in expected if key in schema} == expected


# -- parameters, responses and security --------------------------------------------------------


def test_query_parameters_listed(document):
    names = [p["name"] for p in operation(document)["parameters"] if p["in"] == "query"]

    assert names == list(schemas.QUERY_PARAMETERS)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("limit", {"type": "integer", "minimum": 1, "maximum": schemas.MAX_LIMIT, "default": schemas.DEFAULT_LIMIT}),
        ("offset", {"type": "integer", "minimum": 0, "maximum": schemas.MAX_OFFSET, "default": 0}),
        ("sortBy", {"type": "string", "enum": list(schemas.SORT_KEYS), "default": "createdAt"}),
        ("sortOrder", {"type": "string", "enum": list(schemas.SORT_ORDERS), "default": "desc"}),
        ("status", {"type": "array", "items": {"type": "string", "enum": list(schemas.STEP_STATUSES)}}),
        ("from", {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}),
        ("to", {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}),
        ("flowId", {"type": "string"}),
        ("batchId", {"type": "string"}),
    ],
)
def test_query_parameter_schema(document, name, expected):
    assert query_parameter(document, name)["schema"] == expected


@pytest.mark.parametrize("name", schemas.QUERY_PARAMETERS)
def test_query_parameter_described(document, name):
    parameter = query_parameter(document, name)

    assert parameter["description"]
    assert parameter["required"] is False
    assert parameter["allowEmptyValue"] is True


def test_status_comma_separated(document):
    parameter = query_parameter(document, "status")

    assert (parameter["style"], parameter["explode"]) == ("form", False)


def test_stale_description_rejected(monkeypatch):
    monkeypatch.setitem(openapi.PARAMETER_DESCRIPTIONS, "pageSize", "A parameter that was renamed.")

    with pytest.raises(ValueError, match="pageSize"):
        openapi.build_document()


@pytest.mark.parametrize("status", ["400", "401", "403", "404", "500"])
def test_error_response_documented(document, status):
    response = operation(document)["responses"][status]

    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_error_schema(document):
    error = component(document, "Error")

    assert error["required"] == ["error"]
    assert error["properties"]["details"] == {"type": "object", "additionalProperties": {"type": "string"}}


def test_bearer_security(document):
    scheme = document["components"]["securitySchemes"][openapi.SECURITY_SCHEME]

    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert demo.DEMO_API_KEY in scheme["description"]
    assert operation(document)["security"] == [{openapi.SECURITY_SCHEME: []}]


# -- real responses against the document -------------------------------------------------------


def response_validator(document, status):
    schema = operation(document)["responses"][status]["content"]["application/json"]["schema"]
    return OAS30Validator({**schema, "components": document["components"]})


def test_full_row_conforms(client, seeded, document):
    seeded({"stepResults": [make_step_result(
        1, organizationId="org_test", batchExecutionId="batch_1", flowId="flow_1", order=0, durationMs=1500,
        startedAt="2024-06-01T10:00:00.250+02:00", completedAt="2024-06-01T08:00:01.750Z", estimatedCost="1.5e-4",
        totalTokens=12, stepConfig={"model": "gpt-4o"}, reasoningConfig=[1, "two"], executionEngine="external",
    )]})

    body = client.get(f"/v1/records/{RECORD_ID}/step-results", headers=AUTH).get_json()

    response_validator(document, "200").validate(body)


def test_error_body_conforms(client, seeded, document):
    body = client.get(f"/v1/records/{RECORD_ID}/step-results?limit=0", headers=AUTH).get_json()

    response_validator(document, "400").validate(body)


# -- admin API ---------------------------------------------------------------------------------


def route_shape(path):
    """Replace each path parameter, Flask's <int:name> or OpenAPI's {name}, with {}."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_admin_routes_documented(app, document):
    routes = {
        (route_shape(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(admin.ADMIN_PREFIX)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (route_shape(path), method)
        for path, operations in document["paths"].items()
        if path.startswith(admin.ADMIN_PREFIX)
        for method in operations
    }

    assert routes
    assert documented == routes


def test_admin_left_out_when_disabled(tmp_path):
    app = create_app({"DATABASE": tmp_path / "plain.db", "SEED_DEMO": False, "ADMIN_ENABLED": False})
    try:
        paths = app.test_client().get("/openapi.json").get_json()["paths"]
    finally:
        models.database.close()

    assert list(paths) == [STEP_RESULTS]


def test_scheduled_fault_fields(client, document):
    fault = client.post("/_mock/faults", json={"path": "/v1/records/*", "status": 503}).get_json()

    assert set(fault) == set(component(document, "ScheduledFault")["properties"])


def test_fixture_counts_fields(client, document):
    counts = client.post("/_mock/fixtures", json={"apiKeys": [], "records": [], "stepResults": []}).get_json()

    assert set(counts) == set(component(document, "FixtureCounts")["properties"])


def test_journal_entry_fields(client, seeded, document):
    client.get(f"/v1/records/{RECORD_ID}/step-results?limit=1", headers=AUTH)

    (entry,) = client.get("/_mock/requests").get_json()["requests"]

    assert set(entry) == set(component(document, "JournalEntry")["properties"])
