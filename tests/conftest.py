"""Shared fixtures: an app over a temporary SQLite file, a loader for fixture dicts, row
factories and a live server on a free port of 127.0.0.1."""

import threading

import pytest
from werkzeug.serving import make_server

import fixtures
import models
from service import create_app

API_KEY = "test-key-read"
NO_READ_KEY = "test-key-no-read"
REVOKED_KEY = "test-key-revoked"
OTHER_ORG_KEY = "test-key-other-org"
ORGANIZATION_ID = "org_test"
OTHER_ORGANIZATION_ID = "org_other"
USER_ID = "user_test"
RECORD_ID = "record_test"
OTHER_RECORD_ID = "record_other_org"

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def base_fixture():
    """API keys of every kind, one record in the test organization and one outside it."""
    return {
        "apiKeys": [
            {"key": API_KEY, "userId": USER_ID, "organizationId": ORGANIZATION_ID},
            {"key": NO_READ_KEY, "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": ["flows:read"]},
            {"key": REVOKED_KEY, "userId": USER_ID, "organizationId": ORGANIZATION_ID, "revoked": True},
            {"key": OTHER_ORG_KEY, "userId": "user_other", "organizationId": OTHER_ORGANIZATION_ID, "permissions": ["*"]},
        ],
        "records": [
            {"id": RECORD_ID, "name": "Test record", "type": "customer", "organizationId": ORGANIZATION_ID, "userId": USER_ID},
            {"id": OTHER_RECORD_ID, "name": "Other", "type": "customer", "organizationId": OTHER_ORGANIZATION_ID, "userId": "user_other"},
        ],
    }


def make_step_result(index, **fields):
    """Return a valid step-result fixture item; ``fields`` override the defaults."""
    row = {
        "id": f"step_result_{index:05d}",
        "recordId": RECORD_ID,
        "stepType": "prompt",
        "stepName": f"Step {index}",
        "status": "completed",
        "createdAt": f"2024-06-01T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
    }
    row.update(fields)
    return row


@pytest.fixture
def database_path(tmp_path):
    return tmp_path / "mock.db"


@pytest.fixture
def app(database_path):
    app = create_app({"DATABASE": database_path, "SEED_DEMO": False, "TESTING": True})
    yield app
    models.database.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def load(app):
    """Load a fixture dict into the app's database and return the counts."""

    def load_fixture(document):
        with models.database.connection_context():
            return fixtures.load_fixture(document)

    return load_fixture


@pytest.fixture
def seeded(load):
    """The base fixture: API keys and records, no step results yet."""
    load(base_fixture())
    return load


class LiveServer:
    """The app served by werkzeug in a thread on a free port of 127.0.0.1."""

    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # serve_forever checks for shutdown once per poll interval, 0.5 s by default,
        # which would add that much to every test that uses the server
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self):
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
