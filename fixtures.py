"""Fixture loading: validate API keys, records and step results, then upsert them by id in
one transaction, so that a fixture with any invalid item stores nothing.
"""

import functools
import json
import logging
import math
import time

from marshmallow import ValidationError

import models
import sqlcache
import values
from models import ApiKey, Record, StepResult, database
from schemas import API_KEY_FIXTURE, RECORD_FIXTURE, STEP_RESULT_FIXTURE, first_message, load_step_result_fixture, show

logger = logging.getLogger("runtype_mock")

SECTIONS = ("apiKeys", "records", "stepResults")
# A captured response body, {"data": [...], "pagination": {...}}, is a fixture too.
CAPTURED_SECTIONS = ("data", "pagination")

# Python's json module raises RecursionError near 1,000 levels, and a stored value must
# still encode inside a response, so fixtures may nest at most this deep.
MAX_NESTING_DEPTH = 100

# Rows per INSERT statement: 39 columns stay well under SQLite's limit of 32,766 variables.
CHUNK_SIZE = 500
# A load of this many step results, once it has written at least as many as the table held
# before, drops the table's secondary indexes and rebuilds them before the commit.
REBUILD_INDEXES_FROM_ROWS = 2_000


class FixtureError(ValueError):
    """An invalid fixture; the message names the item and field, e.g. ``stepResults[3].status``."""


def read_fixture_file(path):
    """Read a fixture file as JSON.

    :raise FixtureError: when the file cannot be read or is not valid JSON.
    """
    try:
        # utf-8-sig also reads files that an editor saved with a byte order mark.
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except OSError as error:
        raise FixtureError(f"{path}: cannot read the fixture file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise FixtureError(f"{path}: the fixture file is not UTF-8 text") from None

    try:
        return parse_json(text)
    except json.JSONDecodeError as error:
        raise FixtureError(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except FixtureError as error:
        raise FixtureError(f"{path}: {error}") from None


def parse_json(text):
    """Parse the JSON text of a fixture, accepting finite numbers only.

    :raise json.JSONDecodeError: at a syntax error, with its line and column.
    :raise FixtureError: for NaN, Infinity, a number out of range, or nesting too deep to parse.
    """
    try:
        if isinstance(text, str) and not text.startswith("\ufeff"):
            return _DECODER.decode(text)
        # json.loads rejects a byte order mark with its own message
        return json.loads(text, parse_constant=_reject_constant, parse_float=_parse_finite_float)
    except (json.JSONDecodeError, FixtureError):
        raise
    except ValueError:
        # int() rejects integers of more than 4,300 digits with a plain ValueError.
        raise FixtureError(
            "invalid JSON: an integer has more than 4,300 digits, Python's limit; write it as a string"
        ) from None
    except RecursionError:
        raise FixtureError(
            f"invalid JSON: nested too deeply to parse; a fixture may nest at most {MAX_NESTING_DEPTH} levels"
        ) from None


# Python's json module reads NaN, Infinity and numbers such as 1e999 as non-finite floats,
# which are not JSON and would be sent back as invalid JSON by the API.
def _reject_constant(name):
    raise FixtureError(f"invalid JSON: {name} is not a JSON value; write a number or a string")


class JsonFloat(float):
    """A JSON number with a fraction or exponent that keeps its written text.

    ``estimatedCost`` is read from ``text``, so a cost written as a JSON number with more
    digits than a float can represent keeps them all.
    """

    def __new__(cls, text):
        number = super().__new__(cls, text)
        number.text = text
        return number


def _parse_finite_float(text):
    number = JsonFloat(text)
    if not math.isfinite(number):
        raise FixtureError(f"invalid JSON: the number {text} is too large for a 64-bit float; write it as a string")
    return number


# One decoder for every line of a JSON Lines file: json.loads builds a new one on each call
# that passes options.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_finite_float)


def load_fixture_file(path):
    """Read and load one fixture file; its errors start with the file's path.

    :return: the counts stored, as ``load_fixture`` returns them.
    :raise FixtureError: when the file is unreadable or invalid; nothing is stored then.
    """
    # imported here because fixture_stream builds on this module
    import fixture_stream

    if fixture_stream.is_streamed(path):
        return fixture_stream.load_file(path)

    document = read_fixture_file(path)
    try:
        return load_fixture(document)
    except FixtureError as error:
        raise FixtureError(f"{path}: {error}") from None


def load_fixture(document, *, now_ms=None):
    """Validate a fixture document and upsert its items in one transaction.

    :param document: the parsed JSON object of a fixture or of a captured response body.
    :param now_ms: the load time in epoch milliseconds, the default for record timestamps.
    :return: the counts stored, as ``{"apiKeys": n, "records": n, "stepResults": n}``.
    :raise FixtureError: naming the first invalid item and field; nothing is stored then.
    """
    _check_document(document)
    loader = FixtureLoader(now_ms=now_ms)

    with database.atomic():
        for index, item in enumerate(document.get("apiKeys", ())):
            loader.add_api_key(item, f"apiKeys[{index}]")
        for index, item in enumerate(document.get("records", ())):
            loader.add_record(item, f"records[{index}]")
        for index, item in enumerate(document.get("stepResults", ())):
            loader.add_step_result(item, f"stepResults[{index}]")
        for index, item in enumerate(document.get("data", ())):
            loader.add_step_result(item, f"data[{index}]", create_record=True)
        loader.flush()

    logger.debug(
        "Validated and wrote fixture: %d API keys, %d records, %d step results",
        loader.counts["apiKeys"], loader.counts["records"], loader.counts["stepResults"],
    )
    return dict(loader.counts)


def _check_document(document):
    if not isinstance(document, dict):
        raise FixtureError(
            "a fixture must be a JSON object with the lists apiKeys, records and stepResults,"
            f" or a captured response body with data; got {_json_type(document)}"
        )

    _check_values(document)

    accepted = SECTIONS + CAPTURED_SECTIONS
    for name, value in document.items():
        if name not in accepted:
            raise FixtureError(f"{name}: unknown fixture section; accepted are {', '.join(accepted)}")
        if name == "pagination":
            if not isinstance(value, dict):
                raise FixtureError(f"{name}: expected a JSON object, got {_json_type(value)}")
        elif not isinstance(value, list):
            raise FixtureError(f"{name}: expected a JSON list, got {_json_type(value)}")


def _check_values(document):
    """Reject JSON nested deeper than ``MAX_NESTING_DEPTH`` and text that is not Unicode.

    Text with an unpaired surrogate, which JSON can write as "\\ud800", cannot be stored as
    UTF-8. The walk uses a stack instead of recursion, so that it works at any depth.

    :raise FixtureError: naming the item and field, e.g. ``stepResults[2].stepConfig``.
    """
    stack = [(document, 1, ())]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_NESTING_DEPTH:
            raise FixtureError(
                f"{_location(path)}: JSON nested more than {MAX_NESTING_DEPTH} levels deep, counted from the top of the fixture"
            )

        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            # the first three steps name the item and field, e.g. stepResults[2].stepConfig
            child_path = path + (key,) if len(path) < 3 else path
            if isinstance(key, str) and not _is_unicode(key):
                raise FixtureError(f"{_location(path) or 'fixture'}: {_SURROGATE_PROBLEM.format('a key')}")
            if isinstance(child, str) and not _is_unicode(child):
                raise FixtureError(f"{_location(child_path)}: {_SURROGATE_PROBLEM.format('the text')}")
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1, child_path))


_SURROGATE_PROBLEM = "{} contains an unpaired surrogate such as \\ud800; write valid Unicode"


def _is_unicode(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _location(path):
    location = ""
    for key in path:
        if isinstance(key, int):
            location += f"[{key}]"
        elif location:
            location += f".{key}"
        else:
            location = key
    return location


class FixtureLoader:
    """Validates fixture items one by one and buffers them for chunked upserts.

    The caller owns the transaction: call the ``add_*`` methods and ``flush`` inside
    ``database.atomic()`` so that an error rolls back every chunk already written.
    """

    def __init__(self, *, now_ms=None):
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
        self.counts = {"apiKeys": 0, "records": 0, "stepResults": 0}
        self._records = {}  # record id -> (organization_id, user_id, name), of this load and looked up
        self._step_results = []
        self._index_sql = None  # the SQL of the step-result indexes, while they are dropped

    def add_api_key(self, item, location):
        loaded = _validate(API_KEY_FIXTURE, item, location)
        row = {
            "key_hash": ApiKey.hash_key(loaded["key"]),
            "user_id": loaded["user_id"],
            "organization_id": loaded["organization_id"],
            "permissions": loaded["permissions"],
            "revoked": loaded["revoked"],
        }
        _upsert(ApiKey, [row])
        self.counts["apiKeys"] += 1

    def add_record(self, item, location):
        loaded = _validate(RECORD_FIXTURE, item, location)
        self._check_record_organization(loaded["id"], loaded["organization_id"], location)

        loaded["created_at"] = _or_default(loaded["created_at"], self.now_ms)
        loaded["updated_at"] = _or_default(loaded["updated_at"], loaded["created_at"])
        _upsert(Record, [loaded])
        self._records[loaded["id"]] = (loaded["organization_id"], loaded["user_id"], loaded["name"])
        self.counts["records"] += 1

    def add_step_result(self, item, location, *, create_record=False):
        row = _validate(STEP_RESULT_FIXTURE, item, location, load=load_step_result_fixture)
        organization_id, user_id, record_name = self._record_of(row, location, create_record)

        if row.get("organization_id") is None:
            row["organization_id"] = organization_id
        elif row["organization_id"] != organization_id:
            raise FixtureError(
                f"{location}.organizationId: {show(row['organization_id'])} differs from the organization"
                f" of record {show(row['record'])}, {show(organization_id)}"
            )
        if row.get("user_id") is None:
            row["user_id"] = user_id
        if "record_name" not in row:
            row["record_name"] = record_name

        self._step_results.append(_step_result_columns(row))
        self.counts["stepResults"] += 1
        if len(self._step_results) >= CHUNK_SIZE:
            self._write_step_results()

    def flush(self):
        """Write the buffered step results, and rebuild the step-result indexes if this load dropped them."""
        self._write_step_results()
        if self._index_sql is not None:
            for sql in self._index_sql:
                database.execute_sql(sql)
            self._index_sql = None

    def _write_step_results(self):
        if not self._step_results:
            return

        if self._index_sql is None and self._rebuild_pays_off():
            self._index_sql = models.drop_secondary_indexes(StepResult)
        _upsert(StepResult, self._step_results)
        self._step_results = []

    def _rebuild_pays_off(self):
        """Return True when rebuilding the step-result indexes costs less than updating them.

        Building an index sorts every row of the table once, so the rule of thumb is that
        it pays off when this load writes at least as many rows as the table held before.
        SQLite's largest rowid bounds the row count from above, counting the rows that this
        load has written so far. Like the index drop, this check is SQLite-specific.
        """
        loaded = self.counts["stepResults"]
        if loaded < REBUILD_INDEXES_FROM_ROWS:
            return False
        largest_rowid = database.execute_sql(f"SELECT max(rowid) FROM {StepResult._meta.table_name}").fetchone()[0] or 0
        return largest_rowid - loaded <= loaded

    def _record_of(self, row, location, create_record):
        record_id = row["record"]
        if record_id not in self._records:
            stored = models.get_record(record_id)
            if stored is not None:
                self._records[record_id] = (stored.organization_id, stored.user_id, stored.name)
            elif create_record:
                self._create_record_from_row(row, location)
            else:
                raise FixtureError(
                    f"{location}.recordId: no record {show(record_id)} in this fixture's records"
                    " or in the database; add it to the fixture's records list"
                )
        return self._records[record_id]

    def _create_record_from_row(self, row, location):
        for key, name in (("organization_id", "organizationId"), ("user_id", "userId")):
            if not row.get(key):
                raise FixtureError(
                    f"{location}.{name}: needed to create record {show(row['record'])}, which does not exist"
                )

        record = {
            "id": row["record"],
            "name": row.get("record_name"),
            "type": None,
            "organization_id": row["organization_id"],
            "user_id": row["user_id"],
            "metadata": {},
            "created_at": row["created_at"],
            "updated_at": row["created_at"],
        }
        _upsert(Record, [record])
        self._records[record["id"]] = (record["organization_id"], record["user_id"], record["name"])
        self.counts["records"] += 1

    def _check_record_organization(self, record_id, organization_id, location):
        # Moving a record to another organization would leave its stored step results
        # pointing at the old one, so it is rejected.
        stored = models.get_record(record_id)
        if stored is not None and stored.organization_id != organization_id:
            raise FixtureError(
                f"{location}.organizationId: record {show(record_id)} already exists in organization"
                f" {show(stored.organization_id)}; a record cannot move to {show(organization_id)}"
            )


def _validate(schema, item, location, *, load=None):
    """Load ``item`` with ``load``, by default ``schema.load``, which must raise as that does."""
    if not isinstance(item, dict):
        raise FixtureError(f"{location}: expected a JSON object, got {_json_type(item)}")

    try:
        return (load or schema.load)(item)
    except ValidationError as error:
        messages = error.normalized_messages()
        ordered = [key for key in _field_order(schema, item) if key in messages]
        name = ordered[0] if ordered else next(iter(messages))
        raise FixtureError(f"{location}.{name}: {first_message(messages[name])}") from None


def _json_type(value):
    """Name the JSON type of a parsed value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _field_order(schema, item):
    """Field names in the schema's order, then unknown names in the item's order."""
    known = [field.data_key or name for name, field in schema.fields.items()]
    return known + [name for name in item if name not in known]


def _or_default(value, default):
    return default if value is None else value


def _step_result_columns(row):
    """Add the defaults and derived columns of a validated step result."""
    columns = dict.fromkeys(STEP_RESULT_FIXTURE.fields)
    columns.update(row)

    cost = columns["estimated_cost"]
    columns["estimated_cost"] = None if cost is None else values.format_cost(cost)
    columns["estimated_cost_key"] = None if cost is None else values.cost_sort_key(cost)
    return columns


def _upsert(model, rows):
    """Insert ``rows``, replacing the columns of rows whose primary key exists.

    Rows that give every field are bound to a statement that peewee generates once per
    model: generating a multi-row INSERT costs peewee more per row than SQLite's insert.
    """
    fields = model._meta.sorted_fields
    names = {field.name for field in fields}
    if any(row.keys() != names for row in rows):
        _upsert_query(model, rows).execute()
        return

    converters = [(index, field.db_value) for index, field in enumerate(fields) if sqlcache.converts_values(field)]
    field_names = [field.name for field in fields]
    bound = []
    for row in rows:
        row_values = [row[name] for name in field_names]
        for index, convert in converters:
            row_values[index] = convert(row_values[index])
        bound.append(row_values)
    database.cursor().executemany(_upsert_sql(model), bound)


def _upsert_query(model, rows, fields=None):
    columns = [field for field in model._meta.sorted_fields if not field.primary_key]
    return model.insert_many(rows, fields=fields).on_conflict(
        conflict_target=[model._meta.primary_key], preserve=columns
    )


@functools.cache
def _upsert_sql(model):
    """Return the one-row upsert statement of ``model``, with the fields in their model order."""
    fields = model._meta.sorted_fields
    sql, parameters = _upsert_query(model, [(None,) * len(fields)], fields=fields).sql()
    if len(parameters) != len(fields):
        raise AssertionError(f"the upsert of {model.__name__} binds {len(parameters)} values, not {len(fields)}")
    return sql
