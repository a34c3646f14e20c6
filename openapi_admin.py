"""The admin API's part of the OpenAPI document: the operations under ``/_mock/`` and the
schemas of their bodies.

Request bodies are described by the schemas the admin API loads them with: the fixture item
schemas of ``schemas`` and ``faults.FaultSchema``. The admin API builds its responses as
plain dicts (``faults.to_json``, ``journal.to_json``), so the response schemas below exist
for the document only. They reject unknown fields, so the fuzz tests report a key that the
code adds and the document lacks, and tests compare their fields with real responses.
"""

from marshmallow import RAISE, Schema, fields

import admin
import faults
import schemas

ADMIN_TAG = "mock admin"
ADMIN_SECURITY_SCHEME = "adminToken"

ACCESS_ERRORS = {
    "400": "An unknown or repeated query parameter, or an invalid value.",
    "401": f"The server was started with an admin token, and the {admin.TOKEN_HEADER} header is missing or wrong.",
    "403": (
        "The server has no admin token, and the Host header names another machine or the Origin"
        " header names a web page on another machine."
    ),
}
BODY_ERRORS = {
    **ACCESS_ERRORS,
    "400": "The body is not JSON or is invalid; details names the invalid item or field.",
    "413": "The body is larger than the server's limit (ADMIN_MAX_BODY_BYTES).",
    "415": "The Content-Type is not application/json.",
}


# -- schemas of the document -----------------------------------------------------------------


class FixtureDocumentSchema(Schema):
    """A fixture: any of the lists apiKeys, records and stepResults, or a captured response body."""

    class Meta:
        unknown = RAISE

    api_keys = fields.List(fields.Nested(schemas.ApiKeyFixtureSchema), data_key="apiKeys")
    records = fields.List(fields.Nested(schemas.RecordFixtureSchema))
    step_results = fields.List(fields.Nested(schemas.StepResultFixtureSchema), data_key="stepResults")
    data = fields.List(
        fields.Nested(schemas.StepResultFixtureSchema),
        metadata={"description": "Rows of a captured response; records they name are created when missing."},
    )
    pagination = fields.Dict(metadata={"description": "The captured response's pagination block; ignored."})


class FixtureCountsSchema(Schema):
    """The number of items of each kind that a fixture stored."""

    class Meta:
        unknown = RAISE

    api_keys = fields.Integer(required=True, data_key="apiKeys")
    records = fields.Integer(required=True)
    step_results = fields.Integer(required=True, data_key="stepResults")


class ScheduledFaultSchema(faults.FaultSchema):
    """A scheduled fault: the fault as given, with defaults filled in, its id and uses left."""

    id = fields.Integer(required=True)
    remaining = fields.Integer(required=True)


class FaultListSchema(Schema):
    """The scheduled faults, oldest first."""

    class Meta:
        unknown = RAISE

    faults = fields.List(fields.Nested(ScheduledFaultSchema), required=True)


class JournalEntrySchema(Schema):
    """One API request in the journal, with credentials replaced by a fingerprint."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(required=True)
    time = schemas.Timestamp(required=True)
    method = fields.String(required=True)
    path = fields.String(required=True)
    query = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    query_string = fields.String(required=True, data_key="queryString")
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    status = fields.Integer(required=True)
    duration_ms = fields.Float(required=True, data_key="durationMs")
    fault_id = fields.Integer(required=True, allow_none=True, data_key="faultId")


class JournalSchema(Schema):
    """The journaled API requests, oldest first."""

    class Meta:
        unknown = RAISE

    requests = fields.List(fields.Nested(JournalEntrySchema), required=True)


# -- field converters ------------------------------------------------------------------------


def method_name_properties(field):
    # Methods are accepted in any case, which an enum cannot express, so a pattern lists them.
    alternatives = "|".join(
        "".join(f"[{letter.upper()}{letter.lower()}]" for letter in method) if method != "*" else r"\*"
        for method in faults.METHODS
    )
    return {"pattern": f"^({alternatives})$", "description": f"One of {', '.join(faults.METHODS)}, in any case."}


def header_map_properties(field):
    return {"additionalProperties": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}


# Checked before the converters of openapi.py, because MethodName is a StrictString.
ADMIN_FIELD_CONVERTERS = (
    (faults.MethodName, ("string", None), method_name_properties),
    (faults.HeaderMap, ("object", None), header_map_properties),
)


# -- operations ------------------------------------------------------------------------------


def build_security_scheme():
    return {
        "type": "apiKey",
        "in": "header",
        "name": admin.TOKEN_HEADER,
        "description": (
            "Needed only when the server was started with --admin-token. Without a token, admin"
            " requests must name a loopback host such as 127.0.0.1 and come from no other origin."
        ),
    }


def build_admin_paths(error_responses):
    """Build the path items of the admin API.

    :param error_responses: a function that turns ``{status: description}`` into responses
        with the error schema.
    """
    prefix = admin.ADMIN_PREFIX
    return {
        f"{prefix}/fixtures": {
            "post": operation(
                "loadFixture", "Load a fixture, all or nothing",
                "Upserts by id in one transaction: when any item is invalid, nothing is stored.",
                request_body=FixtureDocumentSchema,
                success=("201", "The counts stored.", FixtureCountsSchema),
                errors=error_responses(BODY_ERRORS),
            ),
        },
        f"{prefix}/reset": {
            "post": operation(
                "resetData", "Delete all data, faults and journal entries",
                "Deletes every API key, record, step result, fault and journal entry in one transaction.",
                parameters=[build_demo_parameter()],
                success=("204", "Deleted, and seeded when demo is true.", None),
                errors=error_responses(ACCESS_ERRORS),
            ),
        },
        f"{prefix}/faults": {
            "post": operation(
                "scheduleFault", "Schedule a fault",
                "The next matching API requests get this status, body and headers, or are delayed, a set"
                " number of times. Give a status, a delayMs above 0, or both.",
                request_body=faults.FaultSchema,
                success=("201", "The scheduled fault.", ScheduledFaultSchema),
                errors=error_responses(BODY_ERRORS),
            ),
            "get": operation(
                "listFaults", "List the scheduled faults", "",
                success=("200", "The scheduled faults.", FaultListSchema),
                errors=error_responses(ACCESS_ERRORS),
            ),
            "delete": operation(
                "clearFaults", "Delete every scheduled fault", "",
                success=("204", "Deleted.", None),
                errors=error_responses(ACCESS_ERRORS),
            ),
        },
        f"{prefix}/faults/{{faultId}}": {
            "delete": operation(
                "deleteFault", "Delete one scheduled fault", "",
                parameters=[build_fault_id_parameter()],
                success=("204", "Deleted.", None),
                errors=error_responses({**ACCESS_ERRORS, "404": "No scheduled fault has this id."}),
            ),
        },
        f"{prefix}/requests": {
            "get": operation(
                "listRequests", "List the journaled API requests",
                "The most recent API requests, oldest first, with credentials replaced by a fingerprint.",
                parameters=build_journal_parameters(),
                success=("200", "The journaled requests.", JournalSchema),
                errors=error_responses(ACCESS_ERRORS),
            ),
            "delete": operation(
                "clearRequests", "Delete every journal entry", "",
                success=("204", "Deleted.", None),
                errors=error_responses(ACCESS_ERRORS),
            ),
        },
    }


def operation(operation_id, summary, description, *, success, errors, parameters=(), request_body=None):
    """Build one admin operation; ``success`` is (status, description, schema or None)."""
    status, success_description, schema = success
    response = {"description": success_description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}

    built = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [ADMIN_TAG],
        # Either no credentials or the admin token, depending on how the server was started.
        "security": [{}, {ADMIN_SECURITY_SCHEME: []}],
        "parameters": list(parameters),
        "responses": {status: response, **errors},
    }
    if description:
        built["description"] = description
    if request_body is not None:
        built["requestBody"] = {"required": True, "content": {"application/json": {"schema": request_body}}}
    return built


def build_demo_parameter():
    return {
        "in": "query",
        "name": "demo",
        "required": False,
        "description": "true (or 1) seeds the demo data set after deleting; any case.",
        "schema": {"type": "boolean", "default": False},
    }


def build_fault_id_parameter():
    # Fault ids are SQLite integers, which are signed 64-bit.
    return {
        "in": "path",
        "name": "faultId",
        "required": True,
        "description": "The id that scheduling the fault returned.",
        "schema": {"type": "integer", "format": "int64", "minimum": 0, "maximum": schemas.MAX_INTEGER},
    }


def build_journal_parameters():
    return [
        {
            "in": "query",
            "name": "path",
            "required": False,
            "allowEmptyValue": True,
            "description": "Only requests to this path: exact, or a glob such as /v1/records/*.",
            "schema": {"type": "string"},
        },
        {
            "in": "query",
            "name": "method",
            "required": False,
            "allowEmptyValue": True,
            "description": "Only requests with this method, in any case.",
            "schema": {"type": "string"},
        },
    ]
