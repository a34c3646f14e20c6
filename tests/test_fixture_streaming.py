"""Streamed fixture files: JSON Lines and large JSON files give the same rows and the same
errors as a parsed document, store nothing when an item is invalid, and show progress only
on a terminal."""

import io
import json

import pytest

import fixture_stream
import fixtures
import models
from conftest import AUTH, RECORD_ID, base_fixture, make_step_result

URL = f"/v1/records/{RECORD_ID}/step-results"


def write_json_lines(path, items):
    """Write ``(section, item)`` pairs as JSON Lines; a None section writes the bare item."""
    lines = [json.dumps(item if section is None else {section: item}) for section, item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fixture_lines(step_results=()):
    document = base_fixture()
    items = [("apiKeys", key) for key in document["apiKeys"]]
    items += [("records", record) for record in document["records"]]
    return items + [("stepResults", row) for row in step_results]


def load_file(path):
    with models.database.connection_context():
        return fixtures.load_fixture_file(path)


def load_error(path):
    with pytest.raises(fixtures.FixtureError) as raised:
        load_file(path)
    return str(raised.value)


def step_result_count():
    with models.database.connection_context():
        return models.StepResult.select().count()


@pytest.fixture
def stream_all_json(monkeypatch):
    """Stream every JSON file, however small."""
    monkeypatch.setattr(fixture_stream, "STREAM_FROM_BYTES", 0)


def test_json_lines_loads_sections(app, client, tmp_path):
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines([make_step_result(1), make_step_result(2)]))

    counts = load_file(path)

    assert counts == {"apiKeys": 4, "records": 2, "stepResults": 2}
    assert client.get(URL, headers=AUTH).get_json()["pagination"]["returned"] == 2


def test_json_lines_bare_step_result(app, tmp_path):
    items = fixture_lines() + [(None, make_step_result(1))]
    path = write_json_lines(tmp_path / "rows.ndjson", items)

    assert load_file(path)["stepResults"] == 1


def test_json_lines_captured_row_creates_record(app, client, tmp_path):
    items = fixture_lines() + [
        ("data", make_step_result(1, recordId="record_new", organizationId="org_test", userId="user_test"))
    ]
    path = write_json_lines(tmp_path / "rows.jsonl", items)

    assert load_file(path) == {"apiKeys": 4, "records": 3, "stepResults": 1}


def test_json_lines_skips_blank_lines(app, tmp_path):
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines([make_step_result(1)]))
    path.write_text(path.read_text().replace("\n", "\n\n  \n"), encoding="utf-8")

    assert load_file(path)["stepResults"] == 1


def test_json_lines_same_rows_as_document(app, client, tmp_path):
    rows = [make_step_result(index, estimatedCost="0.0045", stepConfig={"a": [1, 2]}) for index in range(30)]
    document_path = tmp_path / "rows.json"
    document_path.write_text(json.dumps({**base_fixture(), "stepResults": rows}), encoding="utf-8")
    load_file(document_path)
    expected = client.get(URL + "?limit=100", headers=AUTH).get_json()

    load_file(write_json_lines(tmp_path / "rows.jsonl", fixture_lines(rows)))

    assert client.get(URL + "?limit=100", headers=AUTH).get_json() == expected


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"stepResults": {"id": "x"', "line 7: invalid JSON at column 27"),
        ("[1, 2]", "line 7: expected a JSON object"),
        ('{"stepResults": {"id": "x", "recordId": "record_test"}}', "line 7: stepResults.stepType: missing required field"),
        ('{"records": {"id": "r"}}', "line 7: records.organizationId: missing required field"),
        ('{"stepResults": {"amount": NaN}}', "line 7: invalid JSON: NaN is not a JSON value"),
    ],
)
def test_json_lines_error_names_line(app, tmp_path, line, message):
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines())
    path.write_text(path.read_text() + line + "\n", encoding="utf-8")

    assert load_error(path).startswith(f"{path}: {message}")


def test_json_lines_error_names_field(app, tmp_path):
    rows = [make_step_result(1), make_step_result(2, createdAt="yesterday")]
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines(rows))

    assert load_error(path).startswith(f"{path}: line 8: stepResults.createdAt: not an ISO 8601 date-time")


def test_json_lines_invalid_row_stores_nothing(app, tmp_path, monkeypatch):
    # small chunks, so that several are written before the invalid row
    monkeypatch.setattr(fixtures, "CHUNK_SIZE", 3)
    rows = [make_step_result(index) for index in range(20)] + [make_step_result(20, status="done")]
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines(rows))

    load_error(path)

    assert step_result_count() == 0


def test_json_lines_record_must_come_first(app, tmp_path):
    items = [("stepResults", make_step_result(1))] + fixture_lines()
    path = write_json_lines(tmp_path / "rows.jsonl", items)

    assert "line 1: stepResults.recordId: no record 'record_test'" in load_error(path)


def test_streamed_json_sections_in_any_order(app, client, tmp_path, stream_all_json):
    document = {"stepResults": [make_step_result(1), make_step_result(2)], **base_fixture()}
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    assert load_file(path) == {"apiKeys": 4, "records": 2, "stepResults": 2}


def test_streamed_json_with_byte_order_mark(app, tmp_path, stream_all_json):
    path = tmp_path / "rows.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_fixture()).encode())

    assert load_file(path)["records"] == 2


@pytest.mark.parametrize(
    "document, message",
    [
        ([1, 2], "a fixture must be a JSON object"),
        ({"rows": []}, "rows: unknown fixture section"),
        ({"stepResults": {}}, "stepResults: expected a JSON list"),
        ({"stepResults": [make_step_result(1, status="done")]}, "stepResults[0].status: must be one of"),
        ({"stepResults": [{"stepConfig": json.loads("[" * 120 + "]" * 120)}]}, "stepResults[0].stepConfig: JSON nested"),
    ],
)
def test_streamed_json_same_errors(app, tmp_path, stream_all_json, document, message):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    assert load_error(path) == f"{path}: " + _parsed_error(document).removeprefix(f"{path}: ")
    assert message in load_error(path)


def _parsed_error(document):
    """The message of loading ``document`` parsed whole, as small files are."""
    with pytest.raises(fixtures.FixtureError) as raised:
        with models.database.connection_context():
            fixtures.load_fixture(document)
    return str(raised.value)


def test_streamed_json_syntax_error(app, tmp_path, stream_all_json):
    path = tmp_path / "rows.json"
    path.write_text('{"stepResults": [1,}', encoding="utf-8")

    assert load_error(path).startswith(f"{path}: invalid JSON: parse error")


def test_streamed_json_invalid_row_stores_nothing(app, tmp_path, stream_all_json):
    rows = [make_step_result(index) for index in range(10)] + [make_step_result(10, durationMs=-1)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({**base_fixture(), "stepResults": rows}), encoding="utf-8")

    assert "stepResults[10].durationMs" in load_error(path)
    assert step_result_count() == 0


def test_large_json_is_streamed(tmp_path, monkeypatch):
    path = tmp_path / "rows.json"
    path.write_text("{}", encoding="utf-8")
    monkeypatch.setattr(fixture_stream, "STREAM_FROM_BYTES", 2)

    assert fixture_stream.is_streamed(path)


def test_small_json_is_parsed_whole(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("{}", encoding="utf-8")

    assert not fixture_stream.is_streamed(path)


class FakeStream(io.StringIO):
    def __init__(self, terminal):
        super().__init__()
        self.terminal = terminal

    def isatty(self):
        return self.terminal


def advance(progress, rows):
    for _ in range(rows):
        progress.advance()
    progress.close()


def test_progress_shows_rate_on_terminal(monkeypatch):
    monkeypatch.setattr(fixture_stream.Progress, "INTERVAL_SECONDS", 0)
    stream = FakeStream(terminal=True)

    advance(fixture_stream.Progress("Loading rows.jsonl", stream), 2000)

    assert "Loading rows.jsonl: 2,000 rows, " in stream.getvalue()
    assert stream.getvalue().endswith(" rows/s \n")


def test_progress_bar_shows_share_of_file(monkeypatch):
    monkeypatch.setattr(fixture_stream.Progress, "INTERVAL_SECONDS", 0)
    stream = FakeStream(terminal=True)
    progress = fixture_stream.Progress("Loading rows.jsonl", stream, total_bytes=4000)

    for row in range(1, 1001):
        progress.advance(position=row)
    progress.close()

    assert "Loading rows.jsonl: [#####...............]  25% 1,000 rows, " in stream.getvalue()


def test_json_lines_crlf_and_byte_order_mark(app, tmp_path):
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines([make_step_result(1)]))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))

    assert load_file(path)["stepResults"] == 1


def test_json_lines_not_utf8(app, tmp_path):
    path = write_json_lines(tmp_path / "rows.jsonl", fixture_lines())
    path.write_bytes(path.read_bytes() + b'{"stepResults": {"id": "\xff"}}\n')

    assert load_error(path) == f"{path}: the fixture file is not UTF-8 text"


def test_progress_silent_without_terminal():
    stream = FakeStream(terminal=False)

    advance(fixture_stream.Progress("Loading rows.jsonl", stream), 2000)

    assert stream.getvalue() == ""
