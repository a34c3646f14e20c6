"""Fault injection: scheduled faults, the Prefer header, the __code parameter and delays."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import faults
from conftest import AUTH, RECORD_ID, make_step_result

STEP_RESULTS_URL = f"/v1/records/{RECORD_ID}/step-results"


@pytest.fixture
def api(client, seeded):
    """A test client over the base fixture plus one step result."""
    seeded({"stepResults": [make_step_result(0)]})
    return client


def schedule(client, **fault):
    response = client.post("/_mock/faults", json=fault)
    assert response.status_code == 201, response.json
    return response.json["id"]


def remaining(client):
    return [fault["remaining"] for fault in client.get("/_mock/faults").json["faults"]]


def timed_get(client, url, headers=None):
    started = time.perf_counter()
    response = client.get(url, headers={**AUTH, **(headers or {})})
    return response, time.perf_counter() - started


# -- scheduled faults ------------------------------------------------------------------------


def test_faults_taken_in_order(api):
    schedule(api, status=503, times=2)
    schedule(api, status=429)

    statuses = [api.get(STEP_RESULTS_URL, headers=AUTH).status_code for _ in range(4)]

    assert statuses == [503, 503, 429, 200]
    assert remaining(api) == []


def test_fault_uses_count_down(api):
    schedule(api, status=500, times=3)

    api.get(STEP_RESULTS_URL, headers=AUTH)

    assert remaining(api) == [2]


def test_fault_default_body(api):
    fault_id = schedule(api, status=503)

    response = api.get(STEP_RESULTS_URL, headers=AUTH)

    assert response.status_code == 503
    assert response.content_type == "application/json"
    assert response.json == {"error": f"Service Unavailable (scheduled fault {fault_id})"}


def test_fault_headers_and_json_body(api):
    schedule(api, status=429, headers={"Retry-After": 2, "X-RateLimit-Remaining": "0"}, body={"error": "Slow down"})

    response = api.get(STEP_RESULTS_URL, headers=AUTH)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.json == {"error": "Slow down"}


def test_fault_text_body(api):
    schedule(api, status=502, body="<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})

    response = api.get(STEP_RESULTS_URL, headers=AUTH)

    assert response.status_code == 502
    assert response.content_type == "text/html"
    assert response.data == b"<html>Bad Gateway</html>"


def test_fault_comes_before_auth(api):
    schedule(api, status=503)

    assert api.get(STEP_RESULTS_URL).status_code == 503


def test_fault_skips_other_methods(api):
    schedule(api, status=503, method="POST")

    assert api.get(STEP_RESULTS_URL, headers=AUTH).status_code == 200
    assert remaining(api) == [1]


def test_fault_any_method_takes_preflight(api):
    schedule(api, status=503, method="*")

    response = api.options(STEP_RESULTS_URL, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})

    assert response.status_code == 503


def test_fault_skips_admin_routes(api):
    schedule(api, status=503, method="*", path="*")

    assert api.get("/_mock/faults").status_code == 200
    assert api.post("/_mock/fixtures", json={}).status_code == 201
    assert remaining(api) == [1]


def test_fault_skips_other_paths(api):
    schedule(api, status=503, path="/v1/records/other/step-results")

    assert api.get(STEP_RESULTS_URL, headers=AUTH).status_code == 200
    assert remaining(api) == [1]


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/v1/records/*/step-results", "/v1/records/rec_1/step-results", True),
        ("/v1/records/*/step-results", "/v1/records/folder/rec 1/step-results", True),
        ("/v1/records/*/step-results", "/v1/records/rec_1/steps", False),
        ("/v1/records/rec_1/step-results", "/v1/records/rec_1/step-results", True),
        ("/v1/records/rec_1/step-results", "/v1/records/rec_10/step-results", False),
        ("/v1/records/rec_?/step-results", "/v1/records/rec_7/step-results", True),
        ("/v1/records/rec_[12]/step-results", "/v1/records/rec_3/step-results", False),
        ("/V1/*", "/v1/records/rec_1/step-results", False),
        ("*", "/v1/anything", True),
    ],
)
def test_fault_path_glob(pattern, path, expected):
    fault = faults.Fault(method="GET", path=pattern)

    assert fault.matches("GET", path) is expected


def test_glob_fault_over_http(api, load):
    load({"records": [{"id": "rec/with/slashes", "organizationId": "org_test", "userId": "user_test"}]})
    schedule(api, status=503, path="/v1/records/*/step-results", times=2)

    first = api.get(STEP_RESULTS_URL, headers=AUTH)
    second = api.get("/v1/records/rec%2Fwith%2Fslashes/step-results", headers=AUTH)
    third = api.get(STEP_RESULTS_URL, headers=AUTH)

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]


def test_delay_only_fault_delays_real_response(api):
    schedule(api, delayMs=150)

    response, elapsed = timed_get(api, STEP_RESULTS_URL)

    assert response.status_code == 200
    assert response.json["pagination"]["returned"] == 1
    assert elapsed >= 0.15
    assert remaining(api) == []


def test_fault_delay_then_status(api):
    schedule(api, status=504, delayMs=120)

    response, elapsed = timed_get(api, STEP_RESULTS_URL)

    assert response.status_code == 504
    assert elapsed >= 0.12


def test_faults_shared_by_threads(app, seeded, live_server):
    """Twenty concurrent requests over eight threads take a five-use fault exactly five times."""
    seeded({"stepResults": [make_step_result(0)]})
    app.test_client().post("/_mock/faults", json={"status": 503, "times": 5})
    url = live_server.url + STEP_RESULTS_URL

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, headers=AUTH, timeout=10).status_code, range(20)))

    assert statuses.count(503) == 5
    assert statuses.count(200) == 15


# -- per-request overrides -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefer", "status", "applied"),
    [
        ("code=503", 503, "code=503"),
        ("code=429, delay=10", 429, "delay=10, code=429"),
        ('code="502"', 502, "code=502"),
        ("CODE=500", 500, "code=500"),
        ("code=404; reason=test", 404, "code=404"),
        ("example=bear, dynamic=true, code=401", 401, "code=401"),
        ("code=500, code=404", 500, "code=500"),
        ("code=200", 200, "code=200"),
        ("return=minimal", 200, None),
        ("respond-async, wait=5", 200, None),
    ],
)
def test_prefer_header(api, prefer, status, applied):
    response = api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": prefer})

    assert response.status_code == status
    assert response.headers.get("Preference-Applied") == applied


def test_prefer_error_body(api):
    response = api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": "code=503"})

    assert response.content_type == "application/json"
    assert response.json == {"error": "Service Unavailable (forced by the Prefer header)"}


def test_prefer_401_carries_challenge(api):
    response = api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": "code=401"})

    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_prefer_first_header_wins(api):
    response = api.get(STEP_RESULTS_URL, headers=[*AUTH.items(), ("Prefer", "code=503"), ("Prefer", "code=404")])

    assert response.status_code == 503


@pytest.mark.parametrize(
    ("prefer", "named"),
    [
        ("code=abc", "Prefer header: code"),
        ("code=", "Prefer header: code"),
        ("code", "Prefer header: code"),
        ("code=302", "Prefer header: code"),
        ("code=600", "Prefer header: code"),
        ("code=٥٠٣", "Prefer header: code"),
        ("delay=-5", "Prefer header: delay"),
        ("delay=1.5", "Prefer header: delay"),
        ("delay=30001", "Prefer header: delay"),
        ("=503", "Prefer header: '=503' is not a preference"),
        ("code 503", "Prefer header: 'code 503' is not a preference"),
    ],
)
def test_prefer_rejects_malformed(api, prefer, named):
    response = api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": prefer})

    assert response.status_code == 400
    assert response.json["error"].startswith(f"Invalid {named}")


def test_prefer_delay(api):
    response, elapsed = timed_get(api, STEP_RESULTS_URL, {"Prefer": "delay=200"})

    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "delay=200"
    assert elapsed >= 0.2


def test_prefer_leaves_faults_alone(api):
    schedule(api, status=503)

    response = api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": "code=429"})

    assert response.status_code == 429
    assert remaining(api) == [1]


@pytest.mark.parametrize(
    ("query", "status"),
    [("__code=503", 503), ("__code=404&limit=5", 404), ("__code=", 200), ("__code=200", 200)],
)
def test_code_parameter(api, query, status):
    response = api.get(f"{STEP_RESULTS_URL}?{query}", headers=AUTH)

    assert response.status_code == status


def test_code_parameter_error_body(api):
    response = api.get(f"{STEP_RESULTS_URL}?__code=503", headers=AUTH)

    assert response.json == {"error": "Service Unavailable (forced by the __code query parameter)"}


@pytest.mark.parametrize("value", ["abc", "99", "1e3", "503x"])
def test_code_parameter_rejects_malformed(api, value):
    response = api.get(f"{STEP_RESULTS_URL}?__code={value}", headers=AUTH)

    assert response.status_code == 400
    assert response.json["error"].startswith("Invalid query parameter '__code'")


def test_prefer_wins_over_code_parameter(api):
    response = api.get(f"{STEP_RESULTS_URL}?__code=503", headers={**AUTH, "Prefer": "code=404"})

    assert response.status_code == 404


def test_overrides_skip_admin_routes(api):
    response = api.get("/_mock/faults?__code=503", headers={"Prefer": "code=500"})

    assert response.status_code == 400
    assert response.json["details"] == {"__code": "unknown parameter"}
