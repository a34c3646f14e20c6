"""Marshmallow schemas: the endpoint's query parameters, its rows and pagination block, and
the items of fixture files.

Python names are snake_case; each field's ``data_key`` is the camelCase name of the API.
"""

import re
from datetime import datetime

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validates_schema

import values
from compiled_schema import CompiledDumpSchema

STEP_STATUSES = (
    "pending", "queued", "running", "paused", "completed",
    "failed", "cancelled", "interrupted", "skipped",
)
EXECUTION_ENGINES = ("runtime", "legacy", "external")
SORT_KEYS = (
    "createdAt", "startedAt", "completedAt", "order", "durationMs", "status",
    "stepName", "stepType", "totalTokens", "estimatedCost", "retryCount",
)
SORT_ORDERS = ("asc", "desc")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100

# SQLite and PostgreSQL integers are signed 64-bit. The largest offset leaves room for the
# extra row that shows whether more rows exist.
MAX_INTEGER = 2**63 - 1
MAX_OFFSET = MAX_INTEGER - MAX_LIMIT - 1

QUERY_PARAMETERS = ("flowId", "batchId", "status", "from", "to", "sortBy", "sortOrder", "limit", "offset")
REPEATABLE_PARAMETERS = ("status",)

_ASCII_DIGITS = re.compile(r"[0-9]+")
_SHOWN_VALUE_LENGTH = 80


def show(value):
    """Quote a client's value for an error message, cut to a readable length."""
    text = repr(value) if not isinstance(value, str) else "'" + value + "'"
    if len(text) > _SHOWN_VALUE_LENGTH:
        text = text[: _SHOWN_VALUE_LENGTH - 4] + "...'"
    return text


# -- fields -------------------------------------------------------------------------------


class Timestamp(fields.Field):
    """A UTC timestamp, stored as epoch milliseconds and sent as ISO 8601 text ending in Z."""

    def _serialize(self, value, attr, obj, **kwargs):
        return values.format_timestamp(value)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return values.parse_date_time(value)
        except values.InvalidValue as error:
            raise ValidationError(f"{error} (got {show(value)})") from None


class Cost(fields.Field):
    """A decimal cost: sent as decimal text, loaded from decimal text or a JSON number."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return values.parse_cost(value)
        except values.InvalidValue as error:
            raise ValidationError(f"{error} (got {show(value)})") from None


class StrictInteger(fields.Integer):
    """A JSON integer from 0 to 2**63 - 1; booleans, fractions and strings are rejected."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"not an integer (got {show(value)})")
        if not 0 <= value <= MAX_INTEGER:
            raise ValidationError(f"must be an integer from 0 to {MAX_INTEGER} (got {value})")
        return value


class StrictString(fields.String):
    """A JSON string; other JSON types are rejected instead of being converted."""

    def __init__(self, *, non_empty=False, **kwargs):
        super().__init__(**kwargs)
        self.non_empty = non_empty

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError(f"not a string (got {show(value)})")
        if self.non_empty and not value:
            raise ValidationError("must not be empty")
        return value


class Choice(StrictString):
    """A string from a fixed list of values."""

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value not in self.choices:
            raise ValidationError(f"must be one of {', '.join(self.choices)} (got {show(value)})")
        return value


class StrictBoolean(fields.Boolean):
    """A JSON true or false; strings and numbers such as "yes" or 1 are rejected."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError(f"not a boolean, expected true or false (got {show(value)})")
        return value


class StrictList(fields.List):
    """A JSON list; a lone string or an object is rejected with the value shown."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError(f"not a list (got {show(value)})")
        return super()._deserialize(value, attr, data, **kwargs)


# -- rows and pagination ---------------------------------------------------------------------


class StepResultSchema(CompiledDumpSchema):
    """A step result as the API sends it: every field, in the API's order, null where unknown."""

    id = StrictString(required=True, non_empty=True)
    user_id = StrictString(required=True, data_key="userId")
    organization_id = StrictString(allow_none=True, data_key="organizationId")
    batch_execution_id = StrictString(allow_none=True, data_key="batchExecutionId")
    execution_session_id = StrictString(allow_none=True, data_key="executionSessionId")
    flow_id = StrictString(allow_none=True, data_key="flowId")
    flow_version_id = StrictString(allow_none=True, data_key="flowVersionId")
    record = StrictString(required=True, non_empty=True, data_key="recordId")
    record_name = StrictString(allow_none=True, data_key="recordName")
    step_id = StrictString(allow_none=True, data_key="stepId")
    step_type = StrictString(required=True, data_key="stepType")
    step_name = StrictString(required=True, data_key="stepName")
    order = StrictInteger(allow_none=True)
    status = Choice(STEP_STATUSES, required=True)
    started_at = Timestamp(allow_none=True, data_key="startedAt")
    completed_at = Timestamp(allow_none=True, data_key="completedAt")
    duration_ms = StrictInteger(allow_none=True, data_key="durationMs")
    output_preview = StrictString(allow_none=True, data_key="outputPreview")
    created_at = Timestamp(required=True, data_key="createdAt")
    record_metadata = fields.Raw(allow_none=True, data_key="recordMetadata")
    step_config = fields.Raw(allow_none=True, data_key="stepConfig")
    input_variables = fields.Raw(allow_none=True, data_key="inputVariables")
    resolved_prompt = StrictString(allow_none=True, data_key="resolvedPrompt")
    model_used = StrictString(allow_none=True, data_key="modelUsed")
    prompt_tokens = StrictInteger(allow_none=True, data_key="promptTokens")
    completion_tokens = StrictInteger(allow_none=True, data_key="completionTokens")
    total_tokens = StrictInteger(allow_none=True, data_key="totalTokens")
    estimated_cost = Cost(allow_none=True, data_key="estimatedCost")
    error_message = StrictString(allow_none=True, data_key="errorMessage")
    retry_count = StrictInteger(allow_none=True, data_key="retryCount")
    cache_read_tokens = StrictInteger(allow_none=True, data_key="cacheReadTokens")
    cache_write_tokens = StrictInteger(allow_none=True, data_key="cacheWriteTokens")
    reasoning_tokens = StrictInteger(allow_none=True, data_key="reasoningTokens")
    reasoning_config = fields.Raw(allow_none=True, data_key="reasoningConfig")
    reasoning_requested = fields.Raw(allow_none=True, data_key="reasoningRequested")
    reasoning_rejection = fields.Raw(allow_none=True, data_key="reasoningRejection")
    execution_engine = Choice(EXECUTION_ENGINES, allow_none=True, data_key="executionEngine")


class PaginationSchema(Schema):
    """The pagination block: effective limit and offset, rows returned, and whether more exist."""

    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    returned = fields.Integer(required=True)
    has_more = fields.Boolean(required=True, data_key="hasMore")


class StepResultPageSchema(Schema):
    """The 200 response body of the step-results endpoint."""

    data = fields.List(fields.Nested(StepResultSchema), required=True)
    pagination = fields.Nested(PaginationSchema, required=True)


class ErrorSchema(Schema):
    """The body of every error response."""

    error = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.String())


# Built once: schema construction is far slower than a dump.
STEP_RESULT_LIST = StepResultSchema(many=True)
PAGINATION = PaginationSchema()


# -- query parameters ----------------------------------------------------------------------


class QueryParameterError(Exception):
    """Invalid query parameters; ``details`` maps each parameter to its message."""

    def __init__(self, details):
        super().__init__(details)
        self.details = details

    @property
    def message(self):
        if len(self.details) == 1:
            (name, problem), = self.details.items()
            return f"Invalid query parameter '{name}': {problem}"
        listed = "; ".join(f"'{name}': {problem}" for name, problem in self.details.items())
        return f"Invalid query parameters: {listed}"


class DigitsInteger(fields.Field):
    """A query integer written with the ASCII digits 0-9 only, within a range."""

    def __init__(self, minimum, maximum, **kwargs):
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        accepted = f"expected an integer from {self.minimum} to {self.maximum} written with the digits 0-9"
        if not _ASCII_DIGITS.fullmatch(value):
            raise ValidationError(f"{accepted}, got {show(value)}")

        # Cap the length first: int() of a huge digit string is slow, and it is out of range
        # anyway. Leading zeros do not count, so "007" is 7 however many zeros it has.
        significant = value.lstrip("0") or "0"
        number = int(significant) if len(significant) <= 25 else self.maximum + 1
        if not self.minimum <= number <= self.maximum:
            raise ValidationError(f"{accepted}, got {show(value)}")
        return number


class StatusList(fields.Field):
    """Step statuses, from comma-separated values and repeated parameters."""

    def _deserialize(self, value, attr, data, **kwargs):
        statuses = []
        for item in (part.strip() for text in value for part in text.split(",")):
            if item not in STEP_STATUSES:
                shown = show(item) if item else "an empty item"
                raise ValidationError(
                    f"expected step statuses separated by commas, each one of {', '.join(STEP_STATUSES)}; got {shown}"
                )
            if item not in statuses:
                statuses.append(item)
        return statuses


class Bound(fields.Field):
    """An inclusive ``createdAt`` bound: an ISO 8601 date-time or a date."""

    def __init__(self, *, end, **kwargs):
        super().__init__(**kwargs)
        self.end = end

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return values.parse_bound(value, end=self.end)
        except values.InvalidValue as error:
            message = (
                "expected an ISO 8601 date-time such as 2024-06-01T10:15:30Z or 2024-06-01T12:15:30+02:00,"
                f" or a date such as 2024-06-01; {error}, got {show(value)}"
            )
            if re.search(r"[0-9] [0-9]{2}:?[0-9]{2}$", value):
                # The client most likely sent "+02:00" unencoded, and a query string reads "+" as a space.
                message += "; a '+' in a URL query means a space, so send the offset's '+' as %2B"
            raise ValidationError(message) from None


class QueryChoice(fields.Field):
    """One value from a fixed list, optionally compared without regard to case."""

    def __init__(self, choices, *, ignore_case=False, **kwargs):
        super().__init__(**kwargs)
        self.choices = choices
        self.ignore_case = ignore_case

    def _deserialize(self, value, attr, data, **kwargs):
        candidate = value.lower() if self.ignore_case else value
        if candidate not in self.choices:
            raise ValidationError(f"expected one of {', '.join(self.choices)}, got {show(value)}")
        return candidate


class StepResultQuerySchema(Schema):
    """The query parameters of ``GET /v1/records/{id}/step-results``.

    Unknown parameters are ignored. Loading fills in the defaults and returns snake_case
    keys; ``from`` and ``to`` become epoch milliseconds under ``from_ms`` and ``to_ms``.
    """

    class Meta:
        unknown = EXCLUDE

    flow_id = fields.String(data_key="flowId", load_default=None)
    batch_id = fields.String(data_key="batchId", load_default=None)
    status = StatusList(load_default=list)
    from_ms = Bound(end=False, data_key="from", load_default=None)
    to_ms = Bound(end=True, data_key="to", load_default=None)
    sort_by = QueryChoice(SORT_KEYS, data_key="sortBy", load_default="createdAt")
    sort_order = QueryChoice(SORT_ORDERS, ignore_case=True, data_key="sortOrder", load_default="desc")
    limit = DigitsInteger(1, MAX_LIMIT, load_default=DEFAULT_LIMIT)
    offset = DigitsInteger(0, MAX_OFFSET, load_default=0)

    @validates_schema
    def check_range(self, data, **kwargs):
        start, end = data.get("from_ms"), data.get("to_ms")
        if start is not None and end is not None and start > end:
            raise ValidationError(
                f"'from' ({values.format_timestamp(start)}) is later than 'to' ({values.format_timestamp(end)});"
                " give a 'from' at or before 'to'",
                "from",
            )


STEP_RESULT_QUERY = StepResultQuerySchema()


def load_query(arguments):
    """Validate the query string of a step-results request.

    :param arguments: a werkzeug ``MultiDict`` of the raw query parameters.
    :return: a dict with the snake_case keys of ``StepResultQuerySchema``.
    :raise QueryParameterError: naming every invalid parameter.
    """
    raw, details = _collect_parameters(arguments)

    try:
        loaded = STEP_RESULT_QUERY.load(raw)
    except ValidationError as error:
        for name, messages in error.normalized_messages().items():
            details.setdefault(name, first_message(messages))
        raise QueryParameterError(_in_parameter_order(details)) from None

    if details:
        raise QueryParameterError(_in_parameter_order(details))
    return loaded


def _collect_parameters(arguments):
    """Drop empty values and reject repeats of parameters that take one value."""
    raw, details = {}, {}
    for name in QUERY_PARAMETERS:
        given = [value for value in arguments.getlist(name) if value != ""]
        if not given:
            continue

        if name in REPEATABLE_PARAMETERS:
            raw[name] = given
        elif len(given) > 1:
            details[name] = f"given {len(given)} times; give it at most once"
        else:
            raw[name] = given[0]
    return raw, details


# marshmallow's built-in messages, in the words the rest of the service's messages use
_STANDARD_WORDS = {
    "Missing data for required field.": "missing required field",
    "Field may not be null.": "must not be null",
    "Unknown field.": "unknown field",
    "Not a valid list.": "expected a JSON list",
}


def first_message(messages):
    """Return the first message of a marshmallow error's nested messages, in standard words."""
    while isinstance(messages, (list, dict)):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return _STANDARD_WORDS.get(str(messages), str(messages))


def _in_parameter_order(details):
    return {name: details[name] for name in QUERY_PARAMETERS if name in details}


# -- fixture items ---------------------------------------------------------------------------


class ApiKeyFixtureSchema(Schema):
    """An item of a fixture's ``apiKeys`` list."""

    class Meta:
        unknown = RAISE

    key = StrictString(required=True, non_empty=True)
    user_id = StrictString(required=True, non_empty=True, data_key="userId")
    organization_id = StrictString(required=True, non_empty=True, data_key="organizationId")
    permissions = StrictList(StrictString(non_empty=True), load_default=lambda: ["records:read"])
    revoked = StrictBoolean(load_default=False)


class RecordFixtureSchema(Schema):
    """An item of a fixture's ``records`` list; missing timestamps are set by the loader."""

    class Meta:
        unknown = RAISE

    id = StrictString(required=True, non_empty=True)
    name = StrictString(allow_none=True, load_default=None)
    type = StrictString(allow_none=True, load_default=None)
    organization_id = StrictString(required=True, non_empty=True, data_key="organizationId")
    user_id = StrictString(required=True, non_empty=True, data_key="userId")
    metadata = fields.Raw(allow_none=True, load_default=dict)
    created_at = Timestamp(allow_none=True, load_default=None, data_key="createdAt")
    updated_at = Timestamp(allow_none=True, load_default=None, data_key="updatedAt")


class StepResultFixtureSchema(StepResultSchema):
    """An item of a fixture's ``stepResults`` list, or a row of a captured response.

    The loader fills ``userId`` and ``organizationId`` from the row's record when they are
    absent or null, and ``recordName`` when it is absent.
    """

    class Meta:
        unknown = RAISE

    user_id = StrictString(allow_none=True, non_empty=True, data_key="userId")


API_KEY_FIXTURE = ApiKeyFixtureSchema()
RECORD_FIXTURE = RecordFixtureSchema()
STEP_RESULT_FIXTURE = StepResultFixtureSchema()


# -- fast loading of fixture step results ----------------------------------------------------


# marshmallow spends about 70 µs on a step result, far more than storing it. This plan checks
# the same rules in plain Python; it only accepts, and leaves every doubt, and so every error
# message, to marshmallow.
_REJECTED = object()


def _fast_string(field):
    def check(value):
        if not isinstance(value, str) or (field.non_empty and not value):
            return _REJECTED
        return value
    return check


def _fast_choice(field):
    def check(value):
        return value if isinstance(value, str) and value in field.choices else _REJECTED
    return check


def _fast_integer(field):
    def check(value):
        if type(value) is not int or not 0 <= value <= MAX_INTEGER:
            # a subclass of int other than bool is left to marshmallow too
            return _REJECTED
        return value
    return check


def _fast_conversion(convert):
    def build(field):
        def check(value):
            try:
                return convert(value)
            except values.InvalidValue:
                return _REJECTED
        return check
    return build


def _fast_raw(field):
    return lambda value: value


# The form in which the API writes timestamps, in UTC with "Z" and with or without
# milliseconds. C's datetime.fromisoformat parses it about 4 times as fast as
# values.parse_date_time, which parses every other form.
_API_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{3})?Z")


def parse_timestamp_quickly(value):
    """Parse a timestamp into epoch milliseconds as ``values.parse_date_time`` does.

    :raise values.InvalidValue: as ``values.parse_date_time`` raises it.
    """
    if isinstance(value, str) and _API_TIMESTAMP.fullmatch(value):
        try:
            return (datetime.fromisoformat(value) - values.EPOCH) // values.ONE_MS
        except ValueError:
            pass  # not a calendar date, such as year 0000 or February 30: parse_date_time words the error
    return values.parse_date_time(value)


# Exact classes only: a subclass may change what a field accepts.
_FAST_CHECKS = {
    StrictString: _fast_string,
    Choice: _fast_choice,
    StrictInteger: _fast_integer,
    Timestamp: _fast_conversion(parse_timestamp_quickly),
    Cost: _fast_conversion(values.parse_cost),
    fields.Raw: _fast_raw,
}


def _fast_plan(schema):
    """Return ``(name, data key, check, required, allow_none)`` per field of ``schema``, in
    its order, or None when a field or hook is outside what the fast path mirrors."""
    if any(schema._hooks.values()) or schema.unknown != RAISE:
        return None

    plan = []
    for name, field in schema.load_fields.items():
        build = _FAST_CHECKS.get(type(field))
        if build is None or field.validators or field.load_default is not fields.missing_:
            return None
        plan.append((name, field.data_key or name, build(field), field.required, field.allow_none))
    return tuple(plan)


def fast_load(schema, plan, item):
    """Load ``item`` as ``schema.load`` does, or return None when any field might be invalid.

    :param plan: the ``_fast_plan`` of ``schema``; None makes every item go to marshmallow.
    """
    if plan is None:
        return None

    loaded = {}
    given = 0
    for name, key, check, required, allow_none in plan:
        if key not in item:
            if required:
                return None
            continue

        given += 1
        value = item[key]
        if value is None:
            if not allow_none:
                return None
            loaded[name] = None
            continue

        value = check(value)
        if value is _REJECTED:
            return None
        loaded[name] = value

    # every key of the item was a field's, so it has no unknown field
    return loaded if given == len(item) else None


def load_step_result_fixture(item):
    """Load a fixture step result: through the fast path when it accepts, else marshmallow.

    :raise ValidationError: as ``STEP_RESULT_FIXTURE.load`` raises it.
    """
    loaded = fast_load(STEP_RESULT_FIXTURE, _STEP_RESULT_FIXTURE_PLAN, item)
    return loaded if loaded is not None else STEP_RESULT_FIXTURE.load(item)


_STEP_RESULT_FIXTURE_PLAN = _fast_plan(STEP_RESULT_FIXTURE)
