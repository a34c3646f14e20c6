"""Crash safety: a fixture load killed with SIGKILL part-way leaves the database exactly as
it was, and committed rows survive a kill and a restart."""

import json
import signal

import requests

import fixtures
import models
from conftest import AUTH, RECORD_ID
from reliability_support import (
    ServerProcess,
    TerminalProcess,
    dump_rows,
    file_size,
    fixture_with_steps,
    integrity_check,
    record_figures,
    wait_for,
    write_json,
)

BIG_LOAD_ROWS = 20_000
# The load writes its first chunks to the WAL file within about a second; killing the
# process once the file has grown past this size kills it inside the transaction.
WAL_BYTES_MID_LOAD = 1_000_000


def prepare_database(path, document):
    models.init_database(path)
    with models.database.connection_context():
        fixtures.load_fixture(document)
    models.database.close()


def big_fixture():
    """20,000 step results; the first ten replace stored rows with other names."""
    document = fixture_with_steps(BIG_LOAD_ROWS)
    for row in document["stepResults"][:10]:
        row["stepName"] = "Replaced by the killed load"
    document["apiKeys"].append({"key": "key-of-the-killed-load", "userId": "u", "organizationId": "o"})
    return document


def kill_during_load(folder, database_path, fixture_path):
    """Start the server with ``--fixture`` and SIGKILL it inside the load's transaction.

    :return: whether it was still loading when killed: the WAL had grown and it served nothing.
    """
    server = ServerProcess(folder, database_path, "--fixture", str(fixture_path))
    server.start_process()
    try:
        grown = wait_for(lambda: file_size(f"{database_path}-wal") > WAL_BYTES_MID_LOAD, timeout=60)
        still_loading = server.process.poll() is None and "Serving on" not in server.stdout()
        server.stop(signal.SIGKILL)
    finally:
        server.close()
    return bool(grown) and still_loading


def rows_after_restart(folder, database_path):
    """Start the server over ``database_path`` and return the first 100 rows of the record."""
    server = ServerProcess(folder, database_path)
    try:
        server.start()
        return requests.get(f"{server.url}/v1/records/{RECORD_ID}/step-results?limit=100", headers=AUTH, timeout=10)
    finally:
        server.close()


def rows_lost(before, after):
    return sum(len(set(rows) - set(after[table])) for table, rows in before.items())


def test_killed_load_leaves_database_unchanged(tmp_path):
    database_path = tmp_path / "mock.db"
    prepare_database(database_path, fixture_with_steps(10))
    before = dump_rows(database_path)
    fixture_path = write_json(tmp_path / "big.json", big_fixture())

    killed_mid_load = kill_during_load(tmp_path, database_path, fixture_path)

    after = dump_rows(database_path)
    record_figures("crash: SIGKILL during a 20,000-row load", faults=1, rows_lost=rows_lost(before, after))
    assert killed_mid_load
    assert after == before
    assert integrity_check(database_path) == "ok"


def test_killed_streamed_load_leaves_database_unchanged(tmp_path):
    # 'python service.py load' streams a JSON Lines file in one transaction with a large
    # page cache, so the WAL stays small. Its progress display on a terminal tells when
    # the load is part-way.
    database_path = tmp_path / "mock.db"
    prepare_database(database_path, fixture_with_steps(10))
    before = dump_rows(database_path)
    fixture_path = tmp_path / "big.jsonl"
    fixture_path.write_text("\n".join(json.dumps({"stepResults": row}) for row in big_fixture()["stepResults"]))

    loader = TerminalProcess("load", "--db", str(database_path), str(fixture_path))
    try:
        progress = loader.wait_for_output(r"([0-9,]+) rows,", timeout=60)
        loader.process.kill()
    finally:
        loader.close()

    after = dump_rows(database_path)
    record_figures(
        "crash: SIGKILL during a 20,000-row streamed command-line load", faults=1, rows_lost=rows_lost(before, after)
    )
    assert progress is not None
    assert int(progress.group(1).replace(",", "")) < BIG_LOAD_ROWS
    assert after == before
    assert integrity_check(database_path) == "ok"


def test_database_opens_after_killed_load(tmp_path):
    database_path = tmp_path / "mock.db"
    prepare_database(database_path, fixture_with_steps(10))
    kill_during_load(tmp_path, database_path, write_json(tmp_path / "big.json", big_fixture()))

    response = rows_after_restart(tmp_path, database_path)

    assert response.status_code == 200
    assert response.json()["pagination"]["returned"] == 10


def test_committed_rows_survive_kill(tmp_path):
    database_path = tmp_path / "mock.db"
    fixture_path = write_json(tmp_path / "rows.json", fixture_with_steps(25))
    first = ServerProcess(tmp_path, database_path, "--fixture", str(fixture_path))
    try:
        first.start()
        first.stop(signal.SIGKILL)
    finally:
        first.close()

    response = rows_after_restart(tmp_path, database_path)

    returned = response.json()["pagination"]["returned"]
    record_figures("crash: SIGKILL after a committed load, then restart", faults=1, rows_lost=25 - returned)
    assert response.status_code == 200
    assert returned == 25
