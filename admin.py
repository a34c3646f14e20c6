"""The admin API under ``/_mock/`` and the fault and journal hooks of the API routes.

Test suites use the admin API to load fixtures, reset the data, schedule faults and read
the request journal. ``init_app`` wires both parts into an app built by ``create_app``.

Safety: without an admin token, admin requests must name a loopback host and, when a
browser sends them, come from a loopback origin, so a web page elsewhere cannot reset the
data. The command line refuses to listen on another address without a token.
"""

import hmac
import ipaddress
import json
import logging
import re
import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import demo
import faults
import fixtures
import journal
import models

logger = logging.getLogger("runtype_mock")

API_PREFIX = "/v1/"
ADMIN_PREFIX = "/_mock"
TOKEN_HEADER = "X-Mock-Admin-Token"
# Fixture bodies larger than this are better loaded with ``python service.py load FILE``.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}
# A fixture error message starts with the item and field, e.g. "stepResults[3].status: ...".
_LOCATED_MESSAGE = re.compile(r"(?P<location>[^\s:]+): (?P<problem>.+)", re.DOTALL)

blueprint = Blueprint("mock_admin", __name__, url_prefix=ADMIN_PREFIX)


def init_app(app):
    """Create the fault and journal tables, hook the API routes and mount the admin API.

    Settings:

    - ``ADMIN_ENABLED`` (default True) mounts the admin API.
    - ``ADMIN_TOKEN``, when set, is required in the ``X-Mock-Admin-Token`` header.
    - ``JOURNAL_SIZE`` (default 1000, 0 turns the journal off) bounds the journal.
    - ``ADMIN_MAX_BODY_BYTES`` bounds admin request bodies.
    """
    app.config.setdefault("ADMIN_ENABLED", True)
    app.config.setdefault("ADMIN_TOKEN", None)
    app.config.setdefault("JOURNAL_SIZE", journal.DEFAULT_JOURNAL_SIZE)
    app.config.setdefault("ADMIN_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)

    create_tables()

    app.before_request(apply_overrides_and_faults)
    app.after_request(record_in_journal)
    if app.config["ADMIN_ENABLED"]:
        app.register_blueprint(blueprint)


# -- data operations shared with the command line --------------------------------------------


def create_tables():
    """Create the fault and journal tables when missing, in the database's state file.

    NOTE: these tables are outside the schema versioning of ``models`` because they contain
    only short-lived state. A change to their columns should drop and recreate them.
    """
    with models.state_database.connection_context():
        models.state_database.create_tables([faults.Fault, journal.JournalEntry])


def reset_data(*, seed_demo=False):
    """Delete every API key, record, step result, fault and journal entry in one transaction.

    :param seed_demo: load the demo data set afterwards, in the same transaction.
    """
    with models.database.atomic():
        models.StepResult.delete().execute()
        models.Record.delete().execute()
        models.ApiKey.delete().execute()
        if seed_demo:
            fixtures.load_fixture(demo.build_demo_fixture())

    faults.clear()
    journal.clear()


def load_documents(documents, names=None):
    """Load fixture documents in one transaction, so that one invalid item stores nothing.

    :param names: a name for each document, such as its file path, put in front of errors.
    :return: the total counts stored, as ``{"apiKeys": n, "records": n, "stepResults": n}``.
    :raise fixtures.FixtureError: naming the first invalid item and field.
    """
    totals = {section: 0 for section in fixtures.SECTIONS}
    with models.database.atomic():
        for index, document in enumerate(documents):
            try:
                counts = fixtures.load_fixture(document)
            except fixtures.FixtureError as error:
                if names is None:
                    raise
                raise fixtures.FixtureError(f"{names[index]}: {error}") from None
            for section, count in counts.items():
                totals[section] += count
    return totals


# -- hooks of the API routes -----------------------------------------------------------------


def is_api_request():
    return request.path.startswith(API_PREFIX)


def apply_overrides_and_faults():
    """Return a forced error response, or delay the request, as its Prefer header, ``__code`` or a fault requests.

    Runs before the endpoint. A forced status from the request itself wins and leaves the
    scheduled faults untouched. Otherwise the first matching fault is used up.
    """
    if not is_api_request():
        return None
    g.mock_arrived = time.time()
    g.mock_started = time.perf_counter()
    g.mock_fault_id = None
    g.mock_applied = []

    try:
        overrides = faults.parse_overrides(request.headers.getlist("Prefer"), request.args.get("__code"))
    except faults.OverrideError as error:
        return json_error(400, str(error))

    if overrides.delay_ms:
        g.mock_applied.append(f"delay={overrides.delay_ms}")
        time.sleep(overrides.delay_ms / 1000)
    if overrides.code is not None:
        g.mock_applied.append(f"code={overrides.code}")
        if overrides.code == 200:
            return None
        return _forced_error(overrides.code, f"forced by the {overrides.code_source}")

    fault = faults.take(request.method, request.path)
    if fault is None:
        return None
    g.mock_fault_id = fault.id
    logger.info("Fault %d applied to %s %s", fault.id, request.method, request.path)
    if fault.delay_ms:
        time.sleep(fault.delay_ms / 1000)
    if fault.status is None:
        return None
    return _fault_response(fault)


def _forced_error(status, reason):
    headers = {"WWW-Authenticate": 'Bearer realm="runtype-mock"'} if status == 401 else None
    return json_error(status, faults.error_message(status, reason), headers=headers)


def _fault_response(fault):
    if fault.body is None:
        response = _forced_error(fault.status, f"scheduled fault {fault.id}")
    elif isinstance(fault.body, str):
        response = current_app.response_class(fault.body, status=fault.status, mimetype="text/plain")
    else:
        response = jsonify(fault.body)
        response.status_code = fault.status
    response.headers.update(fault.headers)
    return response


def record_in_journal(response):
    """Write an API request to the journal and mark the preferences that were applied."""
    if not is_api_request() or "mock_started" not in g:
        return response

    if g.mock_applied:
        response.headers["Preference-Applied"] = ", ".join(g.mock_applied)
    journal.record(
        method=request.method,
        path=request.path,
        query_string=request.query_string.decode("utf-8", "replace"),
        headers=list(request.headers.items()),
        status=response.status_code,
        started_at=g.mock_arrived,
        duration_ms=(time.perf_counter() - g.mock_started) * 1000,
        fault_id=g.mock_fault_id,
        size=current_app.config["JOURNAL_SIZE"],
    )
    return response


# -- errors ----------------------------------------------------------------------------------


class AdminError(HTTPException):
    """An admin API error, sent as ``{"error": ..., "details": ...}`` like the API's errors."""

    def __init__(self, status, message, *, details=None, headers=None):
        super().__init__(description=message)
        self.code = status
        self.status = status
        self.details = details
        self.extra_headers = headers or {}


def json_error(status, message, *, details=None, headers=None):
    """Return a JSON error response shaped like the API's."""
    body = {"error": message}
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


@blueprint.errorhandler(AdminError)
def handle_admin_error(error):
    return json_error(error.status, error.description, details=error.details, headers=error.extra_headers)


# -- access control --------------------------------------------------------------------------


@blueprint.before_request
def check_access():
    """Require the admin token when one is set, or else a loopback host and origin.

    :raise 401: when a token is set and the request lacks it or sends another.
    :raise 403: without a token, when the Host or Origin header names another machine.
    """
    token = current_app.config["ADMIN_TOKEN"]
    if token:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            reason = "Missing" if not given else "Invalid"
            logger.warning("Rejected an admin request to %s: %s admin token", request.path, reason.lower())
            raise AdminError(
                401, f"{reason} {TOKEN_HEADER} header; send the token this server was started with (--admin-token)"
            )
        return

    if not is_loopback_name(_host_name(request.host)):
        raise AdminError(
            403,
            f"Admin requests without a token must name a loopback host such as 127.0.0.1 or localhost,"
            f" got Host {request.host!r}; start the server with --admin-token to allow other names",
        )
    origin = request.headers.get("Origin")
    if origin is not None and not is_loopback_name(urlsplit(origin).hostname or ""):
        logger.warning("Rejected an admin request to %s from origin %r", request.path, origin)
        raise AdminError(403, f"Admin requests are not accepted from the web page origin {origin!r}")


def is_loopback_name(host):
    """Return True for ``localhost`` and addresses of the loopback ranges 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host):
    """Strip the port from a Host header value, keeping IPv6 brackets out."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# -- request bodies and arguments ------------------------------------------------------------


def read_json_body():
    """Return the parsed JSON body of an admin request.

    :raise 415: when the Content-Type is not JSON.
    :raise 413: when the body is larger than ``ADMIN_MAX_BODY_BYTES``.
    :raise 400: when the body is not UTF-8 JSON.
    """
    if not request.is_json:
        raise AdminError(
            415, f"Expected Content-Type: application/json, got {request.content_type or 'none'}"
        )

    limit = current_app.config["ADMIN_MAX_BODY_BYTES"]
    # Werkzeug 3.1 cuts a chunked body without Content-Length at the limit instead of
    # rejecting it, so one byte more is read to tell a body over the limit.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        data = None
    if data is None or len(data) > limit:
        raise AdminError(
            413,
            f"Request body too large: the limit is {limit} bytes; load larger fixture files with"
            " 'python service.py load FILE --db DATABASE'",
        )

    try:
        return fixtures.parse_json(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise AdminError(400, "Malformed JSON body: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise AdminError(
            400, f"Malformed JSON body at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except fixtures.FixtureError as error:
        # NaN, Infinity, an integer of over 4,300 digits or nesting too deep to parse
        raise AdminError(400, f"Malformed JSON body: {error}") from None


def read_arguments(accepted):
    """Return the query parameters of an admin request, rejecting unknown or repeated ones.

    :raise 400: naming the parameter.
    """
    arguments = {}
    for name in request.args:
        given = request.args.getlist(name)
        if name not in accepted:
            raise AdminError(
                400, f"Unknown query parameter {name!r}; accepted: {', '.join(accepted) or 'none'}",
                details={name: "unknown parameter"},
            )
        if len(given) > 1:
            raise AdminError(
                400, f"Query parameter {name!r} given {len(given)} times; give it at most once",
                details={name: "repeated"},
            )
        arguments[name] = given[0]
    return arguments


def read_boolean(arguments, name):
    value = arguments.get(name, "false")
    if value.lower() not in BOOLEAN_WORDS:
        raise AdminError(
            400, f"Invalid query parameter {name!r}: expected true or false, got {value!r}",
            details={name: "expected true or false"},
        )
    return BOOLEAN_WORDS[value.lower()]


# -- routes ----------------------------------------------------------------------------------


@blueprint.post("/fixtures")
def load_fixture():
    """Load a fixture document, all or nothing, and return the counts stored.

    :raise 400: naming the invalid item and field; nothing is stored then.
    """
    read_arguments(())
    document = read_json_body()
    try:
        counts = load_documents([document])
    except fixtures.FixtureError as error:
        logger.info("Admin fixture rejected: %s", error)
        raise AdminError(400, f"Invalid fixture: {error}", details=_fixture_details(str(error))) from None

    logger.info("Admin fixture loaded: %s", counts)
    return jsonify(counts), 201


def _fixture_details(message):
    match = _LOCATED_MESSAGE.fullmatch(message)
    return {match["location"]: match["problem"]} if match else None


@blueprint.post("/reset")
def reset():
    """Delete all data, faults and journal entries; ``?demo=true`` reseeds the demo data set."""
    seed_demo = read_boolean(read_arguments(("demo",)), "demo")
    reset_data(seed_demo=seed_demo)
    logger.info("Admin reset%s", " with the demo data set" if seed_demo else "")
    return "", 204


@blueprint.post("/faults")
def schedule_fault():
    """Schedule a fault and return it with its id.

    :raise 400: naming each invalid field of the fault.
    """
    read_arguments(())
    try:
        fault = faults.validate_fault(read_json_body())
    except faults.FaultError as error:
        raise AdminError(400, error.message, details=error.details) from None

    stored = faults.schedule(fault, int(time.time() * 1000))
    logger.info(
        "Fault %d scheduled: %s %s -> %s, %d times, %d ms delay",
        stored.id, stored.method, stored.path, stored.status, stored.times, stored.delay_ms,
    )
    return jsonify(faults.to_json(stored)), 201


@blueprint.get("/faults")
def list_faults():
    read_arguments(())
    return jsonify(faults=[faults.to_json(fault) for fault in faults.list_faults()])


@blueprint.delete("/faults")
def clear_faults():
    read_arguments(())
    faults.clear()
    return "", 204


@blueprint.delete("/faults/<int:fault_id>")
def delete_fault(fault_id):
    """Delete one fault.

    :raise 404: when no scheduled fault has that id.
    """
    read_arguments(())
    # ids beyond SQLite's 64-bit integers match nothing, and the driver would raise on them
    if fault_id > faults.MAX_FAULT_ID or not faults.delete_fault(fault_id):
        raise AdminError(404, f"No scheduled fault with id {fault_id}; GET /_mock/faults lists them")
    return "", 204


@blueprint.get("/requests")
def list_requests():
    """Return the journal, oldest first, filtered by ``path`` (exact or glob) and ``method``."""
    arguments = read_arguments(("path", "method"))
    method = arguments.get("method")
    entries = journal.list_entries(path=arguments.get("path") or None, method=method.upper() if method else None)
    return jsonify(requests=entries)


@blueprint.delete("/requests")
def clear_requests():
    read_arguments(())
    journal.clear()
    return "", 204
