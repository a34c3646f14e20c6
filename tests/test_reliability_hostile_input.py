"""Hostile input to the real server (gunicorn as ``python service.py`` runs it) and to the
fixture loader: long, malformed and binary request lines and headers, fuzzed query strings,
paths, header values and fixture documents. Never a 5xx, never a hang, every error is JSON,
and the server still serves a normal request afterwards.
"""

import json
import socket
import time
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fixtures
import models
from conftest import API_KEY, RECORD_ID, base_fixture, make_step_result
from reliability_support import (
    ServerProcess,
    dump_rows,
    fixture_with_steps,
    raw_get,
    record_figures,
    run_service,
    write_json,
)
from service import create_app

AUTHORIZATION = f"Authorization: Bearer {API_KEY}\r\n".encode()
STEP_RESULTS = f"/v1/records/{RECORD_ID}/step-results".encode()
# Bounded so that the fuzz tests together send about 1,000 requests in a few seconds.
FUZZ_EXAMPLES = 150
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

tally = {"requests": 0, "bad_inputs": 0, "server_errors": 0}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    fixture_path = write_json(folder / "rows.json", fixture_with_steps(30))
    process = ServerProcess(folder, folder / "mock.db", "--fixture", str(fixture_path))
    process.start()
    yield process
    process.close()
    record_figures("hostile input: raw requests and fuzzed queries, paths, headers", clients=1, **tally)


def send_bad(server, target, headers=b"", method=b"GET"):
    """Send one hostile request, count it and return the response."""
    tally["requests"] += 1
    tally["bad_inputs"] += 1
    response = raw_get(server.url, target, headers, method)
    if response.status >= 500:
        tally["server_errors"] += 1
    return response


def assert_still_answers(server):
    tally["requests"] += 1
    response = raw_get(server.url, STEP_RESULTS, AUTHORIZATION)
    assert response.status == 200


def assert_sane(response):
    """Check that the response is no 5xx and has a JSON body, with a message when it is an error."""
    assert response.status < 500
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    if response.status >= 400:
        assert isinstance(body["error"], str)


# (target, extra header bytes, method, expected status)
HOSTILE_REQUESTS = {
    "long_query_accepted": (STEP_RESULTS + b"?flowId=" + b"a" * 3500, AUTHORIZATION, b"GET", 200),
    "query_over_line_limit": (STEP_RESULTS + b"?flowId=" + b"a" * 10_000, AUTHORIZATION, b"GET", 414),
    "long_record_id": (b"/v1/records/" + b"x" * 3900 + b"/step-results", AUTHORIZATION, b"GET", 404),
    "path_over_line_limit": (b"/v1/records/" + b"x" * 9000 + b"/step-results", AUTHORIZATION, b"GET", 414),
    "many_unknown_parameters": (STEP_RESULTS + b"?" + b"&".join(b"p%d=1" % i for i in range(400)), AUTHORIZATION, b"GET", 200),
    "repeated_status": (STEP_RESULTS + b"?" + b"&".join([b"status=failed"] * 250), AUTHORIZATION, b"GET", 200),
    "invalid_escape_in_path": (b"/v1/records/%zz%/step-results", AUTHORIZATION, b"GET", 404),
    "invalid_utf8_in_path": (b"/v1/records/%C3%28%FF/step-results", AUTHORIZATION, b"GET", 404),
    "escaped_nul_in_path": (b"/v1/records/%00/step-results", AUTHORIZATION, b"GET", 404),
    "encoded_slash_in_path": (b"/v1/records/a%2F..%2F..%2Fb/step-results", AUTHORIZATION, b"GET", 404),
    "dot_segments": (b"/v1/records/../../etc/passwd/step-results", AUTHORIZATION, b"GET", 404),
    "invalid_utf8_in_query": (STEP_RESULTS + b"?flowId=%C3%28&batchId=%FF", AUTHORIZATION, b"GET", 200),
    "escaped_nul_in_query": (STEP_RESULTS + b"?flowId=%00", AUTHORIZATION, b"GET", 200),
    "invalid_escape_as_limit": (STEP_RESULTS + b"?limit=%zz", AUTHORIZATION, b"GET", 400),
    "invalid_utf8_as_limit": (STEP_RESULTS + b"?limit=%FF", AUTHORIZATION, b"GET", 400),
    "nul_as_sort": (STEP_RESULTS + b"?sortBy=%00", AUTHORIZATION, b"GET", 400),
    "nested_brackets_in_query": (STEP_RESULTS + b"?flowId=" + b"%5B" * 1000, AUTHORIZATION, b"GET", 200),
    "raw_nul_in_path": (b"/v1/records/a\x00b/step-results", AUTHORIZATION, b"GET", 400),
    "raw_utf8_in_path": ("/v1/records/é/step-results".encode(), AUTHORIZATION, b"GET", 400),
    "raw_space_in_query": (STEP_RESULTS + b"?flowId=a b", AUTHORIZATION, b"GET", 400),
    "asterisk_target": (b"*", AUTHORIZATION, b"GET", 400),
    "absolute_target": (b"http://127.0.0.1" + STEP_RESULTS, AUTHORIZATION, b"GET", 200),
    "control_char_in_header": (STEP_RESULTS, AUTHORIZATION + b"X-Note: a\x01b\r\n", b"GET", 400),
    "delete_char_in_header": (STEP_RESULTS, AUTHORIZATION + b"X-Note: a\x7fb\r\n", b"GET", 400),
    "nul_in_authorization": (STEP_RESULTS, b"Authorization: Bearer test\x00key\r\n", b"GET", 400),
    "latin1_in_authorization": (STEP_RESULTS, b"Authorization: Bearer k\xe9y\r\n", b"GET", 401),
    "utf8_in_authorization": (STEP_RESULTS, "Authorization: Bearer ключ\r\n".encode(), b"GET", 401),
    "header_line_without_colon": (STEP_RESULTS, b"Authorization Bearer test-key-read\r\n", b"GET", 400),
    "long_authorization": (STEP_RESULTS, b"Authorization: Bearer " + b"k" * 8000 + b"\r\n", b"GET", 401),
    "header_over_size_limit": (STEP_RESULTS, AUTHORIZATION + b"X-Note: " + b"a" * 9000 + b"\r\n", b"GET", 431),
    "too_many_headers": (STEP_RESULTS, AUTHORIZATION + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)), b"GET", 431),
    "invalid_content_length": (STEP_RESULTS, AUTHORIZATION + b"Content-Length: abc\r\n", b"GET", 400),
    "unknown_transfer_coding": (STEP_RESULTS, AUTHORIZATION + b"Transfer-Encoding: gzip\r\n", b"GET", 400),
    "unknown_method": (STEP_RESULTS, AUTHORIZATION, b"BREW", 405),
}


@pytest.mark.parametrize("target, headers, method, status", HOSTILE_REQUESTS.values(), ids=HOSTILE_REQUESTS.keys())
def test_hostile_request_answered(server, target, headers, method, status):
    response = send_bad(server, target, headers, method)

    assert response.status == status
    assert_sane(response)
    assert_still_answers(server)


def test_binary_garbage_answered(server):
    response = send_bad(server, b"\x16\x03\x01\x02\x00\x01", b"\xfc\x03\x03garbage\r\n", b"\x00")

    assert response.status == 400
    assert_sane(response)
    assert_still_answers(server)


def test_few_idle_connections_do_not_block(server):
    # Gunicorn 27 gives a connection that sends nothing a thread for up to 5 s before it
    # parks it. Four such connections leave four of the eight threads free.
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        started = time.monotonic()
        assert_still_answers(server)
        assert time.monotonic() - started < 2
    finally:
        for connection in idle:
            connection.close()


# -- fuzzing -----------------------------------------------------------------------------------

PARAMETER_NAMES = ["flowId", "batchId", "status", "from", "to", "sortBy", "sortOrder", "limit", "offset"]
# Names starting with "__" are left out, because "__code" requests a forced status on purpose.
parameter_names = st.sampled_from(PARAMETER_NAMES) | st.text(max_size=12).filter(lambda name: not name.startswith("__"))
escape_soup = st.text(alphabet="%0123456789ABCDEFabcdefGz&=+;,/.~-_", max_size=40)


@st.composite
def query_strings(draw):
    """Either encoded pairs of any Unicode text, or raw text full of broken percent-escapes."""
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(parameter_names, st.text(max_size=40)), max_size=6))
        query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
        return query.encode("ascii")
    return draw(escape_soup).encode("ascii")


@st.composite
def record_paths(draw):
    """Step-result paths whose record id is encoded Unicode, broken escapes or raw bytes."""
    kind = draw(st.sampled_from(["encoded", "escapes", "bytes"]))
    if kind == "encoded":
        segment = quote(draw(st.text(min_size=1, max_size=60)), safe="").encode("ascii")
    elif kind == "escapes":
        segment = draw(escape_soup.filter(bool)).encode("ascii")
    else:
        segment = draw(st.binary(min_size=1, max_size=40).filter(lambda raw: b"\r" not in raw and b"\n" not in raw))
    return b"/v1/records/" + segment + b"/step-results"


HEADER_NAMES = [
    "Authorization", "X-Fuzz", "Accept", "Origin", "User-Agent", "Cookie", "If-None-Match",
    "Access-Control-Request-Headers", "Accept-Language", "Referer",
]
# Bytes of a header value; CR and LF are left out because they end the header line.
header_bytes = st.binary(max_size=120).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))


@FUZZ_SETTINGS
@given(query=query_strings())
def test_fuzzed_query_answered(server, query):
    response = send_bad(server, STEP_RESULTS + b"?" + query, AUTHORIZATION)

    assert_sane(response)
    assert_still_answers(server)


@FUZZ_SETTINGS
@given(path=record_paths())
def test_fuzzed_path_answered(server, path):
    response = send_bad(server, path, AUTHORIZATION)

    assert response.status < 500
    if response.status != 400:
        # gunicorn rejects raw bytes outside the URI syntax itself, with a JSON 400 as well
        assert_sane(response)
    assert_still_answers(server)


@FUZZ_SETTINGS
@given(
    name=st.sampled_from(HEADER_NAMES),
    prefix=st.sampled_from([b"", b"Bearer ", b"bearer  ", b"Basic "]),
    value=header_bytes,
)
def test_fuzzed_header_answered(server, name, prefix, value):
    headers = AUTHORIZATION if name != "Authorization" else b""
    response = send_bad(server, STEP_RESULTS, headers + name.encode() + b": " + prefix + value + b"\r\n")

    assert_sane(response)
    assert_still_answers(server)


# -- fixture documents -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
timestamps = st.sampled_from(["2024-06-01T10:00:00Z", "2024-06-01T10:00:00.5+02:00", "2024-06-01", "yesterday", ""])
plausible_values = {
    "id": st.sampled_from(["step_result_00001", "fuzz_1", "fuzz_2", ""]),
    "recordId": st.sampled_from([RECORD_ID, "record_other_org", "record_missing"]),
    "organizationId": st.sampled_from(["org_test", "org_other", None]),
    "userId": st.sampled_from(["user_test", None, 7]),
    "stepType": st.sampled_from(["prompt", "api-call", ""]),
    "stepName": st.text(max_size=10),
    "status": st.sampled_from(["completed", "failed", "done", None]),
    "createdAt": timestamps,
    "startedAt": timestamps,
    "order": st.integers(min_value=-(2**70), max_value=2**70),
    "durationMs": st.integers(min_value=-(2**70), max_value=2**70),
    "estimatedCost": st.sampled_from(["0.00015", "1e-5", "-1", "12.5", 0.5, "NaN"]),
    "totalTokens": st.integers(min_value=-(2**70), max_value=2**70),
    "stepConfig": json_values,
    "executionEngine": st.sampled_from(["runtime", "legacy", "steam", None]),
}


@st.composite
def step_result_items(draw):
    """A step result from the valid row with some fields replaced by odd or random values."""
    item = make_step_result(draw(st.integers(min_value=0, max_value=50)))
    for name in draw(st.lists(st.sampled_from(sorted(plausible_values)), max_size=4, unique=True)):
        item[name] = draw(plausible_values[name] | json_values)
    if draw(st.booleans()):
        item[draw(st.text(max_size=8))] = draw(json_values)
    return item


fixture_documents = st.fixed_dictionaries(
    {},
    optional={
        "apiKeys": st.lists(st.dictionaries(st.sampled_from(["key", "userId", "organizationId", "permissions", "revoked"]), json_values), max_size=2),
        "records": st.lists(st.dictionaries(st.sampled_from(["id", "name", "organizationId", "userId", "metadata", "createdAt"]), json_values), max_size=2),
        "stepResults": st.lists(step_result_items(), max_size=4) | json_values,
        "data": st.lists(step_result_items(), max_size=2),
        "pagination": json_values,
    },
) | json_values


@pytest.fixture(scope="module")
def loader_app(tmp_path_factory):
    database_path = tmp_path_factory.mktemp("loader") / "mock.db"
    app = create_app({"DATABASE": database_path, "SEED_DEMO": False, "TESTING": False})
    with models.database.connection_context():
        fixtures.load_fixture(fixture_with_steps(5))
    yield app, database_path
    models.database.close()
    record_figures("hostile input: fuzzed fixture documents to the loader", **loader_tally)


loader_tally = {"bad_inputs": 0, "accepted": 0, "server_errors": 0, "rows_lost": 0}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=fixture_documents)
def test_fuzzed_fixture_all_or_nothing(loader_app, document):
    app, database_path = loader_app
    before = dump_rows(database_path)
    loader_tally["bad_inputs"] += 1

    try:
        with models.database.connection_context():
            fixtures.load_fixture(document)
        stored = True
    except fixtures.FixtureError:
        stored = False

    response = app.test_client().get(
        STEP_RESULTS.decode() + "?limit=100", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    if response.status_code >= 500:
        loader_tally["server_errors"] += 1
    assert response.status_code == 200
    if stored:
        loader_tally["accepted"] += 1
    else:
        after = dump_rows(database_path)
        loader_tally["rows_lost"] += sum(len(set(rows) - set(after[table])) for table, rows in before.items())
        assert after == before


# -- admin request bodies ----------------------------------------------------------------------

ADMIN_BODIES = {
    "syntax_error": (b'{"records": [1, 2,}', "at line 1, column 19"),
    "syntax_error_line_3": (b'{\n  "records": [\n    {"id": }\n  ]\n}', "at line 3, column 12"),
    "not_utf8": (b'{"records": ["\xff"]}', "not UTF-8 text"),
    "nested_too_deep_to_parse": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to parse"),
    "nested_over_limit": (b'{"records": [{"metadata": ' + b"[" * 500 + b"]" * 500 + b"}]}", "nested more than 100 levels"),
    "nan": (b'{"records": [{"metadata": NaN}]}', "NaN is not a JSON value"),
    "infinite_number": (b'{"records": [{"metadata": 1e999}]}', "too large for a 64-bit float"),
    "huge_integer": (b'{"records": [{"metadata": ' + b"9" * 5000 + b"}]}", "more than 4,300 digits"),
    "unpaired_surrogate": (b'{"records": [{"id": "\\ud800", "organizationId": "o", "userId": "u"}]}', "unpaired surrogate"),
    "nul_in_key": (b'{"records": [{"i\\u0000d": "x"}]}', "records[0].id: missing required field"),
}


@pytest.mark.parametrize("body, message", ADMIN_BODIES.values(), ids=ADMIN_BODIES.keys())
def test_bad_admin_body_is_400(server, body, message):
    tally["requests"] += 1
    tally["bad_inputs"] += 1
    response = requests.post(f"{server.url}/_mock/fixtures", data=body, headers={"Content-Type": "application/json"}, timeout=30)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert_still_answers(server)


def megabytes(count):
    for _ in range(count):
        yield b" " * 1024 * 1024


@pytest.mark.parametrize("body", [
    pytest.param(lambda: b" " * (33 * 1024 * 1024), id="content_length"),
    pytest.param(lambda: megabytes(40), id="chunked"),
])
def test_big_admin_body_is_413(server, body):
    tally["requests"] += 1
    tally["bad_inputs"] += 1
    response = requests.post(f"{server.url}/_mock/fixtures", data=body(), headers={"Content-Type": "application/json"}, timeout=60)

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert "the limit is 33554432 bytes" in response.json()["error"]
    assert_still_answers(server)


def test_chunked_body_at_limit_accepted(server):
    limit = 32 * 1024 * 1024
    chunks = iter([b"{}", b" " * (limit - 2)])

    response = requests.post(f"{server.url}/_mock/fixtures", data=chunks, headers={"Content-Type": "application/json"}, timeout=60)

    assert response.status_code == 201


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=fixture_documents)
def test_fuzzed_admin_fixture_answered(server, document):
    tally["requests"] += 1
    tally["bad_inputs"] += 1
    response = requests.post(
        f"{server.url}/_mock/fixtures", data=json.dumps(document), headers={"Content-Type": "application/json"}, timeout=30
    )

    if response.status_code >= 500:
        tally["server_errors"] += 1
    assert response.status_code in (201, 400)
    assert response.headers["Content-Type"] == "application/json"
    assert_still_answers(server)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300) | st.text(alphabet='{}[]":,0123456789.eE+-ntrufalsNI\\u ', max_size=80).map(str.encode))
def test_fuzzed_admin_bytes_answered(server, body):
    tally["requests"] += 1
    tally["bad_inputs"] += 1
    response = requests.post(f"{server.url}/_mock/fixtures", data=body, headers={"Content-Type": "application/json"}, timeout=30)

    if response.status_code >= 500:
        tally["server_errors"] += 1
    assert response.status_code in (201, 400)
    assert_still_answers(server)


# -- deep nesting ------------------------------------------------------------------------------


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [150, 5_000, 100_000])
def test_deep_fixture_file_rejected(load, tmp_path, depth):
    path = tmp_path / "deep.json"
    path.write_text('{"records": [{"id": "r", "organizationId": "o", "userId": "u", "metadata": ' + "[" * depth + "]" * depth + "}]}")

    with pytest.raises(fixtures.FixtureError) as error:
        load(fixtures.read_fixture_file(path))

    assert "nested" in str(error.value)


def test_deep_fixture_names_field(seeded):
    document = {"stepResults": [make_step_result(0, stepConfig=nested(500))]}

    with pytest.raises(fixtures.FixtureError) as error:
        seeded(document)

    assert str(error.value).startswith("stepResults[0].stepConfig: JSON nested more than 100 levels")


def test_fixture_at_depth_limit_served(seeded, client):
    # the document, stepResults, the item and stepConfig take four of the 100 levels
    seeded({"stepResults": [make_step_result(0, stepConfig=nested(96))]})

    response = client.get(STEP_RESULTS.decode(), headers={"Authorization": f"Bearer {API_KEY}"})

    assert response.status_code == 200
    assert response.json["data"][0]["stepConfig"] == nested(96)


@pytest.mark.parametrize("text, message", [
    pytest.param('{"stepResults": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply", id="deep"),
    pytest.param('{"records": [{"id": "\\ud800", "organizationId": "o", "userId": "u"}]}', "unpaired surrogate", id="surrogate"),
    pytest.param('{"records": [{"metadata": ' + "7" * 5000 + "}]}", "4,300 digits", id="huge_integer"),
])
def test_bad_fixture_file_exits_2(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)

    finished = run_service("--db", str(tmp_path / "mock.db"), "--port", "0", "--fixture", str(path))

    assert finished.returncode == 2
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize("record_id, encoded", [("a/", "a%2F"), ("a//b", "a%2F%2Fb"), ("x/step-results", "x%2Fstep-results")])
def test_slash_ids_not_redirected(seeded, client, record_id, encoded):
    seeded({"records": [{"id": record_id, "organizationId": "org_test", "userId": "user_test"}],
            "stepResults": [make_step_result(0, recordId=record_id)]})

    response = client.get(f"/v1/records/{encoded}/step-results", headers={"Authorization": f"Bearer {API_KEY}"})

    assert response.status_code == 200
    assert response.json["data"][0]["recordId"] == record_id


def test_leading_slash_id_is_json_404(seeded, client):
    response = client.get("/v1/records/%2F0/step-results", headers={"Authorization": f"Bearer {API_KEY}"})

    assert response.status_code == 404
    assert response.is_json
