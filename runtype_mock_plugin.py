"""A pytest plugin that serves the Runtype mock to another project's test suite.

Enable it with ``pytest -p runtype_mock_plugin``, or ``pytest_plugins = ["runtype_mock_plugin"]``
in the suite's root ``conftest.py``, with this repository on ``PYTHONPATH``. A test then
requests the ``runtype_mock`` fixture:

    def test_reads_failed_steps(runtype_mock):
        runtype_mock.add_step_results(count=3, status="failed")
        runtype_mock.fail_next(503, headers={"Retry-After": "0"})
        ...  # point the code under test at runtype_mock.base_url with runtype_mock.api_key

One server runs per test session, in a thread of the pytest process, on a free port of
127.0.0.1 over a temporary SQLite file. Before each test its data, scheduled faults and
request journal are deleted, which takes about a millisecond. An exception raised inside
the server during a test fails that test.

NOTE: the server's modules are imported under their plain names (``service``, ``models``,
``fixtures``, ``schemas``...). A suite with top-level modules of the same names cannot use
the plugin in-process, so it should start ``python service.py`` as a process instead.
"""

import os
import threading
import time
import traceback
import uuid
from decimal import Decimal

import pytest
from flask import got_request_exception, request
from werkzeug.serving import WSGIRequestHandler, make_server

import admin
import faults
import fixtures
import journal
import models
import values
from service import create_app

ORGANIZATION_ID = "org_plugin"
USER_ID = "user_plugin"
API_KEY = "rt_test_plugin_full_access"

# Step results are stamped from this instant on, a few seconds apart, so that the API's
# default order (createdAt, newest first) lists them in reverse order of creation.
FIRST_CREATED_MS = values.parse_date_time("2024-06-01T10:00:00Z")
CREATED_SPACING_MS = 7_000
ID_NAMESPACE = uuid.UUID("3b0b7c43-70a1-4d46-9f0b-2f1f5b0e6a51")

# (stepType, stepName, modelUsed) of a five-step onboarding flow.
FLOW_STEPS = (
    ("api-call", "Validate Email Address", None),
    ("prompt", "Summarize Customer Profile", "gpt-4o-mini"),
    ("ai-processing", "Classify Support Intent", "claude-3-5-sonnet"),
    ("transform", "Format CRM Update", None),
    ("api-call", "Send Welcome Email", None),
)
AI_STEP_TYPES = ("prompt", "ai-processing")
DEFAULT_MODEL = "gpt-4o-mini"
# USD per million prompt and completion tokens
MODEL_PRICES = {"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")), "claude-3-5-sonnet": (Decimal("3"), Decimal("15"))}
MODEL_ERROR = "Model request timed out after 30000 ms"
UPSTREAM_ERROR = "Upstream API returned 502 Bad Gateway"
CUSTOMERS = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra")
NOT_STARTED = ("pending", "queued")
NOT_FINISHED = ("running", "paused")
SERVER_ERRORS_HEADING = "The Runtype mock raised an exception while serving this test:\n"


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its line per request: the request journal has them."""

    def log_request(self, code="-", size="-"):
        pass


class MockServer:
    """The mock app served by werkzeug in a daemon thread on a free port of 127.0.0.1."""

    def __init__(self, database_path, *, journal_size=journal.DEFAULT_JOURNAL_SIZE):
        self.app = create_app({"DATABASE": str(database_path), "SEED_DEMO": False, "JOURNAL_SIZE": journal_size})
        self._errors = []
        self._errors_lock = threading.Lock()
        got_request_exception.connect(self._record_error, self.app)

        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="runtype-mock", daemon=True
        )

    def start(self):
        self._thread.start()

    def stop(self):
        """Stop serving and wait up to 5 seconds for the thread to end."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record_error(self, sender, exception, **extra):
        text = "".join(traceback.format_exception(exception))
        with self._errors_lock:
            self._errors.append(f"{request.method} {request.full_path.rstrip('?')}\n{text}")

    def take_errors(self):
        """Return the tracebacks of server-side exceptions since the last call, and forget them."""
        with self._errors_lock:
            errors, self._errors = self._errors, []
        return errors


class RuntypeMock:
    """The handle a test gets: where the mock is, a key for it, and its data and faults.

    Every method works on the mock's database directly, within the calling thread.
    """

    def __init__(self, server):
        self._server = server
        self.base_url = server.url
        self.api_key = API_KEY
        self.organization_id = ORGANIZATION_ID
        self.user_id = USER_ID
        self._counters = {}
        self._last_record_id = None

    # -- data --------------------------------------------------------------------------------

    def reset(self):
        """Delete all data, faults and journal entries, then store ``api_key`` again."""
        with models.database.connection_context():
            admin.reset_data()
            key = {"key": API_KEY, "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": ["*"]}
            fixtures.load_fixture({"apiKeys": [key]})
        self._counters = {}
        self._last_record_id = None
        self._server.take_errors()

    def load(self, fixture):
        """Load a fixture, given as a dict or as the path of a JSON file, all or nothing.

        :return: the counts stored, as ``{"apiKeys": n, "records": n, "stepResults": n}``.
        :raise fixtures.FixtureError: naming the first invalid item and field.
        """
        document = fixtures.read_fixture_file(fixture) if isinstance(fixture, (str, os.PathLike)) else fixture
        with models.database.connection_context():
            return admin.load_documents([document])

    def add_record(self, **fields):
        """Store a record of this mock's organization and return it as a fixture item.

        Fields use the fixture's camelCase names (``id``, ``name``, ``type``, ``metadata``,
        ``createdAt``...); the ones not given get realistic values.
        """
        number = self._next("record")
        customer = CUSTOMERS[(number - 1) % len(CUSTOMERS)]
        record = {
            "id": f"record_{number:04d}",
            "name": f"Customer Onboarding - {customer}",
            "type": "customer",
            "organizationId": ORGANIZATION_ID,
            "userId": USER_ID,
            "metadata": {"email": customer.lower().replace(" ", ".") + "@example.com", "plan": "growth"},
            "createdAt": values.format_timestamp(FIRST_CREATED_MS - 86_400_000 + number * 60_000),
        }
        record.update(fields)

        self.load({"records": [record]})
        self._last_record_id = record["id"]
        return record

    def add_step_results(self, record=None, count=None, *, rows=None, **fields):
        """Store step results of one record and return them as fixture items.

        :param record: the record's id or the dict ``add_record`` returned; by default the
            record added last in this test, or a new one.
        :param count: how many rows to add; by default ``len(rows)``, or 1.
        :param rows: per-row fields, one dict per row, applied after ``fields``.
        :param fields: fields given to every row, in the API's camelCase names. Fields not
            given get realistic values that fit the row's ``status`` and ``stepType``.
        """
        rows = list(rows or ())
        count = count if count is not None else max(len(rows), 1)
        if len(rows) > count:
            raise ValueError(f"rows has {len(rows)} items, more than count={count}")

        record_id = self._record_id(record)
        items = []
        for position in range(count):
            given = {**fields, **(rows[position] if position < len(rows) else {})}
            items.append(self._step_result(record_id, position, given))

        self.load({"stepResults": items})
        return items

    # -- faults and journal ------------------------------------------------------------------

    def fail_next(self, status, times=1, *, path="*", method="GET", headers=None, body=None, delay_ms=0):
        """Make the next ``times`` matching API requests fail with ``status``.

        :param path: an exact path or a glob such as ``/v1/records/*/step-results``.
        :param headers: response headers, e.g. ``{"Retry-After": "0"}``.
        :param body: the response body: any JSON value, or a string sent as plain text;
            by default the API's ``{"error": ...}`` body.
        :return: the fault's id.
        """
        return self._schedule(
            {"method": method, "path": path, "status": status, "times": times, "delayMs": delay_ms,
             "headers": headers or {}, "body": body}
        )

    def delay_next(self, ms, times=1, *, path="*", method="GET"):
        """Delay the next ``times`` matching API requests by ``ms`` milliseconds, then serve them normally.

        :return: the fault's id.
        """
        return self._schedule({"method": method, "path": path, "times": times, "delayMs": ms})

    @property
    def faults(self):
        """The scheduled faults that have uses left, in the admin API's JSON shape."""
        with models.database.connection_context():
            return [faults.to_json(fault) for fault in faults.list_faults()]

    @property
    def requests(self):
        """The request journal, oldest first, in the admin API's JSON shape."""
        return self.journal()

    def journal(self, path=None, method=None):
        """Return the journal entries whose path matches ``path`` (exact or glob) and ``method``."""
        with models.database.connection_context():
            return journal.list_entries(path=path, method=method.upper() if method else None)

    def server_errors(self):
        """Return the tracebacks of exceptions the server raised since the last call."""
        return self._server.take_errors()

    def fingerprint(self, key=None):
        """Return the journal's fingerprint of ``key``, by default of ``api_key``."""
        return journal.fingerprint(key if key is not None else self.api_key)

    # -- helpers -----------------------------------------------------------------------------

    def _schedule(self, document):
        fault = faults.validate_fault(document)
        with models.database.connection_context():
            return faults.schedule(fault, int(time.time() * 1000)).id

    def _next(self, kind):
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    def _record_id(self, record):
        if isinstance(record, dict):
            return record["id"]
        if record is not None:
            return record
        if self._last_record_id is None:
            self.add_record()
        return self._last_record_id

    def _step_result(self, record_id, position, given):
        number = self._next("step_result")
        step_type, step_name, model = FLOW_STEPS[position % len(FLOW_STEPS)]
        step_type = given.get("stepType", step_type)
        status = given.get("status", "completed")
        created_ms = FIRST_CREATED_MS + number * CREATED_SPACING_MS

        row = {
            "id": str(uuid.uuid5(ID_NAMESPACE, f"{record_id}/{number}")),
            "batchExecutionId": "batch_20240601_001",
            "executionSessionId": f"session_20240601_{number:06d}",
            "flowId": "flow_onboarding",
            "flowVersionId": "flowver_1.0.0",
            "recordId": record_id,
            "stepId": f"step_{position % len(FLOW_STEPS) + 1:03d}",
            "stepType": step_type,
            "stepName": step_name,
            "order": position + 1,
            "status": status,
            "createdAt": values.format_timestamp(created_ms),
            "inputVariables": {"customerId": f"cus_{number:06d}", "locale": "en-US"},
            "retryCount": 0,
            "executionEngine": "runtime",
        }
        if step_type not in AI_STEP_TYPES:
            model = None
        elif model is None:
            model = DEFAULT_MODEL
        row.update(_timing(status, created_ms, number))
        row.update(_outcome(status, step_name, model, number))
        row.update(given)
        return row


def _timing(status, created_ms, number):
    """Return startedAt, completedAt and durationMs that fit the status."""
    if status in NOT_STARTED:
        return {"startedAt": None, "completedAt": None, "durationMs": None}

    started_ms = created_ms + 40
    if status in NOT_FINISHED:
        return {"startedAt": values.format_timestamp(started_ms), "completedAt": None, "durationMs": None}

    duration_ms = 0 if status == "skipped" else 250 + (number * 137) % 2_400
    return {
        "startedAt": values.format_timestamp(started_ms),
        "completedAt": values.format_timestamp(started_ms + duration_ms),
        "durationMs": duration_ms,
    }


def _outcome(status, step_name, model, number):
    """Return the output, error and model fields that fit the status and step type."""
    outcome = {}
    if status == "completed":
        outcome["outputPreview"] = f'{{"step":"{step_name}","result":"ok"}}'
    elif status == "failed":
        outcome["errorMessage"] = MODEL_ERROR if model else UPSTREAM_ERROR
        outcome["retryCount"] = 2
    elif status == "interrupted":
        outcome["errorMessage"] = "The worker restarted while the step was running"

    if model is not None and status in ("completed", "failed", "running", "paused"):
        prompt_tokens = 300 + (number * 53) % 1_500
        completion_tokens = 40 + (number * 29) % 400 if status == "completed" else 0
        prompt_price, completion_price = MODEL_PRICES[model]
        cost = (prompt_tokens * prompt_price + completion_tokens * completion_price) / Decimal(1_000_000)
        outcome.update(
            modelUsed=model,
            stepConfig={"model": model, "temperature": 0.2},
            resolvedPrompt=f"{step_name}: read the customer's profile below and answer in JSON.",
            promptTokens=prompt_tokens,
            completionTokens=completion_tokens,
            totalTokens=prompt_tokens + completion_tokens,
            estimatedCost=values.format_cost(cost.normalize()),
            cacheReadTokens=0,
            cacheWriteTokens=0,
        )
    return outcome


# -- fixtures and hooks ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runtype_mock_server(tmp_path_factory):
    """Start the session's mock server; most tests use ``runtype_mock`` instead."""
    server = MockServer(tmp_path_factory.mktemp("runtype_mock") / "mock.db")
    server.start()
    yield server
    server.stop()
    models.database.close()


@pytest.fixture
def runtype_mock(runtype_mock_server):
    """Reset the mock for this test and return its handle: no data but ``api_key``, no faults, an empty journal."""
    mock = RuntypeMock(runtype_mock_server)
    mock.reset()
    return mock


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a test that made the mock raise an exception, even if its own checks passed."""
    mock = getattr(item, "funcargs", {}).get("runtype_mock")
    try:
        result = yield
    except BaseException as failure:
        errors = mock.server_errors() if mock is not None else []
        if errors:
            failure.add_note(SERVER_ERRORS_HEADING + "\n".join(errors))
        raise

    errors = mock.server_errors() if mock is not None else []
    if errors:
        pytest.fail(SERVER_ERRORS_HEADING + "\n".join(errors), pytrace=False)
    return result
