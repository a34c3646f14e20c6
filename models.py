"""Peewee models over the mock's SQLite file: API keys, records and step results.

Queries use peewee expressions only, with no SQLite-specific SQL, so that another
backend can be bound to ``database`` later. The one exception is
``drop_secondary_indexes``, which only speeds up large fixture loads.
"""

import hashlib
import json
import logging
import os

from peewee import (
    BigIntegerField,
    BooleanField,
    DatabaseError,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)

import sqlcache

logger = logging.getLogger("runtype_mock")

# Deferred: the path comes from the command line or the app's config (see ``init_database``).
# Every transaction begins IMMEDIATE, taking the write lock at once. A transaction that
# reads and then writes would otherwise fail at once with "database is locked" whenever
# another connection wrote in between, a case SQLite's busy timeout does not wait for.
database = SqliteDatabase(None, lock_type="IMMEDIATE")

# WAL lets readers go on while a fixture loads. The mode persists in the file, so
# init_database sets it once, after checking that the file is the mock's database: a
# foreign database given by mistake is left unchanged.
JOURNAL_MODE = "wal"

# Set on every connection. The busy timeout makes a second writer wait instead of failing
# with "database is locked".
SQLITE_PRAGMAS = {
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


class JSONTextField(TextField):
    """Any JSON value, stored as compact JSON text; SQL NULL stands for JSON null."""

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value):
        if value is None:
            return None
        return json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


# Scheduled faults and the request journal change on every API request. They live in a
# second file beside the database (see ``state_path``), so that recording a request never
# waits for a long fixture load, which holds the main file's write lock until it commits.
state_database = SqliteDatabase(None, lock_type="IMMEDIATE")


class StateModel(Model):
    class Meta:
        database = state_database
        legacy_table_names = False


def state_path(path):
    """Return the path of the file that stores the faults and the journal of database ``path``.

    ``data/runtype.db`` gives ``data/runtype.state.db``.
    """
    path = str(path)
    if path == ":memory:":
        return path
    base, extension = os.path.splitext(path)
    return f"{base}.state{extension or '.db'}"


class ApiKey(BaseModel):
    """An API key, stored only as the SHA-256 hex digest of the key text."""

    key_hash = TextField(primary_key=True)
    user_id = TextField()
    organization_id = TextField()
    permissions = JSONTextField()
    revoked = BooleanField(default=False)

    @staticmethod
    def hash_key(key):
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def grants(self, permission):
        return "*" in self.permissions or permission in self.permissions


class Record(BaseModel):
    """A record that flows run on; it belongs to one organization."""

    id = TextField(primary_key=True)
    name = TextField(null=True)
    type = TextField(null=True)
    organization_id = TextField(index=True)
    user_id = TextField()
    metadata = JSONTextField(null=True)
    created_at = BigIntegerField()  # epoch milliseconds, UTC
    updated_at = BigIntegerField()


class StepResult(BaseModel):
    """One step of one flow run on a record; columns follow the API's fields.

    Timestamps are epoch milliseconds. ``estimated_cost`` keeps the exact decimal text and
    ``estimated_cost_key`` a text key that sorts numerically (see ``values.cost_sort_key``).
    """

    id = TextField(primary_key=True)
    user_id = TextField()
    organization_id = TextField(null=True)
    batch_execution_id = TextField(null=True)
    execution_session_id = TextField(null=True)
    flow_id = TextField(null=True)
    flow_version_id = TextField(null=True)
    # the record the step ran on; deleting the record deletes its step results
    record = ForeignKeyField(Record, column_name="record_id", on_delete="CASCADE", index=False)
    record_name = TextField(null=True)
    step_id = TextField(null=True)
    step_type = TextField()
    step_name = TextField()
    order = IntegerField(null=True)
    status = TextField()
    started_at = BigIntegerField(null=True)
    completed_at = BigIntegerField(null=True)
    duration_ms = BigIntegerField(null=True)
    output_preview = TextField(null=True)
    created_at = BigIntegerField()
    record_metadata = JSONTextField(null=True)
    step_config = JSONTextField(null=True)
    input_variables = JSONTextField(null=True)
    resolved_prompt = TextField(null=True)
    model_used = TextField(null=True)
    prompt_tokens = BigIntegerField(null=True)
    completion_tokens = BigIntegerField(null=True)
    total_tokens = BigIntegerField(null=True)
    estimated_cost = TextField(null=True)
    estimated_cost_key = TextField(null=True)
    error_message = TextField(null=True)
    retry_count = BigIntegerField(null=True)
    cache_read_tokens = BigIntegerField(null=True)
    cache_write_tokens = BigIntegerField(null=True)
    reasoning_tokens = BigIntegerField(null=True)
    reasoning_config = JSONTextField(null=True)
    reasoning_requested = JSONTextField(null=True)
    reasoning_rejection = JSONTextField(null=True)
    execution_engine = TextField(null=True)


# The API's sortBy names and the columns they order by.
SORT_COLUMNS = {
    "createdAt": StepResult.created_at,
    "startedAt": StepResult.started_at,
    "completedAt": StepResult.completed_at,
    "order": StepResult.order,
    "durationMs": StepResult.duration_ms,
    "status": StepResult.status,
    "stepName": StepResult.step_name,
    "stepType": StepResult.step_type,
    "totalTokens": StepResult.total_tokens,
    "estimatedCost": StepResult.estimated_cost_key,
    "retryCount": StepResult.retry_count,
}

# Every index starts with the record, so a request never reads another record's rows.
# The default order (createdAt descending, ties by id ascending) is stored as such, alone
# and after each equality filter, so those pages need no sort step.
StepResult.add_index(StepResult.record, StepResult.created_at.desc(), StepResult.id)
StepResult.add_index(StepResult.record, StepResult.flow_id, StepResult.created_at.desc(), StepResult.id)
StepResult.add_index(
    StepResult.record, StepResult.batch_execution_id, StepResult.created_at.desc(), StepResult.id
)
StepResult.add_index(StepResult.record, StepResult.status, StepResult.created_at.desc(), StepResult.id)
for _column in SORT_COLUMNS.values():
    if _column is not StepResult.created_at:
        StepResult.add_index(StepResult.record, _column, StepResult.id)

MODELS = (ApiKey, Record, StepResult)


class SchemaVersion(BaseModel):
    """The version of the table layout a database holds, in a single row."""

    version = IntegerField()


# The table layout this code reads and writes. A change to the tables raises it and adds
# to MIGRATIONS the step that brings a database of the previous version up to date.
# Version 0 is a database written before the version was kept: the tables of version 1
# without the schema_version table.
SCHEMA_VERSION = 1


class DatabaseOpenError(Exception):
    """The database file cannot be used; the message names the path and the reason."""


def init_database(path):
    """Bind the models to the SQLite file at ``path`` and bring its tables to ``SCHEMA_VERSION``.

    A missing file is created with every table; an older schema is migrated in place.

    :raise DatabaseOpenError: when the folder is missing, the file cannot be read and written,
        is not a SQLite database, contains another program's tables or a newer schema version.
    """
    path = str(path)
    _check_location(path)
    database.init(path, pragmas=SQLITE_PRAGMAS)

    try:
        with database.connection_context():
            _upgrade_schema(path)
            database.pragma("journal_mode", JOURNAL_MODE)
    except DatabaseOpenError:
        raise
    except DatabaseError as error:
        raise DatabaseOpenError(f"{path}: cannot be opened as a SQLite database: {error}") from None

    _init_state_database(state_path(path))


def _init_state_database(path):
    state_database.init(path, pragmas=SQLITE_PRAGMAS)
    try:
        with state_database.connection_context():
            state_database.pragma("journal_mode", JOURNAL_MODE)
    except DatabaseError as error:
        raise DatabaseOpenError(f"{path}: cannot be opened as the SQLite file of faults and journal: {error}") from None


def _check_location(path):
    if path == ":memory:":
        return

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DatabaseOpenError(f"{path}: the folder {folder} does not exist; create it first")
    if os.path.isdir(path):
        raise DatabaseOpenError(f"{path}: is a folder, not a database file")
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseOpenError(f"{path}: permission denied; the file must be readable and writable")
    if not os.path.exists(path) and not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseOpenError(f"{path}: permission denied; cannot create a file in {folder}")


def _upgrade_schema(path):
    if _stored_version(path) == SCHEMA_VERSION:
        return

    # IMMEDIATE takes the write lock before reading the version again, so that two processes
    # opening the same new or old database do not both create or migrate it.
    with database.atomic("IMMEDIATE"):
        version = _stored_version(path)
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise DatabaseOpenError(
                f"{path}: schema version {version} is newer than version {SCHEMA_VERSION},"
                " the latest this mock reads; update the mock or use another database file"
            )

        if version is None:
            database.create_tables(MODELS + (SchemaVersion,))
            logger.info("Created the tables of schema version %d in %s", SCHEMA_VERSION, path)
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step]()
            logger.info("Migrated %s from schema version %d to %d", path, version, SCHEMA_VERSION)

        SchemaVersion.delete().execute()
        SchemaVersion.create(version=SCHEMA_VERSION)


def _stored_version(path):
    """Return the database's schema version, or None when it has no tables yet.

    :raise DatabaseOpenError: when the tables are not this mock's.
    """
    tables = {name for name in database.get_tables() if not name.startswith("sqlite_")}
    if not tables:
        return None

    if SchemaVersion._meta.table_name in tables:
        row = SchemaVersion.select().order_by(SchemaVersion.id.desc()).first()
        if row is None:
            raise DatabaseOpenError(f"{path}: the schema_version table is empty; the database is damaged")
        return row.version

    missing = {model._meta.table_name for model in MODELS} - tables
    if missing:
        raise DatabaseOpenError(
            f"{path}: not a database of this mock: it has the tables {', '.join(sorted(tables))}"
            f" and lacks {', '.join(sorted(missing))}; use a new file or one the mock created"
        )
    return 0


def _add_schema_version_table():
    database.create_tables([SchemaVersion])


# MIGRATIONS[n] brings the tables of schema version n to version n + 1.
MIGRATIONS = {
    0: _add_schema_version_table,
}


def is_empty():
    """Return True when the database contains no API key, record or step result."""
    return not any(model.select().exists() for model in MODELS)


def drop_secondary_indexes(model):
    """Drop the indexes declared on ``model``'s table and return the SQL that recreates them.

    SQLite-specific, for bulk loads: filling a table without its secondary indexes and then
    building each index in one sorted pass is several times faster than updating every index
    per row. Call it inside a transaction and run the returned SQL before the commit: SQLite's
    DDL is transactional, so a failed or killed load keeps the old indexes, and readers of a
    WAL database keep seeing the committed table with its indexes until the commit. The
    primary key's automatic index has no SQL and is kept.
    """
    cursor = database.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (model._meta.table_name,),
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        database.execute_sql('DROP INDEX "{}"'.format(name.replace('"', '""')))
    return [sql for _, sql in indexes]


def find_api_key(key):
    """Return the stored, unrevoked API key for ``key``, or None.

    The index lookup compares SHA-256 digests and needs no constant-time comparison: its
    time depends on the digest of the key sent, and a caller cannot pick keys whose digests
    match a stored digest in more and more leading bytes without inverting SHA-256.
    """
    key_hash = ApiKey.hash_key(key)
    query = ApiKey.select().where((ApiKey.key_hash == key_hash) & (ApiKey.revoked == False)).limit(1)  # noqa: E712
    return sqlcache.fetch_model(sqlcache.execute(query, "find_api_key", [key_hash, False, 1]), ApiKey)


def get_record(record_id):
    """Return the record ``record_id`` of any organization, or None."""
    query = Record.select().where(Record.id == record_id).limit(1)
    return sqlcache.fetch_model(sqlcache.execute(query, "get_record", [record_id, 1]), Record)


def find_record(record_id, organization_id):
    """Return the record ``record_id`` if it belongs to ``organization_id``, else None."""
    query = Record.select().where((Record.id == record_id) & (Record.organization_id == organization_id)).limit(1)
    return sqlcache.fetch_model(sqlcache.execute(query, "find_record", [record_id, organization_id, 1]), Record)


def select_step_results(record_id, arguments):
    """Build the query for one page of a record's step results.

    :param arguments: the loaded query parameters (see ``schemas.StepResultQuerySchema``).
        One extra row is selected past ``limit`` so the caller can tell whether more exist.
    """
    query = StepResult.select().where(StepResult.record == record_id, *_filters(arguments))

    column = SORT_COLUMNS[arguments["sort_by"]]
    # Nulls sort last in both directions, and ties are broken by id ascending in both, so
    # that consecutive pages never overlap or skip rows.
    if arguments["sort_order"] == "asc":
        ordering = column.asc(nulls="LAST") if column.null else column.asc()
    else:
        ordering = column.desc(nulls="LAST") if column.null else column.desc()
    query = query.order_by(ordering, StepResult.id.asc())

    return query.limit(arguments["limit"] + 1).offset(arguments["offset"])


def fetch_step_results(record_id, arguments):
    """Run ``select_step_results`` and return its rows as dicts keyed by field name.

    The SQL text is generated once per combination of filters and order (see ``sqlcache``).
    """
    query = select_step_results(record_id, arguments)
    statuses = arguments.get("status") or []
    shape = ("select_step_results", arguments["sort_by"], arguments["sort_order"], len(statuses)) + tuple(
        arguments.get(name) is not None for name in ("flow_id", "batch_id", "from_ms", "to_ms")
    )
    # in the order of the conditions in select_step_results, then LIMIT and OFFSET
    parameters = [record_id] + [
        value for value in (arguments.get("flow_id"), arguments.get("batch_id")) if value is not None
    ]
    parameters += statuses
    parameters += [value for value in (arguments.get("from_ms"), arguments.get("to_ms")) if value is not None]
    parameters += [arguments["limit"] + 1, arguments["offset"]]
    return sqlcache.fetch_dicts(sqlcache.execute(query, shape, parameters), StepResult._meta.sorted_fields)


def _filters(arguments):
    conditions = []
    if arguments.get("flow_id") is not None:
        conditions.append(StepResult.flow_id == arguments["flow_id"])
    if arguments.get("batch_id") is not None:
        conditions.append(StepResult.batch_execution_id == arguments["batch_id"])
    if arguments.get("status"):
        statuses = arguments["status"]
        conditions.append(
            StepResult.status == statuses[0] if len(statuses) == 1 else StepResult.status.in_(statuses)
        )
    if arguments.get("from_ms") is not None:
        conditions.append(StepResult.created_at >= arguments["from_ms"])
    if arguments.get("to_ms") is not None:
        conditions.append(StepResult.created_at <= arguments["to_ms"])
    return conditions
