"""An app whose database is loaded once per test module, for long tables of tests that
only read: building and loading a database per test took roughly 80 ms on a 2-core
machine.

A module uses it with ``loaded_app = readonly.module_app(documents...)`` and
``from readonly import client``, which replaces conftest's ``client`` there.
"""

import pytest

import models
from fixtures import load_fixture
from service import create_app


def create_loaded_app(directory, *documents):
    """Build an app over a new database in ``directory`` and load ``documents`` into it."""
    app = create_app({"DATABASE": directory / "mock.db", "SEED_DEMO": False, "TESTING": True})

    with models.database.connection_context():
        for document in documents:
            load_fixture(document)
    return app


def module_app(*documents):
    """Return a module-scoped ``loaded_app`` fixture over a database loaded with ``documents``."""

    @pytest.fixture(scope="module")
    def loaded_app(tmp_path_factory):
        app = create_loaded_app(tmp_path_factory.mktemp("loaded"), *documents)
        yield app
        models.database.close()

    return loaded_app


@pytest.fixture
def client(loaded_app):
    """A test client of the module's database, which the module's tests only read."""
    # The models share one database object, and a test that uses conftest's ``app``
    # fixture in between would have pointed it at another file.
    models.init_database(loaded_app.config["DATABASE"])
    return loaded_app.test_client()
