"""Fault injection: scheduled faults and the per-request ``Prefer`` and ``__code`` overrides.

A scheduled fault makes the next matching API requests return an error status, or delays
them, a set number of times. Faults live in a table of the service's SQLite file, so every
worker thread and process of one server takes from the same schedule, and each use is
claimed with one atomic UPDATE.
"""

import fnmatch
import functools
import re
from typing import NamedTuple

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Range
from peewee import AutoField, BigIntegerField, IntegerField, TextField
from werkzeug.http import HTTP_STATUS_CODES

import schemas
from models import JSONTextField, StateModel, state_database

# Maximum delay of a fault or a Prefer header, in milliseconds. Clients under test usually
# time out sooner, and a longer wait would only block a server thread.
MAX_DELAY_MS = 30_000
MAX_TIMES = 1_000_000
MAX_FAULT_ID = 2**63 - 1
FAULT_STATUSES = (400, 599)
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "*")
# Headers that describe the message framing. A fault that set them would corrupt the response.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]{1,9}")


class Fault(StateModel):
    """A scheduled fault: the requests it matches, its response, and how many uses remain."""

    id = AutoField()
    method = TextField()  # an HTTP method, or "*" for any
    path = TextField()  # an exact path or a glob
    status = IntegerField(null=True)  # None: only delay the real response
    times = IntegerField()
    remaining = IntegerField()
    delay_ms = IntegerField()
    headers = JSONTextField()  # {name: value}
    body = JSONTextField(null=True)  # any JSON value; None: the standard error body
    created_ms = BigIntegerField()

    class Meta:
        table_name = "mock_fault"

    def matches(self, method, path):
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


# -- validation ------------------------------------------------------------------------------


class HeaderMap(fields.Field):
    """Response headers as a JSON object of names to strings or integers."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError(f"not a JSON object of header names to values (got {schemas.show(value)})")

        headers = {}
        for name, text in value.items():
            if not _TOKEN.fullmatch(name):
                raise ValidationError(f"{schemas.show(name)} is not a valid header name")
            if name.lower() in FRAMING_HEADERS:
                raise ValidationError(f"{name} cannot be set: the server computes it")
            if isinstance(text, int) and not isinstance(text, bool):
                text = str(text)
            if not isinstance(text, str) or "\r" in text or "\n" in text:
                raise ValidationError(f"{name}: expected a string without line breaks or an integer (got {text!r:.80})")
            headers[name] = text
        return headers


class MethodName(schemas.StrictString):
    """An HTTP method in any case, or ``*``; loaded in upper case."""

    def _deserialize(self, value, attr, data, **kwargs):
        method = super()._deserialize(value, attr, data, **kwargs).upper()
        if method not in METHODS:
            raise ValidationError(f"must be one of {', '.join(METHODS)} (got {schemas.show(value)})")
        return method


def _range(minimum, maximum):
    return Range(minimum, maximum, error=f"must be an integer from {minimum} to {maximum} (got {{input}})")


def _path_pattern(pattern):
    # Request paths always start with "/", so any other pattern could never match.
    if not pattern.startswith(("/", "*")):
        raise ValidationError(
            f"must start with '/' or '*', as request paths do, e.g. /v1/records/*/step-results (got {schemas.show(pattern)})"
        )


class FaultSchema(Schema):
    """The JSON body of ``POST /_mock/faults``."""

    class Meta:
        unknown = RAISE

    method = MethodName(load_default="GET")
    path = schemas.StrictString(non_empty=True, load_default="*", validate=_path_pattern)
    status = schemas.StrictInteger(allow_none=True, load_default=None, validate=_range(*FAULT_STATUSES))
    times = schemas.StrictInteger(load_default=1, validate=_range(1, MAX_TIMES))
    delay_ms = schemas.StrictInteger(load_default=0, data_key="delayMs", validate=_range(0, MAX_DELAY_MS))
    headers = HeaderMap(load_default=dict)
    body = fields.Raw(allow_none=True, load_default=None)

    @validates_schema
    def check_effect(self, data, **kwargs):
        if data.get("status") is None and not data.get("delay_ms"):
            raise ValidationError("give a status, a delayMs above 0, or both", "status")


FAULT_SCHEMA = FaultSchema()


class FaultError(ValueError):
    """An invalid fault; ``details`` maps each field to its problem."""

    def __init__(self, details):
        super().__init__(details)
        self.details = details

    @property
    def message(self):
        listed = "; ".join(f"{name}: {problem}" for name, problem in self.details.items())
        return f"Invalid fault: {listed}"


def validate_fault(document):
    """Validate the JSON body of a fault request.

    :return: the loaded fault, with snake_case keys and the defaults filled in.
    :raise FaultError: naming each invalid field.
    """
    if not isinstance(document, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(document), "a number")
        raise FaultError({"request body": f"expected a JSON object describing the fault, got {kind}"})

    try:
        return FAULT_SCHEMA.load(document)
    except ValidationError as error:
        messages = error.normalized_messages()
        details = {name: schemas.first_message(problem) for name, problem in messages.items()}
        raise FaultError(details) from None


# -- the schedule ----------------------------------------------------------------------------


def schedule(fault, now_ms):
    """Store a validated fault at the end of the schedule and return it as stored."""
    fault_id = Fault.insert(
        method=fault["method"],
        path=fault["path"],
        status=fault["status"],
        times=fault["times"],
        remaining=fault["times"],
        delay_ms=fault["delay_ms"],
        headers=fault["headers"],
        body=fault["body"],
        created_ms=now_ms,
    ).execute()
    return Fault.get_by_id(fault_id)


def list_faults():
    """Return the faults with uses left, in the order they were scheduled."""
    return list(Fault.select().where(Fault.remaining > 0).order_by(Fault.id))


def delete_fault(fault_id):
    """Delete one fault; return False when no fault has that id."""
    return Fault.delete().where(Fault.id == fault_id).execute() > 0


def clear():
    """Delete every scheduled fault."""
    Fault.delete().execute()


def take(method, path):
    """Use up one use of the first scheduled fault that matches a request, and return it.

    :return: the fault, or None when no scheduled fault matches.
    """
    # Most requests meet an empty schedule, and a precompiled check is the cheap way to see it.
    if state_database.execute_sql(*_compiled_pending_check()).fetchone() is None:
        return None

    for fault in list_faults():
        if not fault.matches(method, path):
            continue

        # Another thread or process may take the last use first. The condition on
        # ``remaining`` makes the claim atomic, so a lost race moves on to the next fault.
        claimed = (
            Fault.update(remaining=Fault.remaining - 1)
            .where((Fault.id == fault.id) & (Fault.remaining > 0))
            .execute()
        )
        if claimed:
            Fault.delete().where((Fault.id == fault.id) & (Fault.remaining <= 0)).execute()
            return fault
    return None


@functools.cache
def _compiled_pending_check():
    """Return the SQL and parameters that find whether any fault has uses left, built by peewee once."""
    return Fault.select(Fault.id).where(Fault.remaining > 0).limit(1).sql()


def to_json(fault):
    """Return a fault in the admin API's shape."""
    return {
        "id": fault.id,
        "method": fault.method,
        "path": fault.path,
        "status": fault.status,
        "times": fault.times,
        "remaining": fault.remaining,
        "delayMs": fault.delay_ms,
        "headers": fault.headers,
        "body": fault.body,
    }


# -- per-request overrides -------------------------------------------------------------------


class OverrideError(ValueError):
    """An invalid Prefer header or ``__code`` parameter; the message names which."""


class Overrides(NamedTuple):
    """The overrides a request carries: a forced status, its source, and a delay."""

    code: int | None
    code_source: str | None  # "Prefer header" or "__code query parameter"
    delay_ms: int | None


def parse_overrides(prefer_headers, code_parameter):
    """Parse the forced status and delay that a request carries.

    ``Prefer`` follows RFC 7240, as Prism reads it: comma-separated preferences such as
    ``code=503, delay=250``, values optionally quoted, parameters after ``;`` ignored, the
    first occurrence of a preference counting, and unknown preferences (``example``,
    ``dynamic``, ``return``) ignored. ``code`` in the header wins over the ``__code``
    query parameter, as in Prism.

    :param prefer_headers: every ``Prefer`` header value of the request.
    :param code_parameter: the ``__code`` query parameter, or None.
    :raise OverrideError: when a value is malformed or out of range.
    """
    preferences = {}
    for header in prefer_headers:
        for name, value in _parse_prefer(header):
            preferences.setdefault(name, value)

    code, code_source = None, None
    if "code" in preferences:
        code, code_source = _parse_code(preferences["code"], "Prefer header: code"), "Prefer header"
    elif code_parameter is not None and code_parameter != "":
        code, code_source = _parse_code(code_parameter, "query parameter '__code'"), "__code query parameter"

    delay_ms = None
    if "delay" in preferences:
        delay_ms = _parse_number(preferences["delay"], "Prefer header: delay", 0, MAX_DELAY_MS, "milliseconds")
    return Overrides(code, code_source, delay_ms)


def _parse_prefer(header):
    for element in header.split(","):
        preference = element.split(";", 1)[0].strip()
        if not preference:
            continue

        name, has_value, value = (part.strip() for part in preference.partition("="))
        if not _TOKEN.fullmatch(name):
            raise OverrideError(
                f"Invalid Prefer header: {schemas.show(preference)} is not a preference;"
                " expected name=value pairs separated by commas, such as 'code=503, delay=250'"
            )
        if has_value and len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        yield name.lower(), value if has_value else None


def _parse_code(text, source):
    minimum, maximum = FAULT_STATUSES
    if text is None or not _DIGITS.fullmatch(text) or not (int(text) == 200 or minimum <= int(text) <= maximum):
        raise OverrideError(
            f"Invalid {source}: expected 200 (the real response) or an error status from {minimum}"
            f" to {maximum}, got {_shown(text)}"
        )
    return int(text)


def _parse_number(text, source, minimum, maximum, unit):
    if text is None or not _DIGITS.fullmatch(text) or not minimum <= int(text) <= maximum:
        raise OverrideError(
            f"Invalid {source}: expected {unit} from {minimum} to {maximum} written with the digits 0-9,"
            f" got {_shown(text)}"
        )
    return int(text)


def _shown(text):
    return "no value" if text is None else schemas.show(text)


def error_message(status, reason):
    """Return the ``error`` text of a forced error response, e.g. ``Service Unavailable (...)``."""
    phrase = HTTP_STATUS_CODES.get(status, f"Error {status}")
    return f"{phrase} ({reason})"
