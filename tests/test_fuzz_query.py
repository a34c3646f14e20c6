"""Property-based tests of query parsing: any query string gives 200 or 400, never a 5xx.

The app runs in TESTING mode, so an exception in a view fails the test with its traceback
instead of turning into a 500.
"""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from conftest import AUTH, RECORD_ID, make_step_result

PATH = f"/v1/records/{RECORD_ID}/step-results"

# The fixtures are only read, so sharing them across examples is safe.
FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Values near the accepted ones find more edge cases than random text alone.
NEAR_VALID_VALUES = st.sampled_from(
    [
        *schemas.STEP_STATUSES, *schemas.SORT_KEYS, "ASC", "Desc", "0", "1", "100", "101", "-1", "+5", "05",
        "1e3", "１０", "9" * 30, str(schemas.MAX_OFFSET), str(schemas.MAX_OFFSET + 1), "2024-06-01",
        "2024-06-01T10:15:30Z", "2024-06-01T10:15:30.123+02:00", "2024-02-30", "0000-01-01", "9999-12-31T23:59:59Z",
        "2024-06-01T24:00:00Z", "completed,failed", "completed,,failed", ",", " completed ", "%", "%00", "\x00",
    ]
)
VALUES = st.one_of(NEAR_VALID_VALUES, st.text(max_size=40))
NAMES = st.one_of(st.sampled_from(schemas.QUERY_PARAMETERS), st.text(max_size=10))
PAIRS = st.lists(st.tuples(NAMES, VALUES), max_size=8)


@pytest.fixture
def reader(seeded, load, client):
    load({"stepResults": [make_step_result(index, status=schemas.STEP_STATUSES[index % 9]) for index in range(15)]})
    return client


def send_raw_query(client, raw):
    # A WSGI server hands the query bytes to the app as a latin-1 string, unparsed.
    return client.get(PATH, headers=AUTH, environ_overrides={"QUERY_STRING": raw.decode("latin-1")})


def check_response(response):
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.is_json, response.content_type

    body = response.get_json()
    if response.status_code == 400:
        assert isinstance(body["error"], str) and body["error"]
    else:
        assert body["pagination"]["returned"] == len(body["data"])
        assert len(body["data"]) <= body["pagination"]["limit"]


@FUZZ_SETTINGS
@given(pairs=PAIRS)
def test_query_pairs_never_fail(reader, pairs):
    check_response(reader.get(PATH, query_string=urlencode(pairs), headers=AUTH))


@FUZZ_SETTINGS
@given(raw=st.binary(max_size=120))
def test_raw_query_bytes_never_fail(reader, raw):
    check_response(send_raw_query(reader, raw))


@FUZZ_SETTINGS
@given(raw=st.text(alphabet=st.sampled_from("=&%,;+?#/ abcfmorstu0123456789ABCDEF-:TZ."), max_size=80))
def test_raw_query_text_never_fail(reader, raw):
    check_response(send_raw_query(reader, raw.encode()))


def test_raw_byte_in_query_is_400(reader):
    """A raw byte that is not UTF-8 in the query string was a 500, because werkzeug decodes
    the query string strictly. gunicorn and werkzeug's own server never pass such bytes on,
    but a WSGI server that does must get a 400 too."""
    response = send_raw_query(reader, b"limit=1\xff")

    assert response.status_code == 400
    assert "not UTF-8" in response.get_json()["error"]
