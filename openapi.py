"""Build the OpenAPI 3 document of the mock from the marshmallow schemas that the service runs.

apispec's marshmallow plugin turns each schema into a JSON schema. The converters below
describe this project's own field classes (type, format, allowed values, bounds), so the
document follows the code and no hand-kept copy can drift from it.
"""

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

import demo
import openapi_admin
import schemas

OPENAPI_VERSION = "3.0.3"
TITLE = "Runtype step results mock"
API_VERSION = "v1"
STEP_RESULTS_PATH = "/v1/records/{id}/step-results"
SECURITY_SCHEME = "bearerAuth"
ERROR_COMPONENT = "Error"

# Every timestamp the service writes comes from values.format_timestamp.
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z$"
# Costs come from values.format_cost: plain decimal text, never exponent form.
COST_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

# The official definition, and so runtype-sdk 5.5.0, leaves these response fields optional.
# The mock always sends them, but StepResultSchema also loads fixture rows, which must name
# their record, so the schema itself keeps them required.
OPTIONAL_IN_OFFICIAL_DEFINITION = ("recordId",)

PARAMETER_DESCRIPTIONS = {
    "flowId": "Only step results whose flowId equals this value.",
    "batchId": "Only step results whose batchExecutionId equals this value.",
    "status": (
        "Only step results with one of these statuses, separated by commas."
        " The parameter may also be repeated, and the lists are merged."
    ),
    "from": (
        "Only step results created at or after this instant: an ISO 8601 date-time with Z or"
        " an offset such as +02:00 (no offset means UTC), or a date, which means 00:00:00.000"
        " UTC of that day."
    ),
    "to": (
        "Only step results created at or before this instant, in the same forms as from; a date"
        " means 23:59:59.999 UTC of that day. A from later than to is a 400."
    ),
    "sortBy": (
        "Sort key. Nulls sort last in both directions, and rows with equal keys are ordered by id,"
        " so pages never overlap."
    ),
    "sortOrder": "Sort direction, compared without regard to case (ASC works too).",
    "limit": "Page size, written with the ASCII digits 0-9 only.",
    "offset": "Rows to skip, written with the ASCII digits 0-9 only.",
}

OPERATION_DESCRIPTION = (
    "Returns one page of the step results of a record, with filtering, sorting and pagination."
    " Every query parameter is optional: an empty value such as limit= counts as absent,"
    " unknown parameters are ignored, and a parameter other than status given more than once"
    " is a 400. Checks run in the order 401, 403, 400, 404."
)

ERROR_RESPONSES = {
    "400": "A query parameter is invalid; details maps each invalid parameter to its message.",
    "401": "The Authorization header is missing or malformed, or the API key is unknown or revoked.",
    "403": "The API key lacks the records:read permission.",
    "404": "The key's organization has no record with this id; a record of another organization is reported the same way.",
    "500": "An unexpected failure; the body is only {\"error\": \"Internal server error\"}.",
}


# -- field converters -----------------------------------------------------------------------


def timestamp_properties(field):
    return {
        "pattern": TIMESTAMP_PATTERN,
        "description": "UTC timestamp ending in Z, with milliseconds only when they are not zero.",
    }


def cost_properties(field):
    return {
        "pattern": COST_PATTERN,
        "description": "Decimal text such as \"0.00015\", never a JSON number and never exponent form.",
    }


def strict_integer_properties(field):
    return {"format": "int64", "minimum": 0, "maximum": schemas.MAX_INTEGER}


def strict_string_properties(field):
    return {"minLength": 1} if field.non_empty else {}


def choice_properties(field):
    # A nullable enum lists null among its values, or validators reject the null.
    choices = list(field.choices)
    if field.allow_none:
        choices.append(None)
    return {"enum": choices}


def digits_integer_properties(field):
    return {"minimum": field.minimum, "maximum": field.maximum}


def status_list_properties(field):
    return {"items": {"type": "string", "enum": list(schemas.STEP_STATUSES)}}


def bound_properties(field):
    return {"anyOf": [{"format": "date-time"}, {"format": "date"}]}


# Checked in order with isinstance, so a subclass comes before its base class.
FIELD_CONVERTERS = openapi_admin.ADMIN_FIELD_CONVERTERS + (
    (schemas.Timestamp, ("string", "date-time"), timestamp_properties),
    (schemas.Cost, ("string", None), cost_properties),
    (schemas.StrictInteger, ("integer", None), strict_integer_properties),
    (schemas.Choice, ("string", None), choice_properties),
    (schemas.StrictString, ("string", None), strict_string_properties),
    (schemas.DigitsInteger, ("integer", None), digits_integer_properties),
    (schemas.StatusList, ("array", None), status_list_properties),
    (schemas.Bound, ("string", None), bound_properties),
    (schemas.QueryChoice, ("string", None), choice_properties),
)


def custom_field_properties(converter, field, ret, **kwargs):
    """Add the properties of this project's field classes. apispec calls it for every field.

    Properties that apispec already took from the field's validators, such as the bounds of
    a Range, are more specific than those of the class, so they are kept.
    """
    for field_class, _, properties in FIELD_CONVERTERS:
        if isinstance(field, field_class):
            for name, value in properties(field).items():
                ret.setdefault(name, value)
            break
    return {}


def query_parameter_properties(converter, field, ret, **kwargs):
    """Fit a query field to its parameter. apispec calls it for every query parameter.

    A query value is text and never null: marshmallow makes a field with a load_default of
    None nullable, but an absent parameter simply does not filter, so apispec's
    ``default: null`` and ``nullable`` are dropped. An empty value counts as absent, and
    status is a comma-separated list.
    """
    schema = ret["schema"]
    if schema.get("default", ...) is None:
        del schema["default"]
    schema.pop("nullable", None)

    properties = {"allowEmptyValue": True}
    if isinstance(field, schemas.StatusList):
        properties.update(style="form", explode=False)
    return properties


def configure_marshmallow_plugin(plugin):
    for field_class, openapi_type, _ in FIELD_CONVERTERS:
        plugin.map_to_openapi_type(field_class, *openapi_type)
    plugin.converter.add_attribute_function(custom_field_properties)
    plugin.converter.add_parameter_attribute_function(query_parameter_properties)
    return plugin


# -- the document -----------------------------------------------------------------------------


def build_document(include_admin=True):
    """Build the OpenAPI document as a dict: the step-results endpoint, and the admin API
    under ``/_mock/`` when ``include_admin`` is true.

    :raise ValueError: when ``PARAMETER_DESCRIPTIONS`` names a parameter that the query
        schema does not have, so that a renamed parameter cannot keep a stale description.
    """
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=TITLE, version=API_VERSION, openapi_version=OPENAPI_VERSION, plugins=[plugin], info=build_info()
    )
    configure_marshmallow_plugin(plugin)

    spec.components.security_scheme(SECURITY_SCHEME, build_security_scheme())
    spec.components.schema(ERROR_COMPONENT, schema=schemas.ErrorSchema)
    spec.components.schema("StepResult", schema=schemas.StepResultSchema)
    spec.components.schema("StepResultPage", schema=schemas.StepResultPageSchema)
    mark_official_optional_fields(spec.components.schemas["StepResult"])

    spec.path(path=STEP_RESULTS_PATH, operations={"get": build_step_results_operation(plugin)})

    if include_admin:
        spec.components.security_scheme(openapi_admin.ADMIN_SECURITY_SCHEME, openapi_admin.build_security_scheme())
        for path, operations in openapi_admin.build_admin_paths(build_error_responses).items():
            spec.path(path=path, operations=operations)
    return spec.to_dict()


def build_info():
    return {
        "description": (
            "A local, stateful stand-in for the Runtype API's step-results endpoint. This document"
            " is generated from the same marshmallow schemas that the service uses. Only the mock"
            " has the admin API under /_mock/, and it answers a step-results request that carries"
            " a Prefer header such as `code=503, delay=250` or a `__code` query parameter with that"
            " status or delay instead."
        ),
    }


def build_security_scheme():
    return {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An API key sent as `Authorization: Bearer <API key>`. The scheme word is case-insensitive,"
            " and a bare `Authorization: <API key>` is accepted too. When the server holds the demo"
            f" data set, the demo key `{demo.DEMO_API_KEY}` reads every record of organization"
            f" {demo.DEMO_ORGANIZATION_ID}, for example `{demo.DOCUMENTED_RECORD_ID}`."
        ),
    }


def mark_official_optional_fields(component):
    component["required"] = [name for name in component["required"] if name not in OPTIONAL_IN_OFFICIAL_DEFINITION]


def build_step_results_operation(plugin):
    responses = build_error_responses(ERROR_RESPONSES)
    responses["401"]["headers"] = {
        "WWW-Authenticate": {"description": "The Bearer challenge.", "schema": {"type": "string"}}
    }
    return {
        "operationId": "getRecordStepResults",
        "summary": "Get unified step results for a specific record with filtering and pagination",
        "description": OPERATION_DESCRIPTION,
        "tags": ["records"],
        "security": [{SECURITY_SCHEME: []}],
        "parameters": [build_record_id_parameter(), *build_query_parameters(plugin)],
        "responses": {
            "200": {
                "description": "One page of step results, newest first unless sorted otherwise.",
                "content": {"application/json": {"schema": schemas.StepResultPageSchema}},
            },
            **responses,
        },
    }


def build_record_id_parameter():
    return {
        "in": "path",
        "name": "id",
        "required": True,
        "description": "The record's id: any string, percent-encoded in the path.",
        "schema": {"type": "string"},
        "example": demo.DOCUMENTED_RECORD_ID,
    }


def build_query_parameters(plugin):
    parameters = plugin.converter.schema2parameters(schemas.StepResultQuerySchema, location="query")

    described = {parameter["name"] for parameter in parameters}
    stale = sorted(set(PARAMETER_DESCRIPTIONS) - described)
    if stale:
        raise ValueError(f"PARAMETER_DESCRIPTIONS names parameters the query schema lacks: {', '.join(stale)}")

    for parameter in parameters:
        parameter["description"] = PARAMETER_DESCRIPTIONS.get(parameter["name"], "")
    return parameters


def build_error_responses(descriptions):
    """Build responses with the error schema from ``{status: description}``."""
    return {
        status: {"description": description, "content": {"application/json": {"schema": schemas.ErrorSchema}}}
        for status, description in descriptions.items()
    }
