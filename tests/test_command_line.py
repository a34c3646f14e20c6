"""``python service.py`` as a user runs it: a gunicorn server in its own process.

Each server listens on ``--port 0`` and the test reads the real address from its
``Serving on ...`` line. Every process is started in its own session and killed with its
process group in a ``finally`` block, so that a failing test leaves no server behind.
"""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import demo
from conftest import API_KEY, AUTH, RECORD_ID, base_fixture, make_step_result

SERVICE = Path(__file__).resolve().parent.parent / "service.py"
START_TIMEOUT = 30
STOP_TIMEOUT = 15
DEMO_AUTH = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}
DOCUMENTED_URL = f"/v1/records/{demo.DOCUMENTED_RECORD_ID}/step-results"
TEST_URL = f"/v1/records/{RECORD_ID}/step-results"


class ServiceProcess:
    """One ``python service.py`` process with its output captured in files."""

    def __init__(self, directory, *arguments):
        name = f"service-{time.monotonic_ns()}"
        self.stdout_path = directory / f"{name}.out"
        self.stderr_path = directory / f"{name}.err"
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(SERVICE), "--host", "127.0.0.1", *arguments],
                cwd=directory, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                start_new_session=True,
            )
        self.url = None

    @property
    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self):
        """Wait for the ``Serving on`` line, then for the first HTTP response."""
        deadline = time.monotonic() + START_TIMEOUT
        while self.url is None:
            match = re.search(r"Serving on (http://\S+)", self.stdout)
            if match:
                self.url = match.group(1)
            elif self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.stderr}")
            elif time.monotonic() > deadline:
                raise AssertionError(f"the server did not start in {START_TIMEOUT} s:\n{self.stderr}")
            else:
                time.sleep(0.05)

        while True:
            try:
                requests.get(self.url + "/v1/records/ready/step-results", timeout=2)
                return self
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, path, headers=None):
        return requests.get(self.url + path, headers=headers, timeout=10)

    def stop(self, signal_number=signal.SIGTERM):
        """Send ``signal_number`` and return the exit code."""
        self.process.send_signal(signal_number)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def wait_exit(self):
        return self.process.wait(timeout=START_TIMEOUT)

    def kill(self):
        """Kill the server and its gunicorn worker if they still run."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def start(tmp_path):
    """Start ``python service.py`` processes; every one is killed at the end of the test."""
    started = []

    def start_service(*arguments):
        service = ServiceProcess(tmp_path, *arguments)
        started.append(service)
        return service

    try:
        yield start_service
    finally:
        for service in started:
            service.kill()


def write_json(path, document):
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def table_count(database_path, table):
    connection = sqlite3.connect(database_path)
    try:
        return connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    finally:
        connection.close()


# -- the demo data set -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """One server on a new database, shared by the read-only demo tests."""
    directory = tmp_path_factory.mktemp("demo")
    service = ServiceProcess(directory, "--port", "0", "--db", str(directory / "new.db"))
    try:
        yield service.wait_ready()
    finally:
        service.kill()


def test_new_database_prints_demo_key(demo_server):
    assert f"Demo API key: {demo.DEMO_API_KEY}" in demo_server.stdout


def test_new_database_seeded_with_demo(demo_server):
    response = demo_server.get(DOCUMENTED_URL, headers=DEMO_AUTH)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"


def test_documented_row_fields(demo_server):
    row = demo_server.get(DOCUMENTED_URL, headers=DEMO_AUTH).json()["data"][0]

    assert {name: row[name] for name in demo.DOCUMENTED_EXAMPLE_ROW} == demo.DOCUMENTED_EXAMPLE_ROW


def test_documented_row_newer_fields_null(demo_server):
    row = demo_server.get(DOCUMENTED_URL, headers=DEMO_AUTH).json()["data"][0]
    newer = {name: value for name, value in row.items() if name not in demo.DOCUMENTED_EXAMPLE_ROW}

    assert set(newer) == {
        "cacheReadTokens", "cacheWriteTokens", "reasoningTokens", "reasoningConfig",
        "reasoningRequested", "reasoningRejection", "executionEngine",
    }
    assert set(newer.values()) == {None}


def test_documented_pagination(demo_server):
    body = demo_server.get(DOCUMENTED_URL, headers=DEMO_AUTH).json()

    assert body["pagination"] == {"limit": 10, "offset": 0, "returned": 1, "hasMore": False}
    assert len(body["data"]) == 1


def test_demo_key_required(demo_server):
    assert demo_server.get(DOCUMENTED_URL).status_code == 401


# -- fixtures on the command line ------------------------------------------------------------


def test_fixture_option_loads_files_in_order(start, tmp_path):
    keys_and_records = write_json(tmp_path / "base.json", base_fixture())
    rows = write_json(tmp_path / "rows.json", {"stepResults": [make_step_result(index) for index in range(3)]})
    service = start("--port", "0", "--db", str(tmp_path / "x.db"), "--fixture", keys_and_records, "--fixture", rows)
    service.wait_ready()
    response = service.get(TEST_URL, headers=AUTH)

    assert response.status_code == 200
    assert response.json()["pagination"]["returned"] == 3


def test_fixture_option_skips_demo(start, tmp_path):
    fixture = write_json(tmp_path / "base.json", base_fixture())
    service = start("--port", "0", "--db", str(tmp_path / "x.db"), "--fixture", fixture)
    service.wait_ready()

    assert service.get(DOCUMENTED_URL, headers=DEMO_AUTH).status_code == 401
    assert "Demo API key" not in service.stdout


INVALID_FIXTURES = [
    ("invalid item", json.dumps({"stepResults": [make_step_result(0), make_step_result(1, status="done")]}),
     "stepResults[1].status"),
    ("invalid JSON", '{"apiKeys": [\n  {"key": "k",}\n]}', "invalid JSON at line 2, column 15"),
    ("unknown section", json.dumps({"steps": []}), "steps: unknown fixture section"),
]


@pytest.mark.parametrize(
    ("text", "named"), [case[1:] for case in INVALID_FIXTURES], ids=[case[0] for case in INVALID_FIXTURES]
)
def test_invalid_fixture_exits(start, tmp_path, text, named):
    valid = write_json(tmp_path / "base.json", base_fixture())
    invalid = tmp_path / "invalid.json"
    invalid.write_text(text, encoding="utf-8")
    database_path = tmp_path / "x.db"
    service = start("--port", "0", "--db", str(database_path), "--fixture", valid, "--fixture", str(invalid))

    assert service.wait_exit() != 0
    assert f"{invalid}: {named}" in service.stderr
    assert "Traceback" not in service.stderr
    assert "Serving on" not in service.stdout
    assert table_count(database_path, "api_key") == 0


def test_missing_fixture_exits(start, tmp_path):
    missing = tmp_path / "missing.json"
    service = start("--port", "0", "--db", str(tmp_path / "x.db"), "--fixture", str(missing))

    assert service.wait_exit() != 0
    assert f"{missing}: cannot read the fixture file" in service.stderr
    assert "Traceback" not in service.stderr


# -- stopping and restarting -----------------------------------------------------------------


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(start, tmp_path, signal_number):
    fixture = write_json(tmp_path / "base.json", base_fixture())
    service = start("--port", "0", "--db", str(tmp_path / "x.db"), "--fixture", fixture)
    service.wait_ready()

    assert service.get(TEST_URL, headers=AUTH).status_code == 200
    assert service.stop(signal_number) == 0
    assert "Traceback" not in service.stderr


def test_restart_keeps_data(start, tmp_path):
    database = str(tmp_path / "x.db")
    fixture = write_json(tmp_path / "all.json", {**base_fixture(), "stepResults": [make_step_result(0)]})
    first = start("--port", "0", "--db", database, "--fixture", fixture)
    first.wait_ready()
    assert first.stop() == 0

    second = start("--port", "0", "--db", database)
    second.wait_ready()
    rows = second.get(TEST_URL, headers=AUTH).json()["data"]

    assert [row["id"] for row in rows] == ["step_result_00000"]
    assert second.get(DOCUMENTED_URL, headers=DEMO_AUTH).status_code == 401
    assert "Demo API key" not in second.stdout


def test_restart_does_not_reseed(start, tmp_path):
    database = str(tmp_path / "x.db")
    first = start("--port", "0", "--db", database)
    first.wait_ready()
    assert first.stop() == 0
    step_results = table_count(database, "step_result")

    # a change that a second seeding would overwrite
    connection = sqlite3.connect(database)
    with connection:
        connection.execute(
            "UPDATE step_result SET step_name = 'Changed by hand' WHERE id = ?", (demo.DOCUMENTED_EXAMPLE_ROW["id"],)
        )
    connection.close()

    second = start("--port", "0", "--db", database)
    second.wait_ready()
    row = second.get(DOCUMENTED_URL, headers=DEMO_AUTH).json()["data"][0]

    assert row["stepName"] == "Changed by hand"
    assert table_count(database, "step_result") == step_results
    assert f"Demo API key: {demo.DEMO_API_KEY}" in second.stdout


def test_api_key_not_printed_for_fixture_keys(start, tmp_path):
    fixture = write_json(tmp_path / "base.json", base_fixture())
    service = start("--port", "0", "--db", str(tmp_path / "x.db"), "--fixture", fixture, "--log-level", "DEBUG")
    service.wait_ready()
    service.get(TEST_URL, headers=AUTH)
    service.stop()

    assert API_KEY not in service.stdout + service.stderr


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--port", "70000", "expected a port number from 0 to 65535"),
        ("--port", "-1", "expected a port number from 0 to 65535"),
        ("--log-level", "LOUD", "invalid choice: 'LOUD'"),
    ],
)
def test_bad_option_is_usage_error(tmp_path, option, value, expected):
    completed = subprocess.run(
        [sys.executable, str(SERVICE), option, value, "--db", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=30,
    )

    assert completed.returncode == 2
    assert expected in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "x.db").exists()


def test_busy_port_is_clear_error(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        completed = subprocess.run(
            [sys.executable, str(SERVICE), "--port", str(port), "--db", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=30,
        )

    assert completed.returncode == 2
    assert f"Port {port} on 127.0.0.1 is already in use" in completed.stderr
    assert not (tmp_path / "x.db").exists()
