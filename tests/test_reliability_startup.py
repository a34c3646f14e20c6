"""Start-up over a bad --db and the schema version.

A bad database path gets a clear error naming the path and exit code 2, never a traceback.
An older schema version is migrated, and a newer one is rejected.
"""

import os
import sqlite3

import pytest

import fixtures
import models
from reliability_support import dump_rows, fixture_with_steps, record_figures, run_service, write_json


def make_text_file(path):
    path.write_text("these are notes, not a database\n" * 20)
    return path


def make_foreign_database(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
    connection.commit()
    connection.close()
    return path


def make_newer_database(path):
    models.init_database(path)
    set_stored_version(path, models.SCHEMA_VERSION + 1)
    return path


def make_unreadable_file(path):
    path.write_bytes(b"")
    path.chmod(0)
    return path


def set_stored_version(path, version):
    connection = sqlite3.connect(path)
    connection.execute("UPDATE schema_version SET version = ?", (version,))
    connection.commit()
    connection.close()


def stored_version(path):
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT version FROM schema_version").fetchall()
    finally:
        connection.close()


BAD_DATABASES = [
    pytest.param(make_text_file, "not a database", id="not_sqlite"),
    pytest.param(lambda path: path.parent / "missing" / "mock.db", "does not exist", id="missing_folder"),
    pytest.param(lambda path: path.parent, "is a folder", id="folder"),
    pytest.param(make_foreign_database, "not a database of this mock", id="foreign_tables"),
    pytest.param(make_newer_database, f"schema version {models.SCHEMA_VERSION + 1} is newer", id="newer_schema"),
    pytest.param(
        make_unreadable_file, "permission denied", id="unreadable",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads files of any mode"),
    ),
]


@pytest.mark.parametrize("make, reason", BAD_DATABASES)
def test_bad_database_rejected_at_start(tmp_path, make, reason):
    path = make(tmp_path / "mock.db")

    finished = run_service("--db", str(path), "--port", "0")

    record_figures("startup: a bad --db", bad_inputs=1, tracebacks=int("Traceback" in finished.stderr))
    assert finished.returncode == 2
    assert str(path) in finished.stderr
    assert reason in finished.stderr
    assert "Traceback" not in finished.stderr
    assert "Serving on" not in finished.stdout


def test_bad_database_left_unchanged(tmp_path):
    path = make_foreign_database(tmp_path / "foreign.db")
    before = path.read_bytes()

    run_service("--db", str(path), "--port", "0")

    assert path.read_bytes() == before


def test_new_database_gets_version(database_path):
    models.init_database(database_path)

    assert stored_version(database_path) == [(models.SCHEMA_VERSION,)]


def test_unversioned_database_migrated(database_path):
    # A database of schema version 0: the tables and rows of version 1, no schema_version.
    models.init_database(database_path)
    with models.database.connection_context():
        fixtures.load_fixture(fixture_with_steps(3))
    models.database.close()
    connection = sqlite3.connect(database_path)
    connection.execute("DROP TABLE schema_version")
    connection.commit()
    connection.close()
    rows_before = dump_rows(database_path)

    models.init_database(database_path)

    assert stored_version(database_path) == [(models.SCHEMA_VERSION,)]
    assert dump_rows(database_path) == rows_before


def test_migration_for_every_older_version():
    assert sorted(models.MIGRATIONS) == list(range(models.SCHEMA_VERSION))


def test_newer_version_names_both(database_path):
    make_newer_database(database_path)

    with pytest.raises(models.DatabaseOpenError) as error:
        models.init_database(database_path)

    assert str(database_path) in str(error.value)
    assert f"version {models.SCHEMA_VERSION + 1}" in str(error.value)
    assert f"version {models.SCHEMA_VERSION}," in str(error.value)


def test_fixture_file_error_exits_2(tmp_path):
    fixture = write_json(tmp_path / "bad.json", {"stepResults": [{"id": "x"}]})

    finished = run_service("--db", str(tmp_path / "mock.db"), "--port", "0", "--fixture", str(fixture))

    assert finished.returncode == 2
    assert "stepResults[0]" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_database_in_wal_mode(database_path):
    models.init_database(database_path)

    connection = sqlite3.connect(database_path)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()
