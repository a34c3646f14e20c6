"""Security: API keys stored only as digests, no key or admin token in any log line, the
journal or the database files, no row of another organization in any response, and the
admin token required on every admin route."""

import hashlib
import json
import re
import signal

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import admin
import fixtures
import models
from conftest import base_fixture, make_step_result
from reliability_support import ServerProcess, raw_get, record_figures, send_raw, write_json
from service import create_app

SECRET_KEY = "sk-secret-7d41c09e22"
REVOKED_SECRET_KEY = "sk-revoked-5be8a1f3"
UNKNOWN_KEY = "sk-unknown-0c9f2d7a"
LOADED_KEY = "sk-loaded-by-admin-3e6b"
REJECTED_KEY = "sk-in-rejected-fixture-91aa"
MALFORMED_LINE_KEY = "sk-malformed-line-44d2"
ADMIN_TOKEN = "admin-token-b3f08e61c5"
WRONG_TOKEN = "admin-token-guessed-0000"
SECRETS = [SECRET_KEY, REVOKED_SECRET_KEY, UNKNOWN_KEY, LOADED_KEY, REJECTED_KEY, MALFORMED_LINE_KEY, ADMIN_TOKEN, WRONG_TOKEN]
STEP_RESULTS = "/v1/records/record_test/step-results"


def secret_fixture():
    document = base_fixture()
    document["apiKeys"] += [
        {"key": SECRET_KEY, "userId": "user_test", "organizationId": "org_test"},
        {"key": REVOKED_SECRET_KEY, "userId": "user_test", "organizationId": "org_test", "revoked": True},
    ]
    document["stepResults"] = [make_step_result(index) for index in range(3)]
    return document


def exercise_secrets(url):
    """Send every kind of request that carries a key or the admin token; return the statuses."""
    admin_headers = {"X-Mock-Admin-Token": ADMIN_TOKEN}
    api_headers = [
        {"Authorization": f"Bearer {SECRET_KEY}"},
        {"Authorization": f"bearer {SECRET_KEY}"},
        {"Authorization": SECRET_KEY},
        {"Authorization": f"Bearer {REVOKED_SECRET_KEY}"},
        {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        {"Authorization": f"Bearer {UNKNOWN_KEY} trailing"},
        {"Authorization": f"Basic {UNKNOWN_KEY}"},
        {"Authorization": f"Bearer {SECRET_KEY}", "Prefer": "code=500"},
        {"Authorization": f"Bearer {SECRET_KEY}", "X-Mock-Admin-Token": ADMIN_TOKEN},
    ]
    statuses = [requests.get(url + STEP_RESULTS + "?limit=5", headers=headers, timeout=10).status_code for headers in api_headers]
    statuses.append(requests.get(url + STEP_RESULTS + "?limit=abc", headers=api_headers[0], timeout=10).status_code)

    # malformed header lines are rejected by gunicorn, which logs them
    statuses.append(raw_get(url, STEP_RESULTS.encode(), f"Authorization Bearer {MALFORMED_LINE_KEY}\r\n".encode()).status)
    statuses.append(raw_get(url, STEP_RESULTS.encode(), f"Authorization: Bearer {MALFORMED_LINE_KEY}\x01\r\n".encode()).status)

    loaded = {"apiKeys": [{"key": LOADED_KEY, "userId": "u", "organizationId": "org_test"}]}
    rejected = {"apiKeys": [{"key": REJECTED_KEY, "userId": 5, "organizationId": "org_test"}]}
    statuses.append(requests.post(url + "/_mock/fixtures", json=loaded, headers=admin_headers, timeout=10).status_code)
    statuses.append(requests.post(url + "/_mock/fixtures", json=rejected, headers=admin_headers, timeout=10).status_code)
    statuses.append(requests.get(url + "/_mock/faults", headers={"X-Mock-Admin-Token": WRONG_TOKEN}, timeout=10).status_code)
    statuses.append(requests.get(url + "/_mock/faults", timeout=10).status_code)
    return statuses


@pytest.fixture(scope="module")
def exercised(tmp_path_factory):
    """A server at DEBUG level that got every kind of secret, then stopped; its journal and files."""
    folder = tmp_path_factory.mktemp("secrets")
    database_path = folder / "mock.db"
    fixture_path = write_json(folder / "keys.json", secret_fixture())
    server = ServerProcess(
        folder, database_path, "--log-level", "DEBUG", "--admin-token", ADMIN_TOKEN, "--fixture", str(fixture_path)
    )
    try:
        server.start()
        statuses = exercise_secrets(server.url)
        journal_text = requests.get(
            server.url + "/_mock/requests", headers={"X-Mock-Admin-Token": ADMIN_TOKEN}, timeout=10
        ).text
        # read the WAL before the clean stop checkpoints it into the database file
        stored = b"".join(path.read_bytes() for path in folder.glob("mock.db*"))
        exit_code = server.stop(signal.SIGTERM)
    finally:
        server.close()

    record_figures("security: secrets sent to a DEBUG-level server", clients=1, requests=len(statuses) + 1)
    return {
        "statuses": statuses,
        "logs": server.stdout() + server.stderr(),
        "journal": journal_text,
        "stored": stored + b"".join(path.read_bytes() for path in folder.glob("mock.db*")),
        "exit_code": exit_code,
    }


def test_secret_requests_answered(exercised):
    assert exercised["statuses"] == [200, 200, 200, 401, 401, 401, 401, 500, 200, 400, 400, 400, 201, 400, 401, 401]


def test_logs_are_detailed(exercised):
    # DEBUG logs each request and each SQL statement, so the next test has something to search
    assert "GET /v1/records/record_test/step-results" in exercised["logs"]
    assert "Invalid HTTP Header" in exercised["logs"]
    assert "INSERT" in exercised["logs"]


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_not_in_logs(exercised, secret):
    assert secret not in exercised["logs"]


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_not_in_journal(exercised, secret):
    assert secret not in exercised["journal"]


def test_journal_has_fingerprints(exercised):
    fingerprint = "sha256:" + hashlib.sha256(SECRET_KEY.encode()).hexdigest()[:8]

    assert fingerprint in exercised["journal"]


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_not_in_database_files(exercised, secret):
    assert secret.encode() not in exercised["stored"]


def test_database_files_hold_digests(exercised):
    for key in (SECRET_KEY, LOADED_KEY):
        assert hashlib.sha256(key.encode()).hexdigest().encode() in exercised["stored"]


def test_server_stopped_cleanly(exercised):
    assert exercised["exit_code"] == 0


# -- the admin token on every admin route --------------------------------------------------------


def admin_routes(app):
    """Every admin route and method, with sample values for the route's variables."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(admin.ADMIN_PREFIX):
            continue
        path = re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_every_admin_route_needs_token(tmp_path):
    app = create_app({"DATABASE": tmp_path / "mock.db", "SEED_DEMO": False, "ADMIN_TOKEN": ADMIN_TOKEN})
    client = app.test_client()
    routes = list(admin_routes(app))

    answered = {(method, path): client.open(path, method=method, json={}).status_code for method, path in routes}

    assert len(routes) >= 7
    assert answered == {route: 401 for route in routes}


@pytest.fixture(scope="module")
def open_admin_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_admin")
    server = ServerProcess(folder, folder / "mock.db", "--fixture", str(write_json(folder / "base.json", base_fixture())))
    server.start()
    yield server
    server.close()


# Requests a web page of another site can make a browser send to a loopback server: the
# Host or Origin header names that site. Without a token they must not reach the data.
FOREIGN_HEADERS = {
    "rebound_host": b"Host: attacker.example:8080\r\n",
    "loopback_prefix_host": b"Host: 127.0.0.1.attacker.example\r\n",
    "localhost_prefix_host": b"Host: localhost.attacker.example\r\n",
    "foreign_origin": b"Host: 127.0.0.1\r\nOrigin: https://attacker.example\r\n",
    "userinfo_origin": b"Host: 127.0.0.1\r\nOrigin: http://127.0.0.1@attacker.example\r\n",
    "null_origin": b"Host: 127.0.0.1\r\nOrigin: null\r\n",
}


@pytest.mark.parametrize("headers", FOREIGN_HEADERS.values(), ids=FOREIGN_HEADERS.keys())
def test_foreign_page_cannot_reset(open_admin_server, headers):
    request = b"POST /_mock/reset HTTP/1.1\r\n" + headers + b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    response = send_raw(open_admin_server.url, request)
    rows = requests.get(
        open_admin_server.url + "/v1/records/record_test/step-results",
        headers={"Authorization": "Bearer test-key-read"}, timeout=10,
    )

    assert response.status == 403
    assert response.json()["error"]
    assert rows.status_code == 200


# -- no rows of another organization -------------------------------------------------------------

ORGANIZATIONS = ["org_a", "org_b", "org_c"]
PERMISSION_SETS = [["records:read"], ["*"], ["flows:read"], ["records:read", "flows:read"]]


@st.composite
def tenants(draw):
    """Organizations with keys, records and step results, some ids shared between sections."""
    document = {"apiKeys": [], "records": [], "stepResults": []}
    keys = []
    for organization in ORGANIZATIONS:
        for number in range(draw(st.integers(min_value=1, max_value=2))):
            key = f"key-{organization}-{number}"
            revoked = draw(st.booleans()) and number > 0
            permissions = draw(st.sampled_from(PERMISSION_SETS))
            document["apiKeys"].append(
                {"key": key, "userId": f"user_{organization}", "organizationId": organization,
                 "permissions": permissions, "revoked": revoked}
            )
            keys.append((key, organization, revoked, permissions))

    # record ids are global; each record belongs to one drawn organization
    record_ids = draw(st.lists(st.sampled_from(["r1", "r2", "r3", "r4", "shared", "r/6", "R1"]), min_size=1, max_size=5, unique=True))
    owners = {}
    for record_id in record_ids:
        owners[record_id] = draw(st.sampled_from(ORGANIZATIONS))
        document["records"].append({"id": record_id, "organizationId": owners[record_id], "userId": f"user_{owners[record_id]}"})

    for index in range(draw(st.integers(min_value=5, max_value=15))):
        record_id = draw(st.sampled_from(record_ids))
        document["stepResults"].append(make_step_result(
            index, recordId=record_id, flowId=draw(st.sampled_from(["f1", "f2"])),
            status=draw(st.sampled_from(["completed", "failed"])),
        ))
    return document, keys, owners


queries = st.fixed_dictionaries({}, optional={
    "flowId": st.sampled_from(["f1", "f2", "f3"]),
    "status": st.sampled_from(["completed", "failed", "completed,failed"]),
    "limit": st.sampled_from(["1", "5", "100"]),
    "offset": st.sampled_from(["0", "1", "3"]),
    "sortBy": st.sampled_from(["createdAt", "stepName", "status"]),
})

isolation_tally = {"requests": 0, "rows_checked": 0, "leaks": 0}


@pytest.fixture(scope="module")
def tenant_app(tmp_path_factory):
    app = create_app({"DATABASE": tmp_path_factory.mktemp("tenants") / "mock.db", "SEED_DEMO": False})
    yield app
    models.database.close()
    record_figures("security: random organizations, keys and queries", **isolation_tally)
    # the property proves little unless it saw rows of the keys' own organizations
    assert isolation_tally["rows_checked"] >= 40


def pick_request(draw, keys, owners):
    """A key, and half the time a record of the key's organization, else any id."""
    key, organization, revoked, permissions = draw(st.sampled_from(keys))
    own = sorted(record_id for record_id, owner in owners.items() if owner == organization)
    if own and draw(st.booleans()):
        record_id = draw(st.sampled_from(own))
    else:
        record_id = draw(st.sampled_from(sorted(owners) + ["nope"]))
    return key, organization, revoked, permissions, record_id, draw(queries)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_rows_of_other_organizations(tenant_app, data):
    document, keys, owners = data.draw(tenants())
    with models.database.connection_context():
        admin.reset_data()
        fixtures.load_fixture(document)
    client = tenant_app.test_client()

    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        key, organization, revoked, permissions, record_id, query = pick_request(data.draw, keys, owners)
        response = client.get(
            f"/v1/records/{record_id.replace('/', '%2F')}/step-results",
            query_string=query, headers={"Authorization": f"Bearer {key}"},
        )
        isolation_tally["requests"] += 1
        rows = response.json.get("data", [])
        isolation_tally["rows_checked"] += len(rows)
        isolation_tally["leaks"] += sum(row["organizationId"] != organization for row in rows)

        readable = not revoked and ("*" in permissions or "records:read" in permissions)
        if not readable:
            assert response.status_code in (401, 403)
        elif owners.get(record_id) != organization:
            assert response.status_code == 404
            assert response.json == {"error": f"Record '{record_id}' not found"}
        else:
            assert response.status_code == 200
        assert all(row["organizationId"] == organization for row in rows)
        assert all(row["recordId"] == record_id for row in rows)
