"""The admin API under /_mock/: fixtures, reset, fault bookkeeping, body handling and access."""

import json

import pytest

import admin
import demo
import models
from conftest import AUTH, RECORD_ID, base_fixture, make_step_result
from service import create_app

STEP_RESULTS_URL = f"/v1/records/{RECORD_ID}/step-results"


def count_rows():
    with models.database.connection_context():
        return {model.__name__: model.select().count() for model in models.MODELS}


def make_app(database_path, **settings):
    return create_app({"DATABASE": database_path, "SEED_DEMO": False, "TESTING": True, **settings})


# -- fixtures --------------------------------------------------------------------------------


def test_fixture_load_returns_counts(client):
    document = base_fixture()
    document["stepResults"] = [make_step_result(index) for index in range(3)]

    response = client.post("/_mock/fixtures", json=document)

    assert response.status_code == 201
    assert response.json == {"apiKeys": 4, "records": 2, "stepResults": 3}
    assert client.get(STEP_RESULTS_URL, headers=AUTH).json["pagination"]["returned"] == 3


def test_fixture_error_names_item_and_field(client):
    document = base_fixture()
    document["stepResults"] = [make_step_result(0), make_step_result(1, createdAt="yesterday")]

    response = client.post("/_mock/fixtures", json=document)

    assert response.status_code == 400
    assert response.json["error"].startswith("Invalid fixture: stepResults[1].createdAt: ")
    assert list(response.json["details"]) == ["stepResults[1].createdAt"]
    assert count_rows() == {"ApiKey": 0, "Record": 0, "StepResult": 0}


def test_fixture_with_unknown_section(client):
    response = client.post("/_mock/fixtures", json={"rows": []})

    assert response.status_code == 400
    assert "rows: unknown fixture section" in response.json["error"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("{", "application/json", 400, "Malformed JSON body at line 1, column 2"),
        (b"\xff\xfe{}", "application/json", 400, "Malformed JSON body: not UTF-8 text"),
        ("{}", "text/plain", 415, "Expected Content-Type: application/json, got text/plain"),
        ("{}", None, 415, "Expected Content-Type: application/json, got none"),
    ],
)
def test_fixture_body_errors(client, body, content_type, status, message):
    response = client.post("/_mock/fixtures", data=body, content_type=content_type)

    assert response.status_code == status
    assert response.json["error"].startswith(message)


def test_fixture_body_too_large(database_path):
    client = make_app(database_path, ADMIN_MAX_BODY_BYTES=100).test_client()

    response = client.post("/_mock/fixtures", json={"records": [{"id": "x" * 200}]})

    assert response.status_code == 413
    assert "the limit is 100 bytes" in response.json["error"]
    assert response.content_type == "application/json"


def test_fixture_rejects_query_parameters(client):
    response = client.post("/_mock/fixtures?dryRun=true", json={})

    assert response.status_code == 400
    assert response.json["details"] == {"dryRun": "unknown parameter"}


# -- reset -----------------------------------------------------------------------------------


def test_reset_deletes_everything(client, seeded):
    seeded({"stepResults": [make_step_result(0)]})
    client.post("/_mock/faults", json={"status": 503, "path": "/nowhere"})
    client.get(STEP_RESULTS_URL, headers=AUTH)

    response = client.post("/_mock/reset")

    assert response.status_code == 204
    assert response.data == b""
    assert count_rows() == {"ApiKey": 0, "Record": 0, "StepResult": 0}
    assert client.get("/_mock/faults").json == {"faults": []}
    assert client.get("/_mock/requests").json == {"requests": []}


def test_reset_with_demo_reseeds(client, seeded):
    response = client.post("/_mock/reset?demo=true")

    assert response.status_code == 204
    with models.database.connection_context():
        assert models.find_api_key(demo.DEMO_API_KEY) is not None
        assert models.find_record(RECORD_ID, "org_test") is None
        assert models.Record.get_or_none(models.Record.id == demo.DOCUMENTED_RECORD_ID) is not None


@pytest.mark.parametrize("value", ["yes", "", "TRUE1"])
def test_reset_rejects_bad_demo_value(client, seeded, value):
    response = client.post(f"/_mock/reset?demo={value}")

    assert response.status_code == 400
    assert response.json["details"] == {"demo": "expected true or false"}
    assert count_rows()["ApiKey"] == 4


# -- fault bookkeeping -----------------------------------------------------------------------


def test_fault_defaults(client):
    response = client.post("/_mock/faults", json={"status": 503})

    assert response.status_code == 201
    assert response.json == {
        "id": response.json["id"], "method": "GET", "path": "*", "status": 503, "times": 1,
        "remaining": 1, "delayMs": 0, "headers": {}, "body": None,
    }


def test_faults_listed_in_order(client):
    first = client.post("/_mock/faults", json={"status": 503, "times": 2}).json["id"]
    second = client.post("/_mock/faults", json={"delayMs": 10, "method": "get", "headers": {"Retry-After": 0}}).json["id"]

    listed = client.get("/_mock/faults").json["faults"]

    assert [fault["id"] for fault in listed] == [first, second]
    assert listed[1]["method"] == "GET"
    assert listed[1]["headers"] == {"Retry-After": "0"}


def test_fault_delete_one(client):
    first = client.post("/_mock/faults", json={"status": 503}).json["id"]
    second = client.post("/_mock/faults", json={"status": 429}).json["id"]

    assert client.delete(f"/_mock/faults/{first}").status_code == 204
    assert [fault["id"] for fault in client.get("/_mock/faults").json["faults"]] == [second]


@pytest.mark.parametrize("fault_id", ["999", "0", "2708587244765996357707055870509056"])
def test_fault_delete_unknown_id(client, fault_id):
    response = client.delete(f"/_mock/faults/{fault_id}")

    assert response.status_code == 404
    assert response.json == {"error": f"No scheduled fault with id {fault_id}; GET /_mock/faults lists them"}


def test_fault_delete_all(client):
    client.post("/_mock/faults", json={"status": 503})
    client.post("/_mock/faults", json={"status": 500})

    assert client.delete("/_mock/faults").status_code == 204
    assert client.get("/_mock/faults").json == {"faults": []}


@pytest.mark.parametrize(
    ("fault", "field", "problem"),
    [
        ({}, "status", "give a status, a delayMs above 0, or both"),
        ({"delayMs": 0}, "status", "give a status, a delayMs above 0, or both"),
        ({"status": 200}, "status", "must be an integer from 400 to 599 (got 200)"),
        ({"status": "503"}, "status", "not an integer (got '503')"),
        ({"status": 503, "times": 0}, "times", "must be an integer from 1 to 1000000 (got 0)"),
        ({"status": 503, "delayMs": 30001}, "delayMs", "must be an integer from 0 to 30000 (got 30001)"),
        ({"status": 503, "method": "FETCH"}, "method", "must be one of GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE, * (got 'FETCH')"),
        ({"status": 503, "path": ""}, "path", "must not be empty"),
        ({"status": 503, "headers": ["Retry-After"]}, "headers", "not a JSON object of header names to values (got ['Retry-After'])"),
        ({"status": 503, "headers": {"Bad Name": "1"}}, "headers", "'Bad Name' is not a valid header name"),
        ({"status": 503, "headers": {"X-A": "1\r\nX-B: 2"}}, "headers", "X-A: expected a string without line breaks or an integer (got '1\\r\\nX-B: 2')"),
        ({"status": 503, "headers": {"Content-Length": "5"}}, "headers", "Content-Length cannot be set: the server computes it"),
        ({"status": 503, "retries": 2}, "retries", "unknown field"),
    ],
)
def test_fault_validation(client, fault, field, problem):
    response = client.post("/_mock/faults", json=fault)

    assert response.status_code == 400
    assert response.json["details"] == {field: problem}
    assert response.json["error"] == f"Invalid fault: {field}: {problem}"
    assert client.get("/_mock/faults").json == {"faults": []}


def test_fault_body_must_be_object(client):
    response = client.post("/_mock/faults", json=[{"status": 503}])

    assert response.status_code == 400
    assert response.json["details"] == {"request body": "expected a JSON object describing the fault, got an array"}


def test_fault_path_must_start_with_slash(client):
    response = client.post("/_mock/faults", json={"status": 503, "path": "v1/records/*/step-results"})

    assert response.status_code == 400
    assert "must start with '/'" in response.json["details"]["path"]
    assert client.get("/_mock/faults").json == {"faults": []}


# -- routing and access ----------------------------------------------------------------------


def test_unknown_admin_route_is_json_404(client):
    response = client.get("/_mock/nothing")

    assert response.status_code == 404
    assert response.content_type == "application/json"


def test_wrong_admin_method_is_json_405(client):
    response = client.put("/_mock/faults")

    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert response.content_type == "application/json"


def test_no_admin_setting_removes_routes(database_path):
    client = make_app(database_path, ADMIN_ENABLED=False).test_client()

    assert client.post("/_mock/reset").status_code == 404
    assert client.get("/_mock/requests").status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Mock-Admin-Token": "wrong"}, 401),
        ({"X-Mock-Admin-Token": "s3cret-token"}, 200),
        # with a token, the Host and Origin rules give way: the token is the proof
        ({"X-Mock-Admin-Token": "s3cret-token", "Host": "mock.internal:8080", "Origin": "http://ci.internal"}, 200),
    ],
)
def test_admin_token_required_when_set(database_path, headers, status):
    client = make_app(database_path, ADMIN_TOKEN="s3cret-token").test_client()

    response = client.get("/_mock/faults", headers=headers)

    assert response.status_code == status


def test_admin_token_error_message(database_path):
    client = make_app(database_path, ADMIN_TOKEN="s3cret-token").test_client()

    missing = client.get("/_mock/faults")
    wrong = client.get("/_mock/faults", headers={"X-Mock-Admin-Token": "guess"})

    assert missing.json["error"].startswith("Missing X-Mock-Admin-Token header")
    assert wrong.json["error"].startswith("Invalid X-Mock-Admin-Token header")
    assert "s3cret-token" not in json.dumps([missing.json, wrong.json])


def test_admin_token_not_needed_for_api(database_path, load):
    client = make_app(database_path, ADMIN_TOKEN="s3cret-token").test_client()
    load(base_fixture())

    assert client.get(STEP_RESULTS_URL, headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Host": "localhost:8080"}, 204),
        ({"Host": "127.0.0.1:8080"}, 204),
        ({"Host": "127.1.2.3"}, 204),
        ({"Host": "[::1]:8080"}, 204),
        ({"Host": "app.localhost:3000"}, 204),
        ({"Host": "attacker.example:8080"}, 403),
        ({"Host": "192.168.1.20:8080"}, 403),
        ({"Origin": "http://localhost:3000"}, 204),
        ({"Origin": "http://127.0.0.1:5173"}, 204),
        ({"Origin": "https://attacker.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
)
def test_admin_without_token_needs_loopback(client, headers, status):
    response = client.post("/_mock/reset", headers=headers)

    assert response.status_code == status


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True), ("127.255.0.9", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("LOCALHOST", True),
        ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False), ("", False),
    ],
)
def test_is_loopback_name(host, expected):
    assert admin.is_loopback_name(host) is expected
