"""Graceful shutdown: on SIGTERM the server finishes the requests in flight, a fixture load
included, exits 0 and leaves the database closed: checkpointed, with no WAL file left."""

import signal
import threading
import time

import pytest
import requests

from conftest import API_KEY, ORGANIZATION_ID, RECORD_ID, USER_ID, make_step_result
from reliability_support import (
    ServerProcess,
    fixture_with_steps,
    integrity_check,
    record_figures,
    write_json,
)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
SLOW_REQUESTS = 4
DELAY_MS = 1500
LOAD_ROWS = 10_000
BIG_RECORD_ID = "record_loaded_at_shutdown"


def send_in_thread(results, method, url, **arguments):
    def send():
        try:
            results.append(requests.request(method, url, timeout=60, **arguments))
        except requests.RequestException as error:
            results.append(error)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def stopped_during_requests(tmp_path_factory):
    """A server stopped with SIGTERM while slow reads and a big fixture load were in flight."""
    folder = tmp_path_factory.mktemp("shutdown")
    database_path = folder / "mock.db"
    server = ServerProcess(folder, database_path, "--fixture", str(write_json(folder / "rows.json", fixture_with_steps(5))))
    results = {"reads": [], "load": []}
    try:
        server.start()
        threads = [
            send_in_thread(results["reads"], "GET", f"{server.url}/v1/records/{RECORD_ID}/step-results",
                           headers={**AUTH, "Prefer": f"delay={DELAY_MS}"})
            for _ in range(SLOW_REQUESTS)
        ]
        big_load = {
            "records": [{"id": BIG_RECORD_ID, "organizationId": ORGANIZATION_ID, "userId": USER_ID}],
            "stepResults": [make_step_result(index, recordId=BIG_RECORD_ID) for index in range(1000, 1000 + LOAD_ROWS)],
        }
        threads.append(send_in_thread(results["load"], "POST", f"{server.url}/_mock/fixtures", json=big_load))

        # the reads sleep in the server by then, and the load is being validated
        time.sleep(0.5)
        signalled = time.monotonic()
        exit_code = server.stop(signal.SIGTERM)
        stop_seconds = time.monotonic() - signalled
        for thread in threads:
            thread.join(timeout=60)
    finally:
        server.close()

    record_figures(
        "shutdown: SIGTERM during slow reads and a 10,000-row load",
        clients=SLOW_REQUESTS + 1, requests=SLOW_REQUESTS + 1, faults=1,
        server_errors=sum(1 for response in results["reads"] + results["load"] if getattr(response, "status_code", 0) >= 500),
    )
    return {"results": results, "exit_code": exit_code, "stop_seconds": stop_seconds, "folder": folder, "database_path": database_path}


def test_server_exits_0(stopped_during_requests):
    assert stopped_during_requests["exit_code"] == 0


def test_server_waited_for_requests(stopped_during_requests):
    # the slow reads had about a second left when the signal came
    assert stopped_during_requests["stop_seconds"] >= 0.5


def test_slow_reads_finished(stopped_during_requests):
    reads = stopped_during_requests["results"]["reads"]

    assert [getattr(response, "status_code", response) for response in reads] == [200] * SLOW_REQUESTS
    assert all(response.json()["pagination"]["returned"] == 5 for response in reads)


def test_load_in_flight_committed(stopped_during_requests):
    (load,) = stopped_during_requests["results"]["load"]

    assert getattr(load, "status_code", load) == 201
    assert load.json()["stepResults"] == LOAD_ROWS


def test_database_closed_cleanly(stopped_during_requests):
    folder = stopped_during_requests["folder"]

    assert not (folder / "mock.db-wal").exists()
    assert integrity_check(stopped_during_requests["database_path"]) == "ok"


def test_rows_served_after_restart(stopped_during_requests):
    folder = stopped_during_requests["folder"]
    server = ServerProcess(folder, stopped_during_requests["database_path"])
    try:
        server.start()
        pages = [
            requests.get(
                f"{server.url}/v1/records/{BIG_RECORD_ID}/step-results?limit=100&offset={offset}", headers=AUTH, timeout=10
            ).json()
            for offset in range(0, LOAD_ROWS + 100, 100)
        ]
    finally:
        server.close()

    assert sum(page["pagination"]["returned"] for page in pages) == LOAD_ROWS
