"""The request journal: the recent API requests that tests read back through the admin API.

Entries live in a table of the service's SQLite file, so every worker thread and process of
one server writes to and reads from the same bounded journal. Credentials never reach it:
Authorization and the other secret headers are replaced by a short fingerprint of the key.
"""

import fnmatch
import functools
import hashlib
import logging
from urllib.parse import parse_qsl

from peewee import AutoField, BigIntegerField, FloatField, IntegerField, PeeweeException, TextField

import values
from models import JSONTextField, StateModel, state_database

logger = logging.getLogger("runtype_mock")

DEFAULT_JOURNAL_SIZE = 1000

# Headers whose value is a credential: the journal keeps a fingerprint of it instead.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-mock-admin-token"}
)
# Authorization schemes whose word is kept in front of the fingerprint.
AUTH_SCHEMES = frozenset({"bearer", "basic", "token"})
FINGERPRINT_LENGTH = 8


class JournalEntry(StateModel):
    """One API request and the status of its response."""

    id = AutoField()
    time_ms = BigIntegerField()  # epoch milliseconds, UTC, when the request arrived
    method = TextField()
    path = TextField()
    query_string = TextField()
    # [name, value] pairs in the order received, with secret values already fingerprinted
    headers = JSONTextField()
    status = IntegerField()
    duration_ms = FloatField()
    fault_id = IntegerField(null=True)

    class Meta:
        table_name = "mock_journal"


def fingerprint(key):
    """Return the short fingerprint that stands for ``key`` in the journal, e.g. ``sha256:1f0c3a9e``.

    It is the start of the key's SHA-256 hex digest, the same digest the database stores for
    API keys, so a test can compute it from the key it sent.
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


def redact_header(name, value):
    """Return ``value`` with its credential replaced by a fingerprint when ``name`` is secret.

    ``Authorization: Bearer <key>`` becomes ``Bearer sha256:...``: the scheme word stays, so a
    test can still tell which form the client sent.
    """
    if name.lower() not in SECRET_HEADERS:
        return value

    scheme, _, credential = value.strip().partition(" ")
    if credential and scheme.lower() in AUTH_SCHEMES:
        return f"{scheme} {fingerprint(credential.strip())}"
    return fingerprint(value.strip())


def record(*, method, path, query_string, headers, status, started_at, duration_ms, fault_id, size):
    """Append one request to the journal and drop the oldest entries beyond ``size``.

    A failed write is logged and ignored: the client's response matters more than its
    journal entry.

    :param headers: (name, value) pairs as received; secret values are redacted here.
    :param started_at: the arrival time in seconds since the epoch.
    """
    if size <= 0:
        return

    redacted = [[name, redact_header(name, value)] for name, value in headers]
    row = {
        "time_ms": int(started_at * 1000),
        "method": method,
        "path": path,
        "query_string": query_string,
        "headers": redacted,
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "fault_id": fault_id,
    }
    insert_sql, trim_sql = _compiled_statements()
    try:
        with state_database.atomic():
            cursor = state_database.execute_sql(insert_sql, [field.db_value(row[field.name]) for field in _COLUMNS])
            # ids only grow between clears, so this keeps the newest ``size`` entries
            state_database.execute_sql(trim_sql, [cursor.lastrowid - size])
    except PeeweeException as error:
        logger.warning("Request %s %s not written to the journal: %s", method, path, error)


_COLUMNS = [field for field in JournalEntry._meta.sorted_fields if not field.primary_key]


@functools.cache
def _compiled_statements():
    """Return the SQL of the insert and of the trim, built by peewee once for the bound database.

    Building a query's SQL costs several times more than running it, and these two run on
    every API request. Peewee lists an insert's columns in the model's field order.
    """
    insert_sql, parameters = JournalEntry.insert({field: None for field in _COLUMNS}).sql()
    if len(parameters) != len(_COLUMNS):
        raise RuntimeError(f"unexpected journal insert: {insert_sql}")
    trim_sql, _ = JournalEntry.delete().where(JournalEntry.id <= 0).sql()
    return insert_sql, trim_sql


def list_entries(*, path=None, method=None):
    """Return the journal's entries as JSON-ready dicts, oldest first.

    :param path: an exact path or a glob (``*``, ``?``, ``[...]``) that entries must match.
    :param method: an HTTP method that entries must have.
    """
    query = JournalEntry.select().order_by(JournalEntry.id)
    if method is not None:
        query = query.where(JournalEntry.method == method)
    return [to_json(entry) for entry in query if path is None or fnmatch.fnmatchcase(entry.path, path)]


def clear():
    """Delete every journal entry."""
    JournalEntry.delete().execute()


def to_json(entry):
    """Return an entry in the admin API's shape."""
    return {
        "id": entry.id,
        "time": values.format_timestamp(entry.time_ms),
        "method": entry.method,
        "path": entry.path,
        "query": _parse_query(entry.query_string),
        "queryString": entry.query_string,
        "headers": _header_dict(entry.headers),
        "status": entry.status,
        "durationMs": entry.duration_ms,
        "faultId": entry.fault_id,
    }


def _parse_query(query_string):
    parsed = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        parsed.setdefault(name, []).append(value)
    return parsed


def _header_dict(pairs):
    """Join repeated headers with ", ", as HTTP allows for list-valued headers."""
    headers = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers
