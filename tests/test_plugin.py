"""The pytest plugin, used as another project uses it, and the values its helpers fill in.

The suites under ``examples/`` and in temporary folders run in a separate pytest process with
the repository on ``PYTHONPATH``, which is how the README tells another project to run them.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

import fixtures
from runtype_mock_plugin import MockServer, RuntypeMock

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = REPOSITORY / "examples" / "client_project"
SUITE_TIMEOUT = 120


def run_pytest(folder, *arguments):
    """Run pytest in ``folder`` as another project would, and return the finished process."""
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": python_path}
    environment.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *arguments],
        cwd=folder, env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=SUITE_TIMEOUT,
    )


def outcomes(process):
    """Map each test name to PASSED, FAILED or ERROR from pytest's ``-rA`` summary."""
    found = re.findall(r"^(PASSED|FAILED|ERROR) \S+::(\w+)", process.stdout, re.MULTILINE)
    return {name: outcome for outcome, name in found}


# -- suites run as another project runs them -------------------------------------------------


def test_example_suite_passes():
    process = run_pytest(EXAMPLE_PROJECT, "-q")

    assert process.returncode == 0, process.stdout + process.stderr
    assert set(outcomes(process).values()) == {"PASSED"}
    assert "test_retries_after_503_then_reads" in outcomes(process)


PLUGIN_SUITE = '''
import requests

import schemas

def step_results_url(mock, record_id):
    return f"{mock.base_url}/v1/records/{record_id}/step-results"

def get(mock, record_id):
    headers = {"Authorization": f"Bearer {mock.api_key}"}
    return requests.get(step_results_url(mock, record_id), headers=headers, timeout=10)

def test_a_adds_rows(runtype_mock):
    runtype_mock.add_step_results(count=2)
    runtype_mock.fail_next(500, path="/nowhere")
    assert get(runtype_mock, "record_0001").json()["pagination"]["returned"] == 2

def test_b_starts_clean(runtype_mock):
    runtype_mock.add_record()
    assert get(runtype_mock, "record_0001").json()["pagination"]["returned"] == 0
    assert runtype_mock.faults == []
    assert [entry["status"] for entry in runtype_mock.requests] == [200]

def test_c_server_error_fails(runtype_mock, monkeypatch):
    def boom(rows):
        raise RuntimeError("boom in the mock")
    monkeypatch.setattr(schemas.STEP_RESULT_LIST, "dump", boom)
    runtype_mock.add_record()
    assert get(runtype_mock, "record_0001").status_code == 500

def test_d_load_file(runtype_mock, tmp_path):
    path = tmp_path / "fixture.json"
    path.write_text('{"records": [{"id": "rec_file", "organizationId": "%s", "userId": "u"}]}' % runtype_mock.organization_id)
    assert runtype_mock.load(str(path)) == {"apiKeys": 0, "records": 1, "stepResults": 0}
    assert get(runtype_mock, "rec_file").status_code == 200

def test_e_fail_and_delay(runtype_mock):
    runtype_mock.add_record()
    runtype_mock.fail_next(429, times=2, headers={"Retry-After": "3"})
    runtype_mock.delay_next(50)
    statuses = [get(runtype_mock, "record_0001").status_code for _ in range(4)]
    assert statuses == [429, 429, 200, 200]
    assert runtype_mock.requests[2]["durationMs"] >= 50
    assert len(runtype_mock.journal(path="/v1/records/*/step-results", method="get")) == 4

def test_f_reset_inside_test(runtype_mock):
    runtype_mock.add_step_results()
    runtype_mock.reset()
    assert get(runtype_mock, "record_0001").status_code == 404
'''


def test_plugin_behaviour_in_suite(tmp_path):
    (tmp_path / "test_with_plugin.py").write_text(textwrap.dedent(PLUGIN_SUITE), encoding="utf-8")

    process = run_pytest(tmp_path, "-p", "runtype_mock_plugin")

    assert outcomes(process) == {
        "test_a_adds_rows": "PASSED",
        "test_b_starts_clean": "PASSED",
        "test_c_server_error_fails": "FAILED",
        "test_d_load_file": "PASSED",
        "test_e_fail_and_delay": "PASSED",
        "test_f_reset_inside_test": "PASSED",
    }, process.stdout + process.stderr
    assert "The Runtype mock raised an exception while serving this test" in process.stdout
    assert "RuntimeError: boom in the mock" in process.stdout


def test_plugin_not_loaded_here(request):
    assert request.config.pluginmanager.has_plugin("runtype_mock_plugin") is False


# -- the helpers' realistic values -----------------------------------------------------------


@pytest.fixture
def mock(tmp_path):
    server = MockServer(tmp_path / "plugin.db")
    server.start()
    handle = RuntypeMock(server)
    handle.reset()
    yield handle
    server.stop()


def read_rows(mock, record_id, **params):
    response = requests.get(
        f"{mock.base_url}/v1/records/{record_id}/step-results",
        params={"sortBy": "order", "sortOrder": "asc", **params},
        headers={"Authorization": f"Bearer {mock.api_key}"}, timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_add_record_defaults(mock):
    record = mock.add_record()

    assert record["id"] == "record_0001"
    assert record["organizationId"] == mock.organization_id
    assert record["name"].startswith("Customer Onboarding - ")
    assert mock.add_record()["id"] == "record_0002"


def test_add_record_named_fields(mock):
    record = mock.add_record(id="rec_custom", name=None, metadata={"tier": "gold"})

    assert record["id"] == "rec_custom"
    assert record["name"] is None
    assert record["metadata"] == {"tier": "gold"}


def test_step_results_default_record(mock):
    rows = mock.add_step_results(count=2)

    assert {row["recordId"] for row in rows} == {"record_0001"}
    assert len(read_rows(mock, "record_0001")) == 2


def test_completed_row_is_complete(mock):
    mock.add_step_results(count=2)

    api_call, prompt = read_rows(mock, "record_0001")

    assert api_call["stepType"] == "api-call"
    assert api_call["modelUsed"] is None
    assert prompt["stepType"] == "prompt"
    assert prompt["modelUsed"] == "gpt-4o-mini"
    assert prompt["totalTokens"] == prompt["promptTokens"] + prompt["completionTokens"]
    assert re.fullmatch(r"0\.[0-9]+", prompt["estimatedCost"])
    assert prompt["durationMs"] > 0
    assert prompt["completedAt"] > prompt["startedAt"]
    assert prompt["outputPreview"]
    assert prompt["recordName"] == "Customer Onboarding - Ada Lovelace"
    assert prompt["userId"] == mock.user_id
    assert prompt["errorMessage"] is None


@pytest.mark.parametrize(
    ("status", "timing", "error"),
    [
        ("pending", (None, None, None), False),
        ("queued", (None, None, None), False),
        ("running", ("set", None, None), False),
        ("failed", ("set", "set", "set"), True),
        ("interrupted", ("set", "set", "set"), True),
        ("skipped", ("set", "set", 0), False),
    ],
)
def test_row_values_fit_status(mock, status, timing, error):
    mock.add_step_results(status=status)

    (row,) = read_rows(mock, "record_0001")

    values = (row["startedAt"], row["completedAt"], row["durationMs"])
    shown = tuple(value if value in (None, 0) else "set" for value in values)
    assert shown == timing
    assert (row["errorMessage"] is not None) is error


def test_named_fields_win(mock):
    mock.add_step_results(rows=[{"stepName": "Only this", "estimatedCost": "1.5"}, {}], status="failed", order=7)

    first, second = read_rows(mock, "record_0001", sortBy="stepName")

    assert first["stepName"] == "Only this"
    assert first["estimatedCost"] == "1.5"
    assert {first["status"], second["status"]} == {"failed"}
    assert {first["order"], second["order"]} == {7}


def test_named_ai_step_gets_model(mock):
    mock.add_step_results(stepType="ai-processing")

    (row,) = read_rows(mock, "record_0001")

    assert row["modelUsed"] == "gpt-4o-mini"
    assert row["promptTokens"] > 0


def test_rows_longer_than_count(mock):
    with pytest.raises(ValueError, match="rows has 2 items, more than count=1"):
        mock.add_step_results(count=1, rows=[{}, {}])


def test_invalid_field_is_fixture_error(mock):
    with pytest.raises(fixtures.FixtureError, match=r"stepResults\[0\]\.status"):
        mock.add_step_results(status="done")


def test_api_key_reads_everything(mock):
    record = mock.add_record()
    mock.add_step_results(record, count=3)

    assert len(read_rows(mock, record["id"])) == 3
    assert mock.fingerprint() == mock.requests[0]["headers"]["Authorization"].split()[1]
