"""The request journal: what it records, its bound, its filters and its key redaction."""

import json
import sqlite3
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import journal
from conftest import API_KEY, AUTH, RECORD_ID, base_fixture, make_step_result
from service import create_app

STEP_RESULTS_URL = f"/v1/records/{RECORD_ID}/step-results"


@pytest.fixture
def api(client, seeded):
    seeded({"stepResults": [make_step_result(0)]})
    return client


def entries(client, query=""):
    response = client.get(f"/_mock/requests{query}")
    assert response.status_code == 200, response.json
    return response.json["requests"]


def test_entry_fields(api):
    api.get(f"{STEP_RESULTS_URL}?status=failed&status=completed&limit=5", headers={**AUTH, "User-Agent": "suite/1.0"})

    (entry,) = entries(api)

    assert entry["method"] == "GET"
    assert entry["path"] == STEP_RESULTS_URL
    assert entry["query"] == {"status": ["failed", "completed"], "limit": ["5"]}
    assert entry["queryString"] == "status=failed&status=completed&limit=5"
    assert entry["headers"]["User-Agent"] == "suite/1.0"
    assert entry["status"] == 200
    assert entry["durationMs"] >= 0
    assert entry["faultId"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", entry["time"])


def test_entries_oldest_first(api):
    for offset in range(3):
        api.get(f"{STEP_RESULTS_URL}?offset={offset}", headers=AUTH)

    listed = entries(api)

    assert [entry["query"]["offset"] for entry in listed] == [["0"], ["1"], ["2"]]
    assert [entry["id"] for entry in listed] == sorted(entry["id"] for entry in listed)


def test_errors_are_recorded(api):
    api.get(STEP_RESULTS_URL)
    api.get("/v1/records/nothing/here", headers=AUTH)
    api.get(STEP_RESULTS_URL, headers={**AUTH, "Prefer": "code=nope"})

    assert [entry["status"] for entry in entries(api)] == [401, 404, 400]


def test_fault_id_recorded(api):
    fault_id = api.post("/_mock/faults", json={"status": 503}).json["id"]

    api.get(STEP_RESULTS_URL, headers=AUTH)
    api.get(STEP_RESULTS_URL, headers=AUTH)

    assert [(entry["status"], entry["faultId"]) for entry in entries(api)] == [(503, fault_id), (200, None)]


def test_admin_requests_not_recorded(api):
    api.get("/_mock/faults")
    api.post("/_mock/fixtures", json={})

    assert entries(api) == []


@pytest.mark.parametrize("size", [1, 3])
def test_journal_bounded(database_path, load, size):
    client = create_app({"DATABASE": database_path, "SEED_DEMO": False, "JOURNAL_SIZE": size}).test_client()
    load(base_fixture())

    for offset in range(5):
        client.get(f"{STEP_RESULTS_URL}?offset={offset}", headers=AUTH)

    kept = [entry["query"]["offset"][0] for entry in entries(client)]
    assert kept == [str(offset) for offset in range(5 - size, 5)]


def test_journal_size_zero_records_nothing(database_path, load):
    client = create_app({"DATABASE": database_path, "SEED_DEMO": False, "JOURNAL_SIZE": 0}).test_client()
    load(base_fixture())

    assert client.get(STEP_RESULTS_URL, headers=AUTH).status_code == 200
    assert entries(client) == []


def test_delete_clears(api):
    api.get(STEP_RESULTS_URL, headers=AUTH)

    assert api.delete("/_mock/requests").status_code == 204
    assert entries(api) == []


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected_paths"),
    [
        ("", [STEP_RESULTS_URL, "/v1/records/other/step-results", STEP_RESULTS_URL]),
        (f"?path={STEP_RESULTS_URL}", [STEP_RESULTS_URL, STEP_RESULTS_URL]),
        ("?path=/v1/records/*/step-results", [STEP_RESULTS_URL, "/v1/records/other/step-results", STEP_RESULTS_URL]),
        ("?path=/v1/records/oth*", ["/v1/records/other/step-results"]),
        ("?method=OPTIONS", [STEP_RESULTS_URL]),
        ("?method=options&path=/v1/records/other/*", []),
        ("?path=", [STEP_RESULTS_URL, "/v1/records/other/step-results", STEP_RESULTS_URL]),
    ],
)
def test_journal_filters(api, query, expected_paths):
    api.get(STEP_RESULTS_URL, headers=AUTH)
    api.get("/v1/records/other/step-results", headers=AUTH)
    api.options(STEP_RESULTS_URL, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"})

    assert [entry["path"] for entry in entries(api, query)] == expected_paths


@pytest.mark.parametrize("query", ["?status=200", "?path=/a&path=/b"])
def test_journal_rejects_bad_filters(api, query):
    response = api.get(f"/_mock/requests{query}")

    assert response.status_code == 400
    assert response.content_type == "application/json"


# -- redaction -------------------------------------------------------------------------------


def test_key_replaced_by_fingerprint(api):
    api.get(STEP_RESULTS_URL, headers=AUTH)
    api.get(STEP_RESULTS_URL, headers={"Authorization": API_KEY})

    listed = entries(api)

    assert listed[0]["headers"]["Authorization"] == f"Bearer {journal.fingerprint(API_KEY)}"
    assert listed[1]["headers"]["Authorization"] == journal.fingerprint(API_KEY)
    assert API_KEY not in json.dumps(listed)


def test_fingerprint_format():
    fingerprint = journal.fingerprint(API_KEY)

    assert re.fullmatch(r"sha256:[0-9a-f]{8}", fingerprint)
    assert fingerprint != journal.fingerprint(API_KEY + "x")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer secret-1", f"Bearer {journal.fingerprint('secret-1')}"),
        ("authorization", "bearer  secret-1 ", f"bearer {journal.fingerprint('secret-1')}"),
        ("Authorization", "Basic dXNlcjpwdw==", f"Basic {journal.fingerprint('dXNlcjpwdw==')}"),
        ("Authorization", "secret-1", journal.fingerprint("secret-1")),
        ("Authorization", "Digest a=b, c=d", journal.fingerprint("Digest a=b, c=d")),
        ("Cookie", "session=abc", journal.fingerprint("session=abc")),
        ("X-Api-Key", "secret-2", journal.fingerprint("secret-2")),
        ("X-Mock-Admin-Token", "token-3", journal.fingerprint("token-3")),
        ("User-Agent", "Bearer not-a-secret", "Bearer not-a-secret"),
    ],
)
def test_redact_header(name, value, expected):
    assert journal.redact_header(name, value) == expected


def test_journal_under_concurrent_requests(app, seeded, live_server):
    """Twenty concurrent requests over eight threads leave twenty distinct entries."""
    seeded({"stepResults": [make_step_result(0)]})
    url = live_server.url + STEP_RESULTS_URL

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda offset: requests.get(f"{url}?offset={offset}", headers=AUTH, timeout=10), range(20)))

    listed = entries(app.test_client())
    assert sorted(int(entry["query"]["offset"][0]) for entry in listed) == list(range(20))
    assert len({entry["id"] for entry in listed}) == 20


def test_entry_written_during_long_load(api, database_path, caplog):
    """A fixture load holds the database's write lock until it commits; meanwhile API
    requests must still be journaled, because faults and journal live in their own file."""
    loader = sqlite3.connect(database_path, isolation_level=None)
    loader.execute("BEGIN IMMEDIATE")
    try:
        response = api.get(STEP_RESULTS_URL, headers=AUTH)
    finally:
        loader.execute("ROLLBACK")
        loader.close()

    assert response.status_code == 200
    assert [entry["status"] for entry in entries(api)] == [200]
    assert "not written to the journal" not in caplog.text
