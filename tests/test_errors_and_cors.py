"""Error responses, CORS headers and what the request logs may contain."""

import logging

import pytest

import models
from conftest import (
    API_KEY,
    AUTH,
    NO_READ_KEY,
    OTHER_RECORD_ID,
    RECORD_ID,
    REVOKED_KEY,
    make_step_result,
)

URL = f"/v1/records/{RECORD_ID}/step-results"
ORIGIN = "http://localhost:5173"
UNKNOWN_KEY = "test-key-unknown-7c1f"


@pytest.fixture
def with_rows(seeded):
    seeded({"stepResults": [make_step_result(index) for index in range(3)]})


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


# (name, method, path, headers, query, status)
ERROR_REQUESTS = [
    ("missing header", "GET", URL, {}, {}, 401),
    ("malformed header", "GET", URL, {"Authorization": "Token a b"}, {}, 401),
    ("unknown key", "GET", URL, bearer(UNKNOWN_KEY), {}, 401),
    ("revoked key", "GET", URL, bearer(REVOKED_KEY), {}, 401),
    ("no read permission", "GET", URL, bearer(NO_READ_KEY), {}, 403),
    ("invalid limit", "GET", URL, AUTH, {"limit": "0"}, 400),
    ("unknown record", "GET", "/v1/records/record_missing/step-results", AUTH, {}, 404),
    ("other organization", "GET", f"/v1/records/{OTHER_RECORD_ID}/step-results", AUTH, {}, 404),
    ("unknown path", "GET", "/v1/records", AUTH, {}, 404),
    ("trailing slash", "GET", URL + "/", AUTH, {}, 404),
    ("other version", "GET", "/v2/records/x/step-results", AUTH, {}, 404),
    ("post", "POST", URL, AUTH, {}, 405),
    ("put", "PUT", URL, AUTH, {}, 405),
    ("delete", "DELETE", URL, AUTH, {}, 405),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "query", "status"),
    [case[1:] for case in ERROR_REQUESTS],
    ids=[case[0] for case in ERROR_REQUESTS],
)
def test_error_is_json(with_rows, client, method, path, headers, query, status):
    response = client.open(path, method=method, headers=headers, query_string=query)
    body = response.get_json(silent=True)

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert isinstance(body, dict)
    assert isinstance(body["error"], str)
    assert body["error"]
    assert set(body) <= {"error", "details"}


def test_unknown_path_names_path(client):
    response = client.get("/v2/records/x/step-results")

    assert response.status_code == 404
    assert "/v2/records/x/step-results" in response.get_json()["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_method_allow_header(client, method):
    response = client.open(URL, method=method, headers=AUTH)
    allowed = {name.strip() for name in response.headers["Allow"].split(",")}

    assert response.status_code == 405
    assert "GET" in allowed
    assert method not in allowed
    assert method in response.get_json()["error"]


# -- unexpected failures ---------------------------------------------------------------------


class DatabaseGone(RuntimeError):
    """A failure that no handler of the app expects."""


@pytest.fixture
def failing_query(app, monkeypatch):
    """Make the step-results query raise, with testing mode off as in production."""

    def fail(record_id, arguments):
        raise DatabaseGone("disk I/O error at /var/secret/path")

    app.config["TESTING"] = False
    monkeypatch.setattr(models, "select_step_results", fail)


def test_unexpected_error_500(with_rows, failing_query, client):
    response = client.get(URL, headers=AUTH)

    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == {"error": "Internal server error"}


def test_unexpected_error_hides_details(with_rows, failing_query, client):
    body = client.get(URL, headers=AUTH).get_data(as_text=True)

    assert "secret" not in body
    assert "Traceback" not in body


def test_unexpected_error_logs_traceback(with_rows, failing_query, client, caplog):
    caplog.set_level(logging.ERROR)
    client.get(URL, headers=AUTH)
    logged = [record for record in caplog.records if record.exc_info]

    assert len(logged) == 1
    assert isinstance(logged[0].exc_info[1], DatabaseGone)
    assert "Traceback" in caplog.text
    assert "DatabaseGone: disk I/O error" in caplog.text


def test_unexpected_error_keeps_cors(with_rows, failing_query, client):
    response = client.get(URL, headers={**AUTH, "Origin": ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


# -- CORS ------------------------------------------------------------------------------------


def preflight(client, path=URL, requested="authorization"):
    return client.options(path, headers={
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": requested,
    })


def test_preflight_succeeds_without_key(client):
    response = preflight(client)

    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_preflight_allows_authorization(client):
    response = preflight(client)
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}

    assert "authorization" in allowed


def test_preflight_echoes_requested_headers(client):
    response = preflight(client, requested="authorization, x-request-id")
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}

    assert allowed >= {"authorization", "x-request-id"}


def test_preflight_allows_get(client):
    response = preflight(client)
    methods = {name.strip() for name in response.headers["Access-Control-Allow-Methods"].split(",")}

    assert "GET" in methods


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (URL, AUTH, 200),
        (URL, {}, 401),
        (URL, bearer(NO_READ_KEY), 403),
        ("/v1/records/record_missing/step-results", AUTH, 404),
    ],
)
def test_response_allows_origin(with_rows, client, path, headers, status):
    response = client.get(path, headers={**headers, "Origin": ORIGIN})

    assert response.status_code == status
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers.get_all("Vary")


def test_response_without_origin_allows_any(with_rows, client):
    response = client.get(URL, headers=AUTH)

    assert response.headers["Access-Control-Allow-Origin"] == "*"


# -- logs ------------------------------------------------------------------------------------


# (name, key sent, query, status)
LOGGED_REQUESTS = [
    ("success", API_KEY, {}, 200),
    ("unknown key", UNKNOWN_KEY, {}, 401),
    ("revoked key", REVOKED_KEY, {}, 401),
    ("no read permission", NO_READ_KEY, {}, 403),
    ("invalid query", API_KEY, {"sortBy": "colour"}, 400),
]


@pytest.mark.parametrize(
    ("key", "query", "status"), [case[1:] for case in LOGGED_REQUESTS], ids=[case[0] for case in LOGGED_REQUESTS]
)
@pytest.mark.parametrize("scheme", ["Bearer ", ""])
def test_logs_never_contain_key(with_rows, client, caplog, scheme, key, query, status):
    caplog.set_level(logging.DEBUG)
    response = client.get(URL, headers={"Authorization": scheme + key}, query_string=query)

    assert response.status_code == status
    assert URL in caplog.text
    assert key not in caplog.text


def test_logs_not_found_without_key(with_rows, client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get("/v1/records/record_lost_42/step-results", headers=AUTH)

    assert response.status_code == 404
    assert "record_lost_42" in caplog.text
    assert API_KEY not in caplog.text


def test_logs_malformed_header_without_key(with_rows, client, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.get(URL, headers={"Authorization": f"Bearer {API_KEY} extra"})

    assert response.status_code == 401
    assert URL in caplog.text
    assert API_KEY not in caplog.text


def test_cors_exposes_retry_headers(client):
    response = client.get("/v1/records/x/step-results", headers={"Origin": "http://localhost:3000"})

    exposed = [name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")]
    assert "Retry-After" in exposed
    assert "WWW-Authenticate" in exposed


def test_preflight_has_no_content_type(client):
    response = client.options(
        "/v1/records/x/step-results",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Headers": "authorization"},
    )

    assert response.status_code == 200
    assert "Content-Type" not in response.headers
