"""The command line of the test-fixture features: --ready-file, --port 0, the admin options,
the rule against an open admin API off loopback, and the load and reset commands."""

import re
import time

import pytest
import requests

import admin_cli
import demo
import models
import server
import service
from conftest import base_fixture, make_step_result
from test_command_line import START_TIMEOUT, ServiceProcess, table_count, write_json

TOKEN = "tok-7f3a91c2e4"


def wait_for_file_change(process, path, old_text):
    """Wait until ``path`` exists with text other than ``old_text``, and return that text."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else old_text
        if text != old_text:
            return text
        if process.process.poll() is not None:
            raise AssertionError(f"the server exited with {process.process.returncode}:\n{process.stderr}")
        time.sleep(0.05)
    raise AssertionError(f"no ready file after {START_TIMEOUT} s:\n{process.stderr}")


# -- a served process ------------------------------------------------------------------------


def test_ready_file_and_admin_token(tmp_path):
    ready_file = tmp_path / "ready.txt"
    ready_file.write_text("stale")
    process = ServiceProcess(
        tmp_path, "--port", "0", "--db", str(tmp_path / "mock.db"),
        "--ready-file", str(ready_file), "--admin-token", TOKEN,
    )
    try:
        url = wait_for_file_change(process, ready_file, "stale").strip()

        # the file is written only once the server accepts requests, so no retry is needed
        without_token = requests.get(url + "/_mock/faults", timeout=10)
        with_token = requests.get(url + "/_mock/faults", headers={"X-Mock-Admin-Token": TOKEN}, timeout=10)

        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", url)
        assert url != "http://127.0.0.1:0"
        assert f"Serving on {url}" in process.stdout
        assert without_token.status_code == 401
        assert with_token.status_code == 200
        assert process.stop() == 0
        assert not ready_file.exists()
        assert TOKEN not in process.stdout + process.stderr
    finally:
        process.kill()


# -- the admin safety rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "allowed"),
    [
        ([], True),
        (["--host", "localhost"], True),
        (["--host", "::1"], True),
        (["--host", "0.0.0.0"], False),
        (["--host", "::"], False),
        (["--host", "192.168.1.20"], False),
        (["--host", "0.0.0.0", "--admin-token", TOKEN], True),
        (["--host", "0.0.0.0", "--no-admin"], True),
    ],
)
def test_admin_safety_rule(arguments, allowed):
    problem = admin_cli.check_server_arguments(service.parse_arguments(arguments))

    assert (problem is None) is allowed


def test_open_admin_off_loopback_exits(tmp_path, monkeypatch, caplog):
    def serve(app, arguments):
        raise AssertionError("the server must not start")

    monkeypatch.setattr(server, "serve", serve)

    status = service.main(["--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "mock.db")])

    assert status == 2
    assert "Refusing to listen on 0.0.0.0 with an open admin API" in caplog.text
    assert "--admin-token" in caplog.text


def test_admin_token_from_environment(monkeypatch):
    monkeypatch.setenv(admin_cli.TOKEN_VARIABLE, TOKEN)

    arguments = service.parse_arguments(["--host", "0.0.0.0"])

    assert admin_cli.app_settings(arguments)["ADMIN_TOKEN"] == TOKEN
    assert admin_cli.check_server_arguments(arguments) is None


@pytest.mark.parametrize(
    ("arguments", "setting", "value"),
    [
        ([], "JOURNAL_SIZE", 1000),
        (["--journal-size", "0"], "JOURNAL_SIZE", 0),
        (["--journal-size", "25"], "JOURNAL_SIZE", 25),
        ([], "ADMIN_ENABLED", True),
        (["--no-admin"], "ADMIN_ENABLED", False),
        ([], "ADMIN_TOKEN", None),
    ],
)
def test_server_options_become_settings(monkeypatch, arguments, setting, value):
    monkeypatch.delenv(admin_cli.TOKEN_VARIABLE, raising=False)

    settings = admin_cli.app_settings(service.parse_arguments(arguments))

    assert settings[setting] == value


@pytest.mark.parametrize("value", ["-1", "ten", "1.5"])
def test_journal_size_rejects_bad_values(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        service.parse_arguments(["--journal-size", value])

    assert exit_info.value.code == 2
    assert "expected an integer of 0 or more" in capsys.readouterr().err


def test_ready_file_folder_must_exist(tmp_path):
    arguments = service.parse_arguments(["--ready-file", str(tmp_path / "missing" / "ready.txt")])

    assert "the folder" in admin_cli.check_server_arguments(arguments)


# -- load and reset without serving ----------------------------------------------------------


def test_load_command_loads_files(tmp_path, capsys):
    database = str(tmp_path / "mock.db")
    first = write_json(tmp_path / "keys.json", base_fixture())
    second = write_json(tmp_path / "rows.json", {"stepResults": [make_step_result(index) for index in range(3)]})

    status = service.main(["load", first, second, "--db", database])

    assert status == 0
    assert capsys.readouterr().out == f"Loaded into {database}: 4 API keys, 2 records, 3 step results\n"
    assert table_count(database, "step_result") == 3


def test_load_command_is_all_or_nothing(tmp_path, capsys):
    database = str(tmp_path / "mock.db")
    good = write_json(tmp_path / "keys.json", base_fixture())
    bad = write_json(tmp_path / "bad.json", {"stepResults": [make_step_result(0, status="done")]})

    status = service.main(["load", good, bad, "--db", database])

    assert status == 2
    assert f"Nothing was loaded: {bad}: stepResults[0].status" in capsys.readouterr().err
    assert table_count(database, "api_key") == 0


def test_load_command_needs_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        service.main(["load", "--db", str(tmp_path / "mock.db")])

    assert exit_info.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_reset_command_empties_database(tmp_path, capsys):
    database = str(tmp_path / "mock.db")
    service.main(["load", write_json(tmp_path / "keys.json", base_fixture()), "--db", database])

    status = service.main(["reset", "--db", database])

    assert status == 0
    assert capsys.readouterr().out.endswith(f"Reset {database}\n")
    assert [table_count(database, table) for table in ("api_key", "record", "step_result")] == [0, 0, 0]


def test_reset_command_seeds_demo(tmp_path):
    database = str(tmp_path / "mock.db")

    status = service.main(["reset", "--demo", "--db", database])

    assert status == 0
    with models.database.connection_context():
        assert models.find_api_key(demo.DEMO_API_KEY) is not None
